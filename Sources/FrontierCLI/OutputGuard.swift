import Foundation

/// Keeps a command from writing over what it reads: an output path that is an input, lies inside one, or
/// holds one is refused before anything is written.
enum OutputGuard {
  /// The absolute, symlink-resolved form of `path` (it need not exist).
  static func resolved(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
  }

  /// Throws one line naming the command, the output and the input it would overwrite, when `output` is one
  /// of `inputs`, lies inside one of them, or contains one.
  static func refuseOverlap(command: String, output: String, option: String, inputs: [(option: String, path: String)])
    throws
  {
    let target = resolved(output)
    for input in inputs {
      let source = resolved(input.path)
      if source == target || target.hasPrefix(source + "/") || source.hasPrefix(target + "/") {
        throw CLIError(
          "\(command): \(option) \(output) would overwrite \(input.option) \(input.path), which it reads; "
            + "choose another \(option)")
      }
    }
  }
}

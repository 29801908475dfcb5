import Foundation

/// Keeps a command from writing over what it reads: an output path that is an input, lies inside one, or
/// holds one is refused before anything is written.
enum OutputGuard {
  /// The absolute, symlink-resolved form of `path` (it need not exist).
  static func resolved(_ path: String) -> String {
    URL(fileURLWithPath: path).standardizedFileURL.resolvingSymlinksInPath().path
  }

  /// Throws one line naming the output and the input it would overwrite, when `output` is one
  /// of `inputs`, lies inside one of them, or contains one.
  static func refuseOverlap(output: String, option: String, inputs: [(option: String, path: String)])
    throws
  {
    let target = resolved(output)
    for input in inputs {
      let source = resolved(input.path)
      if source == target || target.hasPrefix(source + "/") || source.hasPrefix(target + "/") {
        throw CLIError(
          "\(option) \(output) would overwrite \(input.option) \(input.path), which it reads; "
            + "choose another \(option)")
      }
    }
  }

  /// Throws one line when `output` names an existing regular file (or anything but a folder): a command
  /// that writes a folder there would otherwise fail with the file system's raw error.
  static func requireFolder(output: String, option: String) throws {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: output, isDirectory: &isDirectory), !isDirectory.boolValue else {
      return
    }
    throw CLIError(
      "\(option) \(output) is an existing file, not a folder; choose a folder path for \(option)")
  }

  /// Throws one line unless a file can be written at `output`: its folder exists and is writable, and
  /// `output` itself is not a folder. Checked before long work, so that it does not fail at the end.
  static func requireWritableFile(output: String, option: String) throws {
    let manager = FileManager.default
    var isDirectory: ObjCBool = false
    if manager.fileExists(atPath: output, isDirectory: &isDirectory), isDirectory.boolValue {
      throw CLIError("\(option) \(output) is a folder; pass a file path such as \(output)/tokenizer.json")
    }
    let folder = URL(fileURLWithPath: output).deletingLastPathComponent().path
    guard manager.fileExists(atPath: folder, isDirectory: &isDirectory), isDirectory.boolValue else {
      throw CLIError("\(option) \(output): the folder \(folder) does not exist; create it first")
    }
    guard manager.isWritableFile(atPath: folder) else {
      throw CLIError("\(option) \(output): the folder \(folder) is not writable; choose another path")
    }
  }
}

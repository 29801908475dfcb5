import Foundation

/// Where Frontier looks for data: `FRONTIER_DATA`, then `../shared/data`, then `~/.cache/frontier`.
enum DataLocation {
  static var candidates: [String] {
    var list: [String] = []
    if let env = ProcessInfo.processInfo.environment["FRONTIER_DATA"], !env.isEmpty { list.append(env) }
    let cwd = FileManager.default.currentDirectoryPath
    list.append(URL(fileURLWithPath: cwd).deletingLastPathComponent().appendingPathComponent("shared/data").path)
    let exe = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath()
    // .build/release/frontier -> repository root is three levels up.
    let root = exe.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    list.append(root.deletingLastPathComponent().appendingPathComponent("shared/data").path)
    list.append(FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/frontier").path)
    return list
  }

  /// The first existing file at `relative` under a data folder, or an error naming where to put it.
  static func file(_ relative: String) throws -> String {
    for dir in candidates {
      let p = (dir as NSString).appendingPathComponent(relative)
      if FileManager.default.fileExists(atPath: p) { return p }
    }
    throw DataError(
      message: "data file \(relative) not found; put it under $FRONTIER_DATA, ../shared/data or ~/.cache/frontier")
  }
}

/// A missing or unusable data file.
struct DataError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// Progress reporting: an updating line on a terminal, plain lines otherwise.
struct ProgressLine {
  let isTerminal = isatty(STDERR_FILENO) != 0

  func update(_ text: String, final: Bool = false) {
    if isTerminal {
      FileHandle.standardError.write("\r\u{1B}[K\(text)\(final ? "\n" : "")".data(using: .utf8)!)
    } else {
      FileHandle.standardError.write("\(text)\n".data(using: .utf8)!)
    }
  }
}

import Data
import Foundation

// Data folders, downloads and their errors live in the Data target (`DataLocation`, `DataCatalog`,
// `DataError`); this file keeps the CLI's small conveniences.

extension DataError {
  /// An error whose message already says what to do.
  init(message: String) {
    self.init(path: "", problem: message, remedy: "")
  }
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

/// A path as given when it exists, else the same relative path under a data folder.
func resolveDataPath(_ path: String) throws -> String {
  FileManager.default.fileExists(atPath: path) ? path : try DataLocation.file(path)
}

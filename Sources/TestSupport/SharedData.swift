import Foundation

/// Locates the shared data and reference folders that tests read by path.
public enum SharedData {
  /// `../shared` beside the repository, found from this source file's location.
  public static var sharedDirectory: URL {
    URL(fileURLWithPath: #filePath)
      .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
      .deletingLastPathComponent().appendingPathComponent("shared")
  }

  /// The data folder: `FRONTIER_DATA` when set, else `../shared/data`.
  public static var dataDirectory: URL {
    if let env = ProcessInfo.processInfo.environment["FRONTIER_DATA"], !env.isEmpty {
      return URL(fileURLWithPath: env)
    }
    return sharedDirectory.appendingPathComponent("data")
  }

  /// The reference-output folder `../shared/reference`.
  public static var referenceDirectory: URL { sharedDirectory.appendingPathComponent("reference") }

  /// The path of a file under the reference folder, or nil (with the reason printed) when absent.
  public static func reference(_ relative: String) -> String? {
    existing(referenceDirectory.appendingPathComponent(relative).path)
  }

  /// The path of a file under the data folder, or nil (with the reason printed) when absent.
  public static func data(_ relative: String) -> String? {
    existing(dataDirectory.appendingPathComponent(relative).path)
  }

  private static func existing(_ path: String) -> String? {
    if FileManager.default.fileExists(atPath: path) { return path }
    print("skipping: \(path) is absent (set FRONTIER_DATA or place ../shared beside the repository)")
    return nil
  }
}

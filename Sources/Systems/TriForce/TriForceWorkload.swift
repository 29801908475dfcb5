import Data
import Foundation

/// Where TriForce's models and prompts come from by default.
public enum TriForceWorkload {
  /// `~/.cache/frontier`.
  public static var cacheFolder: String {
    (NSHomeDirectory() as NSString).appendingPathComponent(".cache/frontier")
  }

  /// The long-context target inside the `triforce-models` reproduction's cache: the base model fine-tuned on
  /// 8192-token windows with RoPE base 500000.
  public static let targetFolder = "target-8k/model"
  /// The draft inside the `triforce-models` reproduction's cache.
  public static let draftFolder = "draft-run/model"

  /// The `triforce-models` reproduction's cache folder (full run), `~/.cache/frontier/triforce`.
  public static var modelsFolder: String { (cacheFolder as NSString).appendingPathComponent("triforce") }

  /// The target of `frontier bench triforce` when none is named: the long-context target, else the base model.
  public static var defaultTarget: String? {
    [
      (modelsFolder as NSString).appendingPathComponent(targetFolder),
      (cacheFolder as NSString).appendingPathComponent("base-model/run/model"),
    ].first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("config.json")) }
  }

  /// The draft of `frontier bench triforce` when none is named.
  public static var defaultDraft: String? {
    let path = (modelsFolder as NSString).appendingPathComponent(draftFolder)
    return FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
      ? path : nil
  }

  /// The base model's tokenizer.
  public static var defaultTokenizer: String {
    (cacheFolder as NSString).appendingPathComponent("base-model/tokenizer.json")
  }

  /// The held-out Gutenberg books of `dataFolder` (``Data/CorpusSplit/heldOutBookNames``): no model that
  /// TriForce runs was trained on them.
  public static func books(in dataFolder: String) throws -> [String] {
    do {
      return try CorpusSplit.heldOutBooks(in: dataFolder)
    } catch {
      throw TriForceError("\(error); set FRONTIER_DATA to the shared data folder")
    }
  }

  /// `count` tokens of held-out text for prompt `index`: book `index % books`, from passage `index / books`
  /// (passages start `4 · count` characters apart, so the prompts of one book do not overlap at about 3.5
  /// characters per token), running on into the other held-out books when the rest of the book is too short.
  public static func prompt(
    tokens count: Int, book index: Int = 0, dataFolder: String, encode: (String) -> [Int]
  ) throws -> [Int] {
    let paths = try books(in: dataFolder)
    guard !paths.isEmpty, index >= 0 else { throw TriForceError("no held-out Gutenberg book under \(dataFolder)") }
    var ids: [Int] = []
    for step in 0..<paths.count where ids.count < count {
      let path = paths[(index + step) % paths.count]
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw TriForceError("\(path): cannot read the book as UTF-8 text")
      }
      let start = step == 0 ? min(text.count, index / paths.count * 4 * count) : 0
      // Tokenize about 6 characters per wanted token, not the whole book.
      let needed = (count - ids.count) * 6 + 1000
      ids += encode(String(text.dropFirst(start).prefix(needed)))
    }
    guard ids.count >= count else {
      throw TriForceError("the held-out books hold fewer than \(count) tokens from prompt \(index)'s passage on")
    }
    return Array(ids.prefix(count))
  }
}

import Foundation

/// Where TriForce's models and prompts come from by default.
public enum TriForceWorkload {
  /// `~/.cache/frontier`.
  public static var cacheFolder: String {
    (NSHomeDirectory() as NSString).appendingPathComponent(".cache/frontier")
  }

  /// The target: the base model fine-tuned for long prompts (`triforce/target-8k/model`, trained on
  /// 8192-token windows, else `triforce/target-long/model`, 2048; see the TriForce README), else the base model (`base-model/run/model`, else the shorter `base-model/run-short/model`).
  public static var defaultTarget: String? {
    ["triforce/target-8k/model", "triforce/target-long/model", "base-model/run/model", "base-model/run-short/model"].map
    {
      (cacheFolder as NSString).appendingPathComponent($0)
    }
    .first { FileManager.default.fileExists(atPath: ($0 as NSString).appendingPathComponent("config.json")) }
  }

  /// The draft trained for TriForce (`triforce/draft-run/model`).
  public static var defaultDraft: String? {
    let path = (cacheFolder as NSString).appendingPathComponent("triforce/draft-run/model")
    return FileManager.default.fileExists(atPath: (path as NSString).appendingPathComponent("config.json"))
      ? path : nil
  }

  /// The base model's tokenizer.
  public static var defaultTokenizer: String {
    (cacheFolder as NSString).appendingPathComponent("base-model/tokenizer.json")
  }

  /// The Gutenberg books of `dataFolder/books_gutenberg_nltk`, sorted by name.
  public static func books(in dataFolder: String) throws -> [String] {
    let folder = (dataFolder as NSString).appendingPathComponent("books_gutenberg_nltk")
    guard let names = try? FileManager.default.contentsOfDirectory(atPath: folder) else {
      throw TriForceError("\(folder): the Gutenberg books are missing; set FRONTIER_DATA to the shared data folder")
    }
    return names.filter { $0.hasSuffix(".txt") }.sorted().map { (folder as NSString).appendingPathComponent($0) }
  }

  /// The first `count` tokens of book `index` (books concatenated from there on if one is too short).
  public static func prompt(
    tokens count: Int, book index: Int = 0, dataFolder: String, encode: (String) -> [Int]
  ) throws -> [Int] {
    let paths = try books(in: dataFolder)
    guard !paths.isEmpty else { throw TriForceError("no Gutenberg book found under \(dataFolder)") }
    var ids: [Int] = []
    var i = index
    while ids.count < count && i < index + paths.count {
      let path = paths[i % paths.count]
      guard let text = try? String(contentsOfFile: path, encoding: .utf8) else {
        throw TriForceError("\(path): cannot read the book as UTF-8 text")
      }
      // Tokenize about 6 characters per wanted token, not the whole book.
      let needed = (count - ids.count) * 6 + 1000
      ids += encode(String(text.prefix(needed)))
      i += 1
    }
    guard ids.count >= count else { throw TriForceError("the books hold fewer than \(count) tokens") }
    return Array(ids.prefix(count))
  }
}

import Foundation

/// The English corpus of the data folder split by document, once for every system: the base model, the
/// TriForce draft and long-context target and every LoRA tuning train on ``trainingFiles(in:)`` only, and
/// evaluations read ``heldOutBooks(in:)`` and the held-out TinyStories slice.
///
/// Held out: two whole Gutenberg books (``heldOutBookNames``) and the last ``heldOutStoryCount`` stories of
/// the TinyStories file (whole stories, blank-line separated). Everything else (the other eight books,
/// tiny-shakespeare, the first stories and the TinyStories sample) is training text.
public enum CorpusSplit {
  /// A version tag stored beside every cache built on the split; changing the split changes it.
  public static let version = "books-persuasion-thursday+stories-last-72"
  /// The two Gutenberg books no model trains on.
  public static let heldOutBookNames = ["austen-persuasion.txt", "chesterton-thursday.txt"]
  /// Stories at the end of the TinyStories file that no model trains on (of 714: about 10%).
  public static let heldOutStoryCount = 72
  /// The TinyStories file whose last stories are held out, under the data folder.
  public static let storiesFile = "tinystories/tinystories_val_prefix.yuninxia.txt"

  /// The split materialised in a folder: training text files and held-out text files.
  public struct Files: Sendable, Equatable {
    /// Files to train on, in a fixed order.
    public var training: [String]
    /// The held-out Gutenberg books (whole files of the data folder).
    public var heldOutBooks: [String]
    /// The held-out TinyStories slice (a file in the split's folder).
    public var heldOutStories: String
    /// The split's files.
    public init(training: [String], heldOutBooks: [String], heldOutStories: String) {
      (self.training, self.heldOutBooks, self.heldOutStories) = (training, heldOutBooks, heldOutStories)
    }
    /// Every held-out file: books, then stories.
    public var heldOut: [String] { heldOutBooks + [heldOutStories] }
  }

  /// The held-out books, as paths in the data folder.
  public static func heldOutBooks(in dataFolder: String) throws -> [String] {
    let folder = (dataFolder as NSString).appendingPathComponent("books_gutenberg_nltk")
    return try heldOutBookNames.map { name in
      let path = (folder as NSString).appendingPathComponent(name)
      guard FileManager.default.fileExists(atPath: path) else {
        throw DataError(
          path: path, problem: "the held-out book is missing",
          remedy: "restore books_gutenberg_nltk/ in the data folder (see ../shared/data/README.md)")
      }
      return path
    }
  }

  /// The stories of `text` (blank-line separated, trimmed, empty ones dropped).
  static func stories(_ text: String) -> [String] {
    text.replacingOccurrences(of: "\r\n", with: "\n").components(separatedBy: "\n\n")
      .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
      .filter { !$0.isEmpty }
  }

  /// Splits the TinyStories file of `dataFolder` into `folder` (`tinystories-train.txt`,
  /// `tinystories-heldout.txt`, written atomically) and returns the training and held-out files. The
  /// training list is the data folder's tinystories, tinyshakespeare and books_gutenberg_nltk text files
  /// with the held-out books left out and the TinyStories file replaced by its training part.
  public static func materialize(dataFolder: String, into folder: String) throws -> Files {
    let storiesPath = (dataFolder as NSString).appendingPathComponent(storiesFile)
    guard let data = FileManager.default.contents(atPath: storiesPath) else {
      throw DataError(
        path: storiesPath, problem: "cannot read the TinyStories file",
        remedy: "restore tinystories/ in the data folder (see ../shared/data/README.md)")
    }
    let all = stories(String(decoding: data, as: UTF8.self))
    guard all.count > 2 * heldOutStoryCount else {
      throw DataError(
        path: storiesPath, problem: "holds \(all.count) stories, too few to hold out the last \(heldOutStoryCount)",
        remedy: "restore the original file (714 stories)")
    }
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    let trainStories = (folder as NSString).appendingPathComponent("tinystories-train.txt")
    let heldStories = (folder as NSString).appendingPathComponent("tinystories-heldout.txt")
    let cut = all.count - heldOutStoryCount
    try AtomicFile.write(Array((all[..<cut].joined(separator: "\n\n") + "\n").utf8), to: trainStories)
    try AtomicFile.write(Array((all[cut...].joined(separator: "\n\n") + "\n").utf8), to: heldStories)

    let books = try heldOutBooks(in: dataFolder)
    var training: [String] = []
    for group in ["tinystories", "tinyshakespeare", "books_gutenberg_nltk"] {
      let directory = (dataFolder as NSString).appendingPathComponent(group)
      guard let names = try? FileManager.default.contentsOfDirectory(atPath: directory) else {
        throw DataError(
          path: directory, problem: "the corpus folder is missing",
          remedy: "see ../shared/data/README.md; set FRONTIER_DATA or run `frontier fetch`")
      }
      for name in names.filter({ $0.hasSuffix(".txt") }).sorted() {
        let path = (directory as NSString).appendingPathComponent(name)
        if path == storiesPath {
          training.append(trainStories)
        } else if !books.contains(path) {
          training.append(path)
        }
      }
    }
    return Files(training: training, heldOutBooks: books, heldOutStories: heldStories)
  }
}

import Foundation
import Testing

@testable import Data

@Suite struct CorpusSplitTests {
  /// A data folder with the corpus layout: 200 numbered stories, tiny-shakespeare and three books.
  func makeDataFolder() throws -> String {
    let root = try temporaryDirectory("corpus")
    let manager = FileManager.default
    for group in ["tinystories", "tinyshakespeare", "books_gutenberg_nltk"] {
      try manager.createDirectory(atPath: root + "/" + group, withIntermediateDirectories: true)
    }
    let stories = (0..<200).map { "Story \($0) begins.\nStory \($0) ends." }
    try stories.joined(separator: "\n\n").write(
      toFile: root + "/" + CorpusSplit.storiesFile, atomically: true, encoding: .utf8)
    try "A small sample story.".write(
      toFile: root + "/tinystories/tinystories_sample.cs336.txt", atomically: true, encoding: .utf8)
    try "ROMEO: hello".write(toFile: root + "/tinyshakespeare/input.txt", atomically: true, encoding: .utf8)
    for name in CorpusSplit.heldOutBookNames + ["melville-moby_dick.txt"] {
      try "The text of \(name).".write(
        toFile: root + "/books_gutenberg_nltk/" + name, atomically: true, encoding: .utf8)
    }
    return root
  }

  @Test func heldOutBooksAndLastStoriesNeverReachTraining() throws {
    let root = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: root) }
    let files = try CorpusSplit.materialize(dataFolder: root, into: root + "/split")
    let names = files.training.map { ($0 as NSString).lastPathComponent }
    // Sorted by name within each group, the TinyStories file replaced by its training part.
    #expect(names == ["tinystories_sample.cs336.txt", "tinystories-train.txt", "input.txt", "melville-moby_dick.txt"])
    for book in CorpusSplit.heldOutBookNames { #expect(!names.contains(book)) }
    #expect(files.heldOutBooks.map { ($0 as NSString).lastPathComponent } == CorpusSplit.heldOutBookNames)

    let train = CorpusSplit.stories(try String(contentsOfFile: files.training[1], encoding: .utf8))
    let held = CorpusSplit.stories(try String(contentsOfFile: files.heldOutStories, encoding: .utf8))
    #expect(held.count == CorpusSplit.heldOutStoryCount)
    #expect(train.count == 200 - CorpusSplit.heldOutStoryCount)
    // Whole stories, in order: the held-out ones are the last, and none is on both sides.
    #expect(held.first == "Story 128 begins.\nStory 128 ends.")
    #expect(held.last == "Story 199 begins.\nStory 199 ends.")
    #expect(Set(train).isDisjoint(with: Set(held)))
    // The data folder's own file is left as it was.
    let original = try String(contentsOfFile: root + "/" + CorpusSplit.storiesFile, encoding: .utf8)
    #expect(CorpusSplit.stories(original).count == 200)
  }

  @Test func aMissingHeldOutBookIsAnErrorNamingIt() throws {
    let root = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: root) }
    try FileManager.default.removeItem(atPath: root + "/books_gutenberg_nltk/" + CorpusSplit.heldOutBookNames[1])
    #expect {
      try CorpusSplit.materialize(dataFolder: root, into: root + "/split")
    } throws: { error in
      "\(error)".contains(CorpusSplit.heldOutBookNames[1]) && "\(error)".contains("missing")
    }
  }

  @Test func tooFewStoriesToHoldOutIsAnError() throws {
    let root = try makeDataFolder()
    defer { try? FileManager.default.removeItem(atPath: root) }
    try "One story.\n\nTwo stories.".write(
      toFile: root + "/" + CorpusSplit.storiesFile, atomically: true, encoding: .utf8)
    #expect(throws: DataError.self) { try CorpusSplit.materialize(dataFolder: root, into: root + "/split") }
  }
}

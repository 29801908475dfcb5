import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct TokenizerLoadingTests {
  func write(_ text: String, _ name: String) throws -> String {
    let path = Fixtures.temporaryPath(name)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  func expectOneLine(_ body: () throws -> Void, mentioning words: [String]) {
    do {
      try body()
      Issue.record("expected an error mentioning \(words)")
    } catch let error as TokenizerError {
      #expect(!error.description.contains("\n"))
      for word in words { #expect(error.description.contains(word), "\(error.description)") }
    } catch {
      Issue.record("unexpected error type: \(error)")
    }
  }

  /// A tiny byte-level vocabulary: all 256 bytes plus "ab".
  func tinyVocabulary(extra: [String: Int] = ["ab": 256]) -> String {
    var entries = (0..<256).map { "\(BPETokenizer.jsonString(ByteLevel.encode([UInt8($0)]))): \($0)" }
    for (k, v) in extra { entries.append("\(BPETokenizer.jsonString(k)): \(v)") }
    return "{" + entries.joined(separator: ", ") + "}"
  }

  @Test func badFilesThrowOneClearLine() throws {
    let vocab = try write(tinyVocabulary(), "vocab.json")
    let merges = try write("#version: 0.2\na b\n", "merges.txt")
    let badMerges = try write("a b\na zz\n", "bad-merges.txt")
    let badJSON = try write("{\"model\": [1, 2", "bad.json")
    let negative = try write(
      "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\": -5}, \"merges\": []}}", "negative.json")
    let wordLevel = try write("{\"model\": {\"type\": \"WordLevel\", \"vocab\": {}}}", "wordlevel.json")
    defer {
      for p in [vocab, merges, badMerges, badJSON, wordLevel, negative] {
        try? FileManager.default.removeItem(atPath: p)
      }
    }

    let tokenizer = try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
    #expect(tokenizer.encode("abab a") == [256, 256, 32, 97])
    expectOneLine(
      { _ = try BPETokenizer(vocabularyFile: vocab, mergesFile: badMerges) },
      mentioning: ["bad-merges.txt", "zz", "merge 2"])
    expectOneLine(
      { _ = try BPETokenizer(vocabularyFile: "/nonexistent/vocab.json", mergesFile: merges) }, mentioning: ["not found"]
    )
    expectOneLine({ _ = try BPETokenizer(tokenizerJSON: badJSON) }, mentioning: ["bad.json", "not valid JSON"])
    expectOneLine({ _ = try TokenizerLoader.load(wordLevel) }, mentioning: ["wordlevel.json", "BPE"])
    expectOneLine({ _ = try WordPieceTokenizer(tokenizerJSON: wordLevel) }, mentioning: ["WordPiece"])
    expectOneLine({ _ = try BPETokenizer(tokenizerJSON: negative) }, mentioning: ["negative.json", "-5"])
    expectOneLine({ _ = try TokenizerLoader.load("/nonexistent/tokenizer.json") }, mentioning: ["not found"])
    expectOneLine({ _ = try BPETokenizer(tiktokenFile: merges) }, mentioning: ["line 1"])
  }

  @Test(.enabled(if: Fixtures.hasTok512, Fixtures.tok512Absent))
  func loaderPicksTheLlama2cFormat() throws {
    let path = try #require(SharedData.data("llama2c/tok512.bin"))
    #expect(try TokenizerLoader.load(path).vocabularySize == 512)
  }

  @Test(
    .enabled(
      if: SharedData.has(data: "gpt2_tokenizer/gpt2.tiktoken"),
      "needs data/gpt2_tokenizer/gpt2.tiktoken (\(SharedData.hint))"))
  func loaderPicksTheTiktokenFormat() throws {
    let path = try #require(SharedData.data("gpt2_tokenizer/gpt2.tiktoken"))
    let tokenizer = try TokenizerLoader.load(path)
    #expect(tokenizer.vocabularySize == 50257)
    #expect(tokenizer.encode("Hello world") == [15496, 995])
  }

  @Test(.enabled(if: Fixtures.hasMiniLMTokenizer, Fixtures.miniLMAbsent))
  func loaderPicksTheWordPieceFormat() throws {
    let path = try #require(Fixtures.miniLMTokenizerPath)
    #expect(try TokenizerLoader.load(path) is WordPieceTokenizer)
  }
}

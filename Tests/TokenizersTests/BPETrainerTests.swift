import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct BPETrainerTests {
  @Test func smallCorpusGivesHandCountedMerges() throws {
    // Pre-tokens: "low" x1, " low" x1, " lower" x1, " newest" x3, " widest" x2. Hand counts:
    // 1. e|s 5 and s|t 5 tie -> greater left bytes wins: "s|t".  2. e|st 5.
    // 3. six pairs at 3 (w|est, ' '|n, n|e, e|w, l|o, o|w) -> greatest left byte "w": "w|est".
    // 4. five pairs at 3 remain (e|west, ' '|n, n|e, l|o, o|w) -> "o|w".
    let text = "low low lower newest newest newest widest widest"
    let trainer = BPETrainer(vocabularySize: 256 + 4 + 1, specialTokens: ["<|endoftext|>"])
    let tokenizer = try trainer.train(texts: [text])
    let merges = tokenizer.mergeList.map {
      String(decoding: tokenizer.tokenBytes[$0.0] + [0x7C] + tokenizer.tokenBytes[$0.1], as: UTF8.self)
    }
    #expect(merges == ["s|t", "e|st", "w|est", "o|w"])
    #expect(tokenizer.vocabularySize == 261)
    #expect(tokenizer.specialTokens == ["<|endoftext|>": 260])
    #expect(tokenizer.encode("lowest<|endoftext|>") == [108, 111, 258, 260])
  }

  @Test(
    .enabled(
      if: SharedData.has(data: "tinyshakespeare/input.txt"), "needs data/tinyshakespeare/input.txt (\(SharedData.hint))"
    ))
  func savedTokenizerJSONLoadsBackIdentically() throws {
    let shakespeare = try #require(SharedData.data("tinyshakespeare/input.txt"))
    let text = String(try String(contentsOfFile: shakespeare, encoding: .utf8).prefix(100_000))
    let tokenizer = try BPETrainer(vocabularySize: 600).train(texts: [text, "<|endoftext|>", "café 🙂"])
    #expect(tokenizer.vocabularySize == 600)
    let path = Fixtures.temporaryPath("trained.json")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try tokenizer.saveTokenizerJSON(to: path)
    let loaded = try BPETokenizer(tokenizerJSON: path)
    #expect(loaded.mergeList.map { [$0.0, $0.1] } == tokenizer.mergeList.map { [$0.0, $0.1] })
    let sample = String(text.suffix(3000)) + "<|endoftext|> héllo 日本 🙂"
    let ids = tokenizer.encode(sample)
    #expect(loaded.encode(sample) == ids)
    #expect(loaded.decode(ids) == sample)
    #expect(ids.count < sample.utf8.count / 2)  // merges actually compress English
    // The same corpus trains the same tokenizer (deterministic tie-breaking).
    let again = try BPETrainer(vocabularySize: 600).train(texts: [text, "<|endoftext|>", "café 🙂"])
    #expect(again.mergeList.map { [$0.0, $0.1] } == tokenizer.mergeList.map { [$0.0, $0.1] })
  }

  @Test func badRequestsThrowOneLine() throws {
    #expect(throws: TokenizerError.self) { try BPETrainer(vocabularySize: 100).train(texts: ["abc"]) }
    #expect(throws: TokenizerError.self) { try BPETrainer(vocabularySize: 300).train(files: ["/nonexistent/x.txt"]) }
    #expect(throws: TokenizerError.self) { try BPETrainer(vocabularySize: 300).train(files: []) }
  }

  /// A special token listed twice is an error naming it, not a silently smaller vocabulary.
  @Test func aRepeatedSpecialTokenIsRefused() throws {
    do {
      let tokenizer = try BPETrainer(vocabularySize: 300, specialTokens: ["<|a|>", "<|b|>", "<|a|>"]).train(
        texts: ["abc abc abd"])
      Issue.record("a repeated special token gave a \(tokenizer.vocabularySize)-token vocabulary")
    } catch let error as TokenizerError {
      #expect(error.description.contains("<|a|>") && error.description.contains("twice"), "\(error)")
    }
  }
}

/// The trainer against a naive reference that recounts every pair before each merge.
@Suite struct BPETrainerReferenceTests {
  func naiveMerges(_ text: String, count: Int) -> [[UInt8]] {
    let utf8 = Array(text.utf8)
    var counts: [[UInt8]: Int] = [:]
    for r in ByteLevel.pretokenize(utf8) { counts[Array(utf8[r]), default: 0] += 1 }
    var words: [([[UInt8]], Int)] = counts.map { ($0.key.map { [$0] }, $0.value) }
    var merges: [[UInt8]] = []
    while merges.count < count {
      var pairs: [[[UInt8]]: Int] = [:]
      for (w, f) in words where w.count > 1 {
        for i in 0..<(w.count - 1) { pairs[[w[i], w[i + 1]], default: 0] += f }
      }
      guard
        let best = pairs.max(by: { x, y in
          if x.value != y.value { return x.value < y.value }
          if x.key[0] != y.key[0] { return x.key[0].lexicographicallyPrecedes(y.key[0]) }
          return x.key[1].lexicographicallyPrecedes(y.key[1])
        })
      else { break }
      merges.append(best.key[0] + [0xFF] + best.key[1])
      words = words.map { w, f in
        var out: [[UInt8]] = []
        var i = 0
        while i < w.count {
          if i + 1 < w.count && w[i] == best.key[0] && w[i + 1] == best.key[1] {
            out.append(w[i] + w[i + 1])
            i += 2
          } else {
            out.append(w[i])
            i += 1
          }
        }
        return (out, f)
      }
    }
    return merges
  }

  /// The trainer's 150 merges of `text` against the naive recount.
  func expectIncrementalCountsEqualFullRecounting(_ text: String) throws {
    let tokenizer = try BPETrainer(vocabularySize: 256 + 150, specialTokens: []).train(texts: [text])
    let got = tokenizer.mergeList.map { tokenizer.tokenBytes[$0.0] + [0xFF] + tokenizer.tokenBytes[$0.1] }
    #expect(got == naiveMerges(text, count: 150))
  }

  static let handText = "aaaa aaa aa a banana bandana ananas  \n\n the then there's they're\t"

  @Test func incrementalCountsEqualFullRecounting() throws {
    var rng = SplitMix(state: 21)
    try expectIncrementalCountsEqualFullRecounting(Self.handText + randomUnicodeText(&rng, length: 300))
  }

  @Test(
    .enabled(
      if: SharedData.has(data: "tinystories/tinystories_sample.cs336.txt"),
      "needs data/tinystories/tinystories_sample.cs336.txt (\(SharedData.hint))"))
  func incrementalCountsEqualFullRecountingOnTinyStories() throws {
    var rng = SplitMix(state: 21)
    let path = try #require(SharedData.data("tinystories/tinystories_sample.cs336.txt"))
    let stories = try String(contentsOfFile: path, encoding: .utf8)
    try expectIncrementalCountsEqualFullRecounting(Self.handText + stories + randomUnicodeText(&rng, length: 300))
  }
}

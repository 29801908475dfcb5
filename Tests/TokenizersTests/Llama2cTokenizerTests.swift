import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct Llama2cTokenizerTests {
  @Test(
    .enabled(
      if: Fixtures.hasTok512 && SharedData.hasReference("fixtures/tokenizers/llama2c_tokenizer_goldens.json"),
      "needs data/llama2c/tok512.bin and reference/fixtures/tokenizers/llama2c_tokenizer_goldens.json"))
  func tok512GoldensMatchExactly() throws {
    let tokenizer = try #require(Fixtures.tok512)
    let path = try #require(SharedData.reference("fixtures/tokenizers/llama2c_tokenizer_goldens.json"))
    let json = try Fixtures.json(path)
    let cases = json["cases"] as? [[String: Any]] ?? []
    #expect(cases.count >= 20)
    #expect(tokenizer.maxTokenLength == json["max_token_length"] as? Int)
    #expect(tokenizer.encode(" ", bos: false, eos: false).first == json["dummy_prefix_id"] as? Int)
    for c in cases {
      let text = c["text"] as? String ?? ""
      let ids = c["ids"] as? [Int] ?? []
      #expect(tokenizer.encode(text) == ids, "text: \(text.debugDescription)")
      #expect(tokenizer.decode(ids) == (c["decoded"] as? String ?? ""))
      #expect(ids.map { tokenizer.token(for: $0) ?? "?" } == (c["pieces"] as? [String] ?? []))
    }
  }

  @Test(.enabled(if: Fixtures.hasTok512, Fixtures.tok512Absent))
  func vocabularySizeIsInferredFromTheFileEnd() throws {
    let path = try #require(SharedData.data("llama2c/tok512.bin"))
    let known = try #require(Fixtures.tok512)
    let inferred = try Llama2cTokenizer(path: path)
    #expect(inferred.vocabularySize == 512)
    #expect(inferred.pieces == known.pieces)
  }

  @Test(
    .enabled(
      if: SharedData.has(data: "llama2c/tokenizer.bin"), "needs data/llama2c/tokenizer.bin (\(SharedData.hint))"))
  func llamaVocabularyEncodesAndRoundTrips() throws {
    let path = try #require(SharedData.data("llama2c/tokenizer.bin"))
    let tokenizer = try Llama2cTokenizer(path: path, vocabularySize: 32000)
    #expect(tokenizer.vocabularySize == 32000)
    let ids = tokenizer.encode("Hello world")
    #expect(ids.first == 1)
    #expect(ids.count == 3)  // BOS, " Hello", " world"
    #expect(tokenizer.token(for: ids[1]) == " Hello")
    var rng = SplitMix(state: 11)
    for length in [0, 1, 3, 20, 200] {
      for _ in 0..<10 {
        let text = randomUnicodeText(&rng, length: length).replacingOccurrences(of: "\0", with: "")
        #expect(tokenizer.decode(tokenizer.encode(text)) == text)
      }
    }
  }

  @Test(.enabled(if: Fixtures.hasTok512, Fixtures.tok512Absent))
  func roundTripsRandomUnicodeWithByteFallback() throws {
    let tokenizer = try #require(Fixtures.tok512)
    var rng = SplitMix(state: 5)
    for length in [1, 2, 9, 40, 400] {
      for _ in 0..<10 {
        let text = randomUnicodeText(&rng, length: length).replacingOccurrences(of: "\0", with: "")
        let ids = tokenizer.encode(text)
        #expect(tokenizer.decode(ids) == text)
      }
    }
  }

  @Test(.enabled(if: Fixtures.hasTok512, Fixtures.tok512Absent))
  func longInputMatchesTheQuadraticScan() throws {
    let tokenizer = try #require(Fixtures.tok512)
    let text = String(repeating: "Once upon a time, a boooook and a llll. ", count: 8)
    var symbols = tokenizer.encode(text, bos: true, eos: false).map { Int32($0) }
    let heapResult = symbols
    // Rebuild the unmerged symbols and merge with the plain scan.
    symbols =
      [1, Int32(tokenizer.tokenID(for: " ")!)] + text.unicodeScalars.map { Int32(tokenizer.tokenID(for: String($0))!) }
    PairMerger.scanMerge(&symbols) { a, b in
      tokenizer.pairs[UInt64(tokenizer.canonical[Int(a)]) << 32 | UInt64(tokenizer.canonical[Int(b)])]
    }
    #expect(symbols == heapResult)
  }

  @Test(.enabled(if: Fixtures.hasTok512, Fixtures.tok512Absent))
  func truncatedAndMalformedFilesThrowOneLine() throws {
    let path = try #require(SharedData.data("llama2c/tok512.bin"))
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    for cut in [2, 10, data.count - 3] {
      let error = #expect(throws: TokenizerError.self) {
        try Llama2cTokenizer(data: data.prefix(cut), source: "tok.bin")
      }
      #expect(error?.description.contains("truncated") == true)
      #expect(error?.description.contains("\n") == false)
    }
    #expect(throws: TokenizerError.self) { try Llama2cTokenizer(data: data, vocabularySize: 513, source: "t") }
    #expect(throws: TokenizerError.self) { try Llama2cTokenizer(path: "/nonexistent/tokenizer.bin") }
  }
}

import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct Llama2cTokenizerTests {
  @Test func tok512GoldensMatchExactly() throws {
    guard let tokenizer = Fixtures.tok512,
      let path = SharedData.reference("fixtures/tokenizers/llama2c_tokenizer_goldens.json")
    else { return }
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

  @Test func vocabularySizeIsInferredFromTheFileEnd() throws {
    guard let path = SharedData.data("llama2c/tok512.bin"), let known = Fixtures.tok512 else { return }
    let inferred = try Llama2cTokenizer(path: path)
    #expect(inferred.vocabularySize == 512)
    #expect(inferred.pieces == known.pieces)
  }

  @Test func llamaVocabularyEncodesAndRoundTrips() throws {
    guard let path = SharedData.data("llama2c/tokenizer.bin") else { return }
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

  @Test func roundTripsRandomUnicodeWithByteFallback() throws {
    guard let tokenizer = Fixtures.tok512 else { return }
    var rng = SplitMix(state: 5)
    for length in [1, 2, 9, 40, 400] {
      for _ in 0..<10 {
        let text = randomUnicodeText(&rng, length: length).replacingOccurrences(of: "\0", with: "")
        let ids = tokenizer.encode(text)
        #expect(tokenizer.decode(ids) == text)
      }
    }
  }

  @Test func longInputMatchesTheQuadraticScan() throws {
    guard let tokenizer = Fixtures.tok512 else { return }
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

  @Test func truncatedAndMalformedFilesThrowOneLine() throws {
    guard let path = SharedData.data("llama2c/tok512.bin") else { return }
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

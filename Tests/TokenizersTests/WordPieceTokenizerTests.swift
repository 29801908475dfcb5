import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct WordPieceTokenizerTests {
  /// Reads `input_ids` (int64) from the MiniLM fixture's expected.safetensors with a minimal parser.
  func goldenIDs(_ path: String) throws -> [[Int]] {
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    let headerLength = bytes[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = try JSONSerialization.jsonObject(with: Data(bytes[8..<(8 + headerLength)])) as? [String: Any]
    let entry = header?["input_ids"] as? [String: Any]
    let shape = entry?["shape"] as? [Int] ?? []
    let offsets = entry?["data_offsets"] as? [Int] ?? [0, 0]
    let base = 8 + headerLength + offsets[0]
    let values = (0..<(shape.reduce(1, *))).map { i in
      (0..<8).reduce(0) { $0 | Int(bytes[base + 8 * i + $1]) << (8 * $1) }
    }
    return (0..<shape[0]).map { Array(values[($0 * shape[1])..<(($0 + 1) * shape[1])]) }
  }

  @Test(
    .enabled(
      if: Fixtures.hasMiniLMTokenizer && SharedData.hasReference("fixtures/minilm_l6_v2/expected.json")
        && SharedData.hasReference("fixtures/minilm_l6_v2/expected.safetensors"),
      "needs the MiniLM tokenizer.json (FRONTIER_MINILM) and reference/fixtures/minilm_l6_v2/expected.*"))
  func miniLMGoldensMatchExactly() throws {
    let tokenizerPath = try #require(Fixtures.miniLMTokenizerPath)
    let expectedPath = try #require(SharedData.reference("fixtures/minilm_l6_v2/expected.json"))
    let tensorsPath = try #require(SharedData.reference("fixtures/minilm_l6_v2/expected.safetensors"))
    let tokenizer = try WordPieceTokenizer(tokenizerJSON: tokenizerPath)
    let json = try Fixtures.json(expectedPath)
    let sentences = json["sentences"] as? [String] ?? []
    let tokens = json["tokens"] as? [[String]] ?? []
    let golden = try goldenIDs(tensorsPath)
    #expect(sentences.count == golden.count && !sentences.isEmpty)
    for (i, sentence) in sentences.enumerated() {
      let ids = tokenizer.encode(sentence)
      #expect(ids.map { tokenizer.token(for: $0) ?? "?" } == tokens[i])
      let padded = ids + [Int](repeating: tokenizer.padTokenID ?? 0, count: max(0, golden[i].count - ids.count))
      #expect(padded == golden[i], "sentence: \(sentence)")
    }
    #expect(tokenizer.vocabularySize == 30522)
  }

  @Test(.enabled(if: Fixtures.hasMiniLMTokenizer, Fixtures.miniLMAbsent))
  func normalisationSplittingAndUnknownWords() throws {
    let path = try #require(Fixtures.miniLMTokenizerPath)
    let tokenizer = try WordPieceTokenizer(tokenizerJSON: path)
    func tokens(_ text: String) -> [String] {
      tokenizer.encode(text, addSpecialTokens: false).map { tokenizer.token(for: $0) ?? "?" }
    }
    #expect(tokens("Héllo,\tWORLD!\u{0}") == ["hello", ",", "world", "!"])
    #expect(tokens("中文") == ["中", "文"])
    #expect(tokens(String(repeating: "a", count: 101)) == ["[UNK]"])
    #expect(tokens("[CLS] x [MASK]") == ["[CLS]", "x", "[MASK]"])
    #expect(tokenizer.encode("") == [101, 102])
    let ids = tokenizer.encode("The unbelievably quick fox, isn't it?", addSpecialTokens: false)
    #expect(tokenizer.decode(ids) == "the unbelievably quick fox, isn't it?")
  }
}

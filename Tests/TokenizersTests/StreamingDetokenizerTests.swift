import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct StreamingDetokenizerTests {
  @Test(
    .enabled(
      if: Fixtures.hasGPT2 && Fixtures.hasTok512,
      "needs GPT-2's vocab/merges and data/llama2c/tok512.bin (\(SharedData.hint))"))
  func streamedTextEqualsFullDecodeAndNeverSplitsCharacters() throws {
    var rng = SplitMix(state: 9)
    let tokenizers: [any Tokenizer] = [try #require(Fixtures.gpt2), try #require(Fixtures.tok512)]
    for tokenizer in tokenizers {
      for _ in 0..<20 {
        let text = randomUnicodeText(&rng, length: 60).replacingOccurrences(of: "\0", with: "")
        let ids = tokenizer.encode(text)
        var stream = StreamingDetokenizer(tokenizer: tokenizer)
        var pieces: [String] = []
        for id in ids { pieces.append(stream.append(id)) }
        pieces.append(stream.finish())
        #expect(pieces.joined() == text)
        #expect(stream.text == text)
        #expect(pieces.allSatisfy { !$0.unicodeScalars.contains("\u{FFFD}") || text.contains("\u{FFFD}") })
      }
    }
  }

  @Test(.enabled(if: Fixtures.hasGPT2, Fixtures.gpt2Absent))
  func emojiSplitOverByteTokensIsHeldBack() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    let ids = tokenizer.encode("🙂")  // several byte tokens
    #expect(ids.count > 1)
    var stream = StreamingDetokenizer(tokenizer: tokenizer)
    for id in ids.dropLast() { #expect(stream.append(id) == "") }
    #expect(stream.append(ids.last!) == "🙂")
    var cut = StreamingDetokenizer(tokenizer: tokenizer)
    _ = cut.append(ids[0])
    #expect(cut.finish() == "\u{FFFD}")
  }
}

import Foundation
import Testing

@testable import Tokenizers

@Suite struct StreamingDetokenizerTests {
  @Test func streamedTextEqualsFullDecodeAndNeverSplitsCharacters() throws {
    var rng = SplitMix(state: 9)
    var tokenizers: [any Tokenizer] = []
    if let t = Fixtures.gpt2 { tokenizers.append(t) }
    if let t = Fixtures.tok512 { tokenizers.append(t) }
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

  @Test func emojiSplitOverByteTokensIsHeldBack() throws {
    guard let tokenizer = Fixtures.gpt2 else { return }
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

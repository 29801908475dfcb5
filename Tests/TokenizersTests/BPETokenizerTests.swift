import Foundation
import TestSupport
import Testing

@testable import Tokenizers

@Suite struct BPETokenizerTests {
  @Test(
    .enabled(
      if: Fixtures.hasGPT2 && SharedData.hasReference("fixtures/tokenizers/tokenizer_goldens.json"),
      "needs GPT-2's vocab/merges and reference/fixtures/tokenizers/tokenizer_goldens.json (\(SharedData.hint))"))
  func gpt2GoldensMatchExactly() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    let path = try #require(SharedData.reference("fixtures/tokenizers/tokenizer_goldens.json"))
    let cases = try Fixtures.json(path)["cases"] as? [[String: Any]] ?? []
    #expect(cases.count >= 40)
    for c in cases {
      let text = c["text"] as? String ?? ""
      let ids = c["ids"] as? [Int] ?? []
      #expect(tokenizer.encode(text) == ids, "text: \(text.debugDescription)")
      #expect(tokenizer.decode(ids) == (c["decoded"] as? String ?? ""))
      let tokens = c["tokens"] as? [String] ?? []
      #expect(ids.map { tokenizer.token(for: $0) ?? "?" } == tokens)
      #expect(tokens.map { tokenizer.tokenID(for: $0) ?? -1 } == ids)
    }
  }

  @Test(
    .enabled(
      if: Fixtures.hasGPT2 && SharedData.has(data: "gpt2_tokenizer/ggml-vocab-gpt-2.gguf.inp")
        && SharedData.has(data: "gpt2_tokenizer/ggml-vocab-gpt-2.gguf.out"),
      "needs GPT-2's vocab/merges and data/gpt2_tokenizer/ggml-vocab-gpt-2.gguf.inp/.out (\(SharedData.hint))"))
  func llamaCppVectorsMatchExactly() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    let inputPath = try #require(SharedData.data("gpt2_tokenizer/ggml-vocab-gpt-2.gguf.inp"))
    let outputPath = try #require(SharedData.data("gpt2_tokenizer/ggml-vocab-gpt-2.gguf.out"))
    var inputs = try String(contentsOfFile: inputPath, encoding: .utf8).components(
      separatedBy: "\n__ggml_vocab_test__\n")
    var outputs = try String(contentsOfFile: outputPath, encoding: .utf8).components(separatedBy: "\n")
    if inputs.last == "" { inputs.removeLast() }
    if outputs.last == "" { outputs.removeLast() }
    #expect(inputs.count == outputs.count)
    #expect(inputs.count >= 40)
    for (text, line) in zip(inputs, outputs) {
      let expected = line.split(separator: " ").compactMap { Int($0) }
      #expect(tokenizer.encode(text) == expected, "text: \(text.debugDescription)")
    }
  }

  @Test(
    .enabled(
      if: Fixtures.hasGPT2 && SharedData.has(data: "gpt2_tokenizer/gpt2.tiktoken")
        && SharedData.has(data: "tinyshakespeare/input.txt"),
      "needs GPT-2's vocab/merges/gpt2.tiktoken and data/tinyshakespeare/input.txt (\(SharedData.hint))"))
  func tiktokenAndTokenizerJSONAgreeWithVocabAndMerges() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    let path = try #require(SharedData.data("gpt2_tokenizer/gpt2.tiktoken"))
    let shakespeare = try #require(SharedData.data("tinyshakespeare/input.txt"))
    let tiktoken = try BPETokenizer(tiktokenFile: path, specialTokens: ["<|endoftext|>": 50256])
    #expect(tiktoken.vocabularySize == 50257)
    let text =
      String(try String(contentsOfFile: shakespeare, encoding: .utf8).prefix(20_000))
      + "<|endoftext|> café 日本語 🙂👍🏽 x\u{301}   \t\n"
    let expected = tokenizer.encode(text)
    #expect(expected.contains(50256))
    #expect(tiktoken.encode(text) == expected)

    // Re-save as tokenizer.json and read back.
    let jsonPath = Fixtures.temporaryPath("gpt2.json")
    defer { try? FileManager.default.removeItem(atPath: jsonPath) }
    try tokenizer.saveTokenizerJSON(to: jsonPath)
    let reloaded = try BPETokenizer(tokenizerJSON: jsonPath)
    #expect(reloaded.encode(text) == expected)
    #expect(reloaded.vocabularySize == tokenizer.vocabularySize)
  }

  @Test(.enabled(if: Fixtures.hasGPT2, Fixtures.gpt2Absent))
  func roundTripsRandomUnicode() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    var rng = SplitMix(state: 7)
    for length in [0, 1, 2, 5, 17, 64, 300] {
      for _ in 0..<20 {
        let text = randomUnicodeText(&rng, length: length)
        let ids = tokenizer.encode(text)
        #expect(tokenizer.decode(ids) == text)
        #expect(ids.allSatisfy { $0 >= 0 && $0 < tokenizer.vocabularySize })
      }
    }
  }

  @Test(.enabled(if: Fixtures.hasGPT2, Fixtures.gpt2Absent))
  func heapAndScanMergesAgree() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    var rng = SplitMix(state: 3)
    var words: [[UInt8]] = [Array("antidisestablishmentarianism".utf8), Array(String(repeating: " ", count: 70).utf8)]
    for _ in 0..<200 { words.append(Array(randomUnicodeText(&rng, length: 1 + Int(rng.next() % 40)).utf8)) }
    for word in words {
      #expect(tokenizer.mergeWord(word[...], forceHeap: true) == tokenizer.mergeWord(word[...]))
    }
  }

  @Test(.enabled(if: Fixtures.hasGPT2, Fixtures.gpt2Absent))
  func specialTokensAreRecognisedAndSkippable() throws {
    let tokenizer = try #require(Fixtures.gpt2)
    let ids = tokenizer.encode("a<|endoftext|>b")
    #expect(ids == [64, 50256, 65])
    #expect(tokenizer.decode(ids) == "a<|endoftext|>b")
    #expect(tokenizer.decode(ids, skipSpecialTokens: true) == "ab")
    #expect(tokenizer.encodeOrdinary("<|endoftext|>").count > 1)
    #expect(tokenizer.eosTokenID == 50256)
    #expect(tokenizer.decode([-1, 999_999, 64]) == "a")
  }

  @Test func pretokenizerFollowsTheRegex() {
    func split(_ s: String) -> [String] {
      let utf8 = Array(s.utf8)
      return ByteLevel.pretokenize(utf8).map { String(decoding: utf8[$0], as: UTF8.self) }
    }
    #expect(split("Hello world") == ["Hello", " world"])
    #expect(split("I'm here, it's 2024!!") == ["I", "'m", " here", ",", " it", "'s", " 2024", "!!"])
    #expect(split("a   b") == ["a", "  ", " b"])
    #expect(split("a \n\n b  ") == ["a", " \n\n", " b", "  "])
    #expect(split("DON'T 'sun") == ["DON", "'", "T", " '", "sun"])
    #expect(split("x\u{301}") == ["x", "\u{301}"])
    #expect(split("") == [])
  }
}

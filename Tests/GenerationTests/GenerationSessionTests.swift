import LMCore
import TestSupport
import Testing

@testable import Generation
@testable import TensorCore

/// Ids 0..<26 as the letters a...z, one letter per id.
struct LetterText: IncrementalDecoder {
  mutating func append(_ id: Int) -> String { String(UnicodeScalar(UInt8(97 + id % 26))) }
  mutating func finish() -> String { "" }
}

/// Replays a fixed list of steps and counts how it is driven.
final class ScriptedIterator: TokenIterator {
  let steps: [[Int]]
  let vocabularySize = 26
  let promptLimit: Int? = 8
  var prefills = 0
  var calls = 0

  init(_ steps: [[Int]]) { self.steps = steps }

  func prefill(_ prompt: [Int], maxTokens: Int) throws { prefills += 1 }

  func next() throws -> [Int] {
    defer { calls += 1 }
    return calls < steps.count ? steps[calls] : []
  }
}

@Suite struct GenerationSessionTests {
  static func ids(_ text: String) -> [Int] { text.unicodeScalars.map { Int($0.value) - 97 } }

  @Test func streamedTextEndsBeforeAStopStringThatSpansSteps() throws {
    // Steps "abc", "lo", "wxy": the stop "ow" spans the second and third.
    let steps = ["abc", "lo", "wxy"].map(Self.ids)
    var streamed: [String] = []
    let iterator = ScriptedIterator(steps)
    let result = try GenerationSession(options: GenerationOptions(maxTokens: 20, stopStrings: ["ow"])).run(
      iterator, prompt: [0], text: LetterText(), onText: { streamed.append($0) })
    #expect(result.stopReason == .stopString)
    #expect(result.text == "abcl")
    #expect(streamed.joined() == "abcl")
    // "o" was held back while it could begin the stop string; it never reached the output.
    #expect(!streamed.joined().contains("o"))
    #expect(iterator.prefills == 1)
  }

  @Test func textWithoutStopIsStreamedWholeAndHeldBackPrefixesAreReleased() throws {
    var streamed = ""
    let ids = [7, 4, 11, 11, 14]  // "hello": "l" may begin the stop "lz", then is released
    let result = try GenerationSession(options: GenerationOptions(maxTokens: 5, stopStrings: ["lz"])).run(
      ScriptedIterator(ids.map { [$0] }), prompt: [0], text: LetterText(), onText: { streamed += $0 })
    #expect(result.stopReason == .length)
    #expect(streamed == "hello")
    #expect(result.text == "hello")
  }

  @Test func stopTokensTokenLimitAndContextFullEndTheSequence() throws {
    let session = GenerationSession(options: GenerationOptions(maxTokens: 4, stopTokens: [9]))
    let stopped = try session.run(ScriptedIterator([[1, 2], [9, 3]]), prompt: [0])
    #expect(stopped.tokens == [1, 2] && stopped.stopReason == .stopToken)
    let limited = try session.run(ScriptedIterator([[1, 2, 3], [4, 5, 6]]), prompt: [0])
    #expect(limited.tokens == [1, 2, 3, 4] && limited.stopReason == .length)
    let full = try session.run(ScriptedIterator([[1]]), prompt: [0])
    #expect(full.tokens == [1] && full.stopReason == .contextFull)
    #expect(full.promptTokens == 1)
    #expect(full.timingLine(command: "x").hasPrefix("x: 1 prompt + 1 new tokens (contextFull)"))
  }

  @Test func thePromptIsCheckedOnceBeforeAnythingRuns() throws {
    let session = GenerationSession(options: GenerationOptions(maxTokens: 2))
    for bad in [[], [0, 26], Array(repeating: 1, count: 9)] {
      let iterator = ScriptedIterator([[1]])
      #expect(throws: GenerationError.self) { try session.run(iterator, prompt: bad) }
      #expect(iterator.prefills == 0 && iterator.calls == 0)
    }
  }

  @Test func plainAndSpeculativeIteratorsGiveTheSameGreedyTokensThroughTheSession() throws {
    var rows: [Float] = []
    for i in 0..<6 { for j in 0..<6 { rows.append(j == (i + 1) % 6 ? 3 : (j == (i + 3) % 6 ? 2 : 0)) } }
    let target = BigramModel(table: Tensor(rows, shape: [6, 6]))
    let draft = BigramModel(table: Tensor(rows.reversed(), shape: [6, 6]))
    let options = GenerationOptions(maxTokens: 12)
    let plain = try GenerationSession(options: options).run(
      PlainDecoder(model: target, sampling: options.sampling), prompt: [0, 1])
    let choices = SeededChoices(seed: 1)
    let decoder = try SpeculativeDecoder(
      draft: DecodingLevel(model: draft, sampling: options.sampling, choices: choices),
      verifier: DecodingLevel(model: target, sampling: options.sampling, choices: choices), draftLength: 3,
      choices: choices)
    let speculative = try GenerationSession(options: options).run(SpeculativeIterator(decoder), prompt: [0, 1])
    #expect(plain.tokens == speculative.tokens)
    #expect(plain.tokens.count == 12)
  }
}

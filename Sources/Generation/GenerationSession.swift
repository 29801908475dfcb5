import Foundation
import Tokenizers

/// Turns generated ids into text one id at a time (``Tokenizers/StreamingDetokenizer`` is one).
public protocol IncrementalDecoder {
  /// Adds one id and returns the text that became complete.
  mutating func append(_ id: Int) -> String
  /// Returns what is held back, at the end.
  mutating func finish() -> String
}

extension StreamingDetokenizer: IncrementalDecoder {}

extension StreamingDetokenizer {
  /// A detokenizer for generated text after `prompt`: primed with the prompt so that text that depends on
  /// what precedes it (llama2.c's space after BOS) decodes as it would inside the whole sequence.
  public static func continuing(_ prompt: [Int], tokenizer: any Tokenizer) -> StreamingDetokenizer {
    var detokenizer = StreamingDetokenizer(tokenizer: tokenizer, skipSpecialTokens: true)
    _ = detokenizer.append(contentsOf: prompt)
    return detokenizer
  }
}

/// One generation: checks the prompt once, drives a ``TokenIterator``, applies the stop rules (token limit,
/// stop tokens, stop strings), streams the text and times the run. Every way of decoding goes through it.
public struct GenerationSession {
  /// Limits and stop rules.
  public var options: GenerationOptions

  /// A session under `options`.
  public init(options: GenerationOptions) { self.options = options }

  /// Generates after `prompt` with `iterator`. `text` decodes ids (needed for stop strings and the result's
  /// text); `onToken` sees each kept id and `onText` the decoded text as it becomes final (text that may
  /// begin a stop string is held back until it cannot). `onStep` sees the whole sequence after every call of
  /// the iterator, before the stop rules (TriForce refreshes its retrieval cache there).
  public func run(
    _ iterator: any TokenIterator, prompt: [Int], text: (any IncrementalDecoder)? = nil,
    onToken: ((Int) -> Void)? = nil, onText: ((String) -> Void)? = nil, onStep: (([Int]) throws -> Void)? = nil
  ) throws -> GenerationResult {
    try options.sampling.validate()
    guard options.maxTokens > 0 else {
      throw GenerationError("the token limit must be positive, got \(options.maxTokens)")
    }
    try checkPrompt(prompt, vocabularySize: iterator.vocabularySize, limit: iterator.promptLimit)
    let clock = ContinuousClock()
    let start = clock.now
    try iterator.prefill(prompt, maxTokens: options.maxTokens)
    let prefillSeconds = (clock.now - start).seconds
    var output = SequenceOutput(options: options, text: text)
    var firstTokenTime = 0.0
    var sequence = prompt
    generation: while !output.isFinished {
      let step = try iterator.next()
      if output.produced.isEmpty { firstTokenTime = (clock.now - start).seconds }
      guard !step.isEmpty else {
        output.end(.contextFull)
        break
      }
      sequence += step
      try onStep?(sequence)
      for token in step where !output.take(token, onToken: onToken, onText: onText) { break generation }
    }
    output.finish(onText: onText)
    let produced = output.produced
    let total = (clock.now - start).seconds
    let decodeTime = total - firstTokenTime
    return GenerationResult(
      promptTokens: prompt.count, tokens: produced, text: output.text, stopReason: output.stopReason,
      timeToFirstToken: firstTokenTime,
      decodeTokensPerSecond: produced.count > 1 && decodeTime > 0 ? Double(produced.count - 1) / decodeTime : 0,
      prefillTokensPerSecond: prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0,
      prefillSeconds: prefillSeconds, totalSeconds: total)
  }
}

/// The stop rules applied to one sequence's new tokens, and the text they decode to.
struct SequenceOutput {
  let options: GenerationOptions
  private var decoder: (any IncrementalDecoder)?
  private var filter: StopStringFilter
  /// Tokens kept so far.
  private(set) var produced: [Int] = []
  private var reason: StopReason?

  init(options: GenerationOptions, text: (any IncrementalDecoder)?) {
    self.options = options
    decoder = text
    filter = StopStringFilter(stops: text == nil ? [] : options.stopStrings)
  }

  /// Whether a stop rule has ended the sequence.
  var isFinished: Bool { reason != nil || produced.count >= options.maxTokens }
  /// Why it ended (the token limit unless something else ended it first).
  var stopReason: StopReason { reason ?? .length }
  /// The decoded text (cut before a stop string), when there is a decoder.
  var text: String? { decoder == nil ? nil : filter.text }

  /// Ends the sequence for `reason` (e.g. a full context).
  mutating func end(_ why: StopReason) { if reason == nil { reason = why } }

  /// Takes the next token; returns false once the sequence has ended (a stop token is not kept).
  mutating func take(_ token: Int, onToken: ((Int) -> Void)?, onText: ((String) -> Void)?) -> Bool {
    guard !isFinished else { return false }
    if options.stopTokens.contains(token) {
      reason = .stopToken
      return false
    }
    produced.append(token)
    onToken?(token)
    if let piece = decoder?.append(token), filter.take(piece, output: onText) {
      reason = .stopString
      return false
    }
    return !isFinished
  }

  /// Flushes the decoder and the held-back text at the end.
  mutating func finish(onText: ((String) -> Void)?) {
    if reason != .stopString, let rest = decoder?.finish(), filter.take(rest, output: onText) { reason = .stopString }
    filter.finish(output: onText)
  }
}

/// Decoded text on its way out: cut before the first stop string, with any suffix that could begin one held
/// back until the next piece shows it does not.
struct StopStringFilter {
  let stops: [String]
  /// Text handed out so far; with what is held back, all text kept (before a stop string).
  private var emitted = ""
  /// The held-back suffix that could begin a stop string (shorter than the longest stop).
  private var pending = ""

  init(stops: [String]) { self.stops = stops }

  /// All text kept so far (before a stop string).
  var text: String { emitted + pending }

  /// Adds `piece`; returns true when a stop string is complete (the text then ends before it). Only the
  /// held-back suffix and the piece are searched: an emitted character never begins a stop string.
  mutating func take(_ piece: String, output: ((String) -> Void)?) -> Bool {
    guard !piece.isEmpty else { return false }
    pending += piece
    if let cut = stops.compactMap({ pending.range(of: $0)?.lowerBound }).min() {
      pending = String(pending[..<cut])
      finish(output: output)
      return true
    }
    var keep = 0
    for stop in stops {
      for length in stride(from: min(stop.count - 1, pending.count), to: 0, by: -1)
      where pending.hasSuffix(stop.prefix(length)) {
        keep = max(keep, length)
        break
      }
    }
    let split = pending.index(pending.endIndex, offsetBy: -keep)
    hand(String(pending[..<split]), output: output)
    pending = String(pending[split...])
    return false
  }

  /// Hands out what was held back.
  mutating func finish(output: ((String) -> Void)?) {
    hand(pending, output: output)
    pending = ""
  }

  private mutating func hand(_ piece: String, output: ((String) -> Void)?) {
    guard !piece.isEmpty else { return }
    output?(piece)
    emitted += piece
  }
}

extension GenerationResult {
  /// The timing line every generating command prints on stderr.
  public func timingLine(command: String) -> String {
    String(
      format: "%@: %d prompt + %d new tokens (%@); time to first token %.1f ms, prefill %.1f tokens/s, "
        + "decode %.1f tokens/s",
      command, promptTokens, tokens.count, stopReason.rawValue, timeToFirstToken * 1000, prefillTokensPerSecond,
      decodeTokensPerSecond)
  }
}

/// Checks a prompt: not empty, at most `limit` tokens, every id inside the vocabulary.
func checkPrompt(_ prompt: [Int], vocabularySize: Int, limit: Int?) throws {
  guard !prompt.isEmpty else { throw GenerationError("the prompt is empty; give at least one token (e.g. BOS)") }
  if let limit, prompt.count > limit {
    throw GenerationError(
      "the prompt has \(prompt.count) tokens but the model's context takes at most \(limit); shorten it")
  }
  if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabularySize }) {
    throw GenerationError("prompt token \(bad) is outside the model's vocabulary 0..<\(vocabularySize)")
  }
}

import Foundation
import LMCore

/// The outcome of a speculative generation: the tokens, timing and counts of every level.
public struct SpeculativeResult: Sendable {
  /// Tokens, stop reason and timing (time to first token includes the prefill when it ran here).
  public var generation: GenerationResult
  /// Counts per verification level, top first.
  public var levels: [SpeculationStatistics]
  /// Seconds of the prefill (0 when the caller prefilled).
  public var prefillSeconds: Double
  /// Seconds of decoding after the prefill.
  public var decodeSeconds: Double
  /// New tokens per second of decoding (after the prefill).
  public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(generation.tokens.count) / decodeSeconds : 0 }
}

/// Speculative decoding as a ``TokenIterator``: each step is one round of ``SpeculativeDecoder`` (the kept
/// drafts and one correction or bonus token).
public final class SpeculativeIterator: TokenIterator {
  /// The decoder.
  public let decoder: SpeculativeDecoder
  /// Whether ``prefill(_:maxTokens:)`` feeds the prompt to every level (false when the caller did).
  public let prefillsLevels: Bool
  private var context: [Int] = []

  /// Rounds of `decoder`; with `prefillsLevels` false the levels must already hold the prompt.
  public init(_ decoder: SpeculativeDecoder, prefillsLevels: Bool = true) {
    self.decoder = decoder
    self.prefillsLevels = prefillsLevels
  }

  public var vocabularySize: Int { decoder.verifier.model.vocabularySize }
  /// Room for at least one round after the prompt.
  public var promptLimit: Int? { decoder.verifier.model.contextLength - 1 }

  public func prefill(_ prompt: [Int], maxTokens: Int) throws {
    if prefillsLevels { try decoder.prefill(prompt) }
    context = prompt
  }

  public func next() throws -> [Int] {
    let roundLength = decoder.draft.maximumLength(forCount: decoder.draftLength) + 1
    guard context.count + roundLength <= decoder.verifier.model.contextLength else { return [] }
    let emitted = try decoder.round(after: context).map(\.token)
    context += emitted
    return emitted
  }
}

extension SpeculativeDecoder {
  /// Generates from `prompt` under `options` (stop tokens, stop strings and the token limit of a
  /// ``GenerationSession``, which decodes with `text` and streams to `onText`); the output is distributed exactly as the verifier's sampling of the same options.
  /// Set `prefill` to false when the levels were prefilled (and caches prepared) by the caller; `onRound`
  /// sees the sequence after every round (TriForce refreshes its retrieval cache there).
  public func generate(
    prompt: [Int], options: GenerationOptions, prefill: Bool = true, text: (any IncrementalDecoder)? = nil,
    onRound: (([Int]) throws -> Void)? = nil, onToken: ((Int) -> Void)? = nil, onText: ((String) -> Void)? = nil
  ) throws -> SpeculativeResult {
    let result = try GenerationSession(options: options).run(
      SpeculativeIterator(self, prefillsLevels: prefill), prompt: prompt, text: text, onToken: onToken,
      onText: onText, onStep: onRound)
    return SpeculativeResult(
      generation: result, levels: allStatistics, prefillSeconds: prefill ? result.prefillSeconds : 0,
      decodeSeconds: result.totalSeconds - result.prefillSeconds)
  }
}

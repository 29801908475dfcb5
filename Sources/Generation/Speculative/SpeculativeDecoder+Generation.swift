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

extension SpeculativeDecoder {
  /// Generates from `prompt` under `options` (stop tokens, stop strings and the token limit as in
  /// ``Generator``); the output is distributed exactly as the verifier's sampling of the same options.
  /// Set `prefill` to false when the levels were prefilled (and caches prepared) by the caller; `onRound`
  /// sees the sequence after every round (TriForce refreshes its retrieval cache there).
  public func generate(
    prompt: [Int], options: GenerationOptions, prefill: Bool = true, decode: (([Int]) -> String)? = nil,
    onRound: (([Int]) throws -> Void)? = nil, onToken: ((Int) -> Void)? = nil
  ) throws -> SpeculativeResult {
    try options.sampling.validate()
    let model = verifier.model
    try checkPrompt(prompt, for: model, limit: model.contextLength - 1)  // room for at least one new token
    let clock = ContinuousClock()
    let start = clock.now
    if prefill { try self.prefill(prompt) }
    let prefillSeconds = (clock.now - start).seconds
    var context = prompt
    var produced: [Int] = []
    var stop = StopReason.length
    var text: String?
    var firstTokenTime = 0.0
    let roundLength = draft.maximumLength(forCount: draftLength) + 1
    generation: while produced.count < options.maxTokens {
      guard context.count + roundLength <= model.contextLength else {
        stop = .contextFull
        break
      }
      let emitted = try round(after: context)
      if produced.isEmpty { firstTokenTime = (clock.now - start).seconds }
      try onRound?(context + emitted.map(\.token))
      for proposal in emitted {
        if options.stopTokens.contains(proposal.token) {
          stop = .stopToken
          break generation
        }
        produced.append(proposal.token)
        context.append(proposal.token)
        onToken?(proposal.token)
        if !options.stopStrings.isEmpty, let decode {
          let current = decode(produced)
          if let cut = options.stopStrings.compactMap({ current.range(of: $0) })
            .min(by: { $0.lowerBound < $1.lowerBound })
          {
            text = String(current[..<cut.lowerBound])
            stop = .stopString
            break generation
          }
        }
        if produced.count == options.maxTokens { break generation }
      }
    }
    let total = (clock.now - start).seconds
    let decodeTime = total - firstTokenTime
    let result = GenerationResult(
      tokens: produced, text: text ?? decode?(produced), stopReason: stop, timeToFirstToken: firstTokenTime,
      decodeTokensPerSecond: produced.count > 1 && decodeTime > 0 ? Double(produced.count - 1) / decodeTime : 0,
      prefillTokensPerSecond: prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0)
    return SpeculativeResult(
      generation: result, levels: allStatistics, prefillSeconds: prefillSeconds, decodeSeconds: total - prefillSeconds)
  }
}

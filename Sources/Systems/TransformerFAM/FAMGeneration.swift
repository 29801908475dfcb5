import Foundation
import Generation
import TensorCore

/// The outcome of a streaming generation with bounded memory.
public struct FAMGenerationResult: Sendable {
  /// New token ids (without the prompt and without a stop token).
  public var tokens: [Int]
  /// Whether a stop token ended it (else the token limit).
  public var stoppedAtToken: Bool
  /// Prompt tokens per second (fed one at a time through the streaming state).
  public var prefillTokensPerSecond: Double
  /// New tokens per second after the first.
  public var decodeTokensPerSecond: Double
  /// Floats held as attention state at the end (flat in sequence length).
  public var stateFloats: Int
}

extension FAMStreamingDecoder {
  /// Generates up to `maxTokens` tokens after `prompt`, one token at a time, with no context limit:
  /// the state stays the ring of m blocks plus the FAM. `onToken` sees each new token as it is produced.
  public func generate(
    prompt: [Int], maxTokens: Int, sampling: SamplingOptions, stopTokens: Set<Int> = [],
    onToken: ((Int) -> Void)? = nil
  ) throws -> FAMGenerationResult {
    try sampling.validate()
    let vocabulary = model.parent.config.vocabularySize
    guard !prompt.isEmpty else { throw TensorError("generate", "the prompt is empty; give at least one token") }
    if let bad = prompt.first(where: { $0 < 0 || $0 >= vocabulary }) {
      throw TensorError("generate", "prompt token \(bad) is outside the vocabulary 0..<\(vocabulary)")
    }
    let clock = ContinuousClock()
    let start = clock.now
    var logits = Tensor.zeros([1, vocabulary])
    for token in prompt { logits = try step([token]) }
    let prefill = (clock.now - start).seconds
    var sampler = Sampler(sampling)
    var context = prompt
    var produced: [Int] = []
    var stopped = false
    let decodeStart = clock.now
    while produced.count < maxTokens {
      let token = sampler.sample(logits: logits.floats, context: context)
      if stopTokens.contains(token) {
        stopped = true
        break
      }
      produced.append(token)
      context.append(token)
      onToken?(token)
      if produced.count < maxTokens { logits = try step([token]) }
    }
    let decode = (clock.now - decodeStart).seconds
    return FAMGenerationResult(
      tokens: produced, stoppedAtToken: stopped, prefillTokensPerSecond: Double(prompt.count) / max(prefill, 1e-9),
      decodeTokensPerSecond: Double(max(produced.count - 1, 0)) / max(decode, 1e-9), stateFloats: stateFloatCount)
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double {
    let (s, a) = components
    return Double(s) + Double(a) * 1e-18
  }
}

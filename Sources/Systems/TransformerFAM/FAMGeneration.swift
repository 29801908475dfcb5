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

/// FAM or BSWA streaming decoding as a ``Generation/TokenIterator``: the prompt and every new token go
/// through ``FAMStreamingDecoder/step(_:)`` one at a time, so the state stays the ring of m blocks plus the
/// FAM and the sequence has no length limit.
public final class FAMTokenIterator: TokenIterator {
  /// The streaming decoder.
  public let decoder: FAMStreamingDecoder
  private var sampler: Sampler
  private var context: [Int] = []
  private var logits: [Float] = []
  private var fed = 0

  /// Steps of `decoder` sampled under `sampling`.
  public init(_ decoder: FAMStreamingDecoder, sampling: SamplingOptions) {
    self.decoder = decoder
    sampler = Sampler(sampling)
  }

  public var vocabularySize: Int { decoder.model.parent.config.vocabularySize }
  public var promptLimit: Int? { nil }

  public func prefill(_ prompt: [Int], maxTokens: Int) throws {
    for token in prompt { logits = try decoder.step([token]).floats }
    context = prompt
    fed = prompt.count
  }

  public func next() throws -> [Int] {
    if fed < context.count {
      logits = try decoder.step([context[fed]]).floats
      fed += 1
    }
    let token = sampler.sample(logits: logits, context: context)
    context.append(token)
    return [token]
  }
}

extension FAMStreamingDecoder {
  /// Generates up to `maxTokens` tokens after `prompt`, one token at a time, with no context limit:
  /// the state stays the ring of m blocks plus the FAM. `onToken` sees each new token as it is produced.
  public func generate(
    prompt: [Int], maxTokens: Int, sampling: SamplingOptions, stopTokens: Set<Int> = [],
    onToken: ((Int) -> Void)? = nil
  ) throws -> FAMGenerationResult {
    let options = GenerationOptions(maxTokens: maxTokens, sampling: sampling, stopTokens: stopTokens)
    let result = try GenerationSession(options: options).run(
      FAMTokenIterator(self, sampling: sampling), prompt: prompt, onToken: onToken)
    return FAMGenerationResult(
      tokens: result.tokens, stoppedAtToken: result.stopReason == .stopToken,
      prefillTokensPerSecond: result.prefillTokensPerSecond, decodeTokensPerSecond: result.decodeTokensPerSecond,
      stateFloats: stateFloatCount)
  }
}

extension Duration {
  /// The duration in seconds.
  var seconds: Double {
    let (s, a) = components
    return Double(s) + Double(a) * 1e-18
  }
}

import Foundation
import LMCore
import TensorCore

/// Limits and stopping rules of one generation.
public struct GenerationOptions: Sendable {
  /// Most new tokens to produce.
  public var maxTokens: Int
  /// How each token is chosen.
  public var sampling: SamplingOptions
  /// Token ids that end generation (e.g. EOS); the stop token is not part of the output.
  public var stopTokens: Set<Int>
  /// Strings that end generation once the decoded text contains one; the text is cut before it.
  public var stopStrings: [String]

  /// Creates options.
  public init(
    maxTokens: Int, sampling: SamplingOptions = SamplingOptions(), stopTokens: Set<Int> = [],
    stopStrings: [String] = []
  ) {
    self.maxTokens = maxTokens
    self.sampling = sampling
    self.stopTokens = stopTokens
    self.stopStrings = stopStrings
  }
}

/// Why generation ended.
public enum StopReason: String, Sendable {
  /// `maxTokens` were produced.
  case length
  /// A stop token came up.
  case stopToken
  /// A stop string appeared in the text.
  case stopString
  /// The context (or cache) is full.
  case contextFull
}

/// The outcome of a generation, with its timing.
public struct GenerationResult: Sendable {
  /// New token ids (without the prompt and without a stop token).
  public var tokens: [Int]
  /// The decoded new text (cut before a stop string), when a decoder was given.
  public var text: String?
  /// Why it ended.
  public var stopReason: StopReason
  /// Seconds from the start until the first new token was known (prefill plus one step).
  public var timeToFirstToken: Double
  /// New tokens per second after the first one (decode speed).
  public var decodeTokensPerSecond: Double
  /// Prompt tokens per second of the prefill pass.
  public var prefillTokensPerSecond: Double
}

/// Autoregressive generation over any ``LanguageModel`` with a preallocated KV cache.
public struct Generator {
  /// The model.
  public let model: LanguageModel

  /// A generator for `model`.
  public init(model: LanguageModel) { self.model = model }

  /// Generates from `prompt` (token ids). `decode` turns ids into text (needed for stop strings and `text`);
  /// `onToken` sees each new token as it is produced (streaming).
  public func generate(
    prompt: [Int], options: GenerationOptions, decode: (([Int]) -> String)? = nil,
    onToken: ((Int) -> Void)? = nil
  ) throws -> GenerationResult {
    try options.sampling.validate()
    try checkPrompt(prompt, for: model, limit: model.contextLength)
    let clock = ContinuousClock()
    let start = clock.now
    let cache = model.makeCache(batch: 1, capacity: min(model.contextLength, prompt.count + options.maxTokens))
    var sampler = Sampler(options.sampling)
    var context = prompt
    var produced: [Int] = []
    var stop = StopReason.length
    var text: String?
    var firstTokenTime = 0.0
    var prefillSeconds = 0.0
    var next = try withoutGradients { () -> Tensor in
      try model.lastLogits(Tensor(indices: prompt, shape: [1, prompt.count]), cache: cache).reshaped([
        model.vocabularySize
      ])
    }
    prefillSeconds = (clock.now - start).seconds
    while produced.count < options.maxTokens {
      let token = sampler.sample(logits: next.floats, context: context)
      if produced.isEmpty { firstTokenTime = (clock.now - start).seconds }
      if options.stopTokens.contains(token) {
        stop = .stopToken
        break
      }
      produced.append(token)
      context.append(token)
      onToken?(token)
      if !options.stopStrings.isEmpty, let decode {
        let current = decode(produced)
        if let cut = options.stopStrings.compactMap({ current.range(of: $0) }).min(by: { $0.lowerBound < $1.lowerBound }
        ) {
          text = String(current[..<cut.lowerBound])
          stop = .stopString
          break
        }
      }
      if produced.count == options.maxTokens { break }
      guard cache.length < cache.capacity else {
        stop = .contextFull
        break
      }
      next = try withoutGradients {
        try model.lastLogits(Tensor(indices: [token], shape: [1, 1]), cache: cache).reshaped([model.vocabularySize])
      }
    }
    let total = (clock.now - start).seconds
    let decodeTime = total - firstTokenTime
    return GenerationResult(
      tokens: produced, text: text ?? decode?(produced), stopReason: stop, timeToFirstToken: firstTokenTime,
      decodeTokensPerSecond: produced.count > 1 && decodeTime > 0 ? Double(produced.count - 1) / decodeTime : 0,
      prefillTokensPerSecond: prefillSeconds > 0 ? Double(prompt.count) / prefillSeconds : 0)
  }
}

/// A generation request that cannot be served.
public struct GenerationError: Error, CustomStringConvertible {
  /// What is wrong and what to do.
  public let description: String
  init(_ message: String) { description = message }
}

/// Checks a prompt against `model`: not empty, at most `limit` tokens, every id inside the vocabulary.
func checkPrompt(_ prompt: [Int], for model: LanguageModel, limit: Int) throws {
  guard !prompt.isEmpty else { throw GenerationError("the prompt is empty; give at least one token (e.g. BOS)") }
  guard prompt.count <= limit else {
    throw GenerationError(
      "the prompt has \(prompt.count) tokens but the model's context is \(model.contextLength); shorten it")
  }
  if let bad = prompt.first(where: { $0 < 0 || $0 >= model.vocabularySize }) {
    throw GenerationError("prompt token \(bad) is outside the model's vocabulary of \(model.vocabularySize)")
  }
}

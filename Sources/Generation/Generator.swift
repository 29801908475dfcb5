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
  /// Prompt tokens.
  public var promptTokens: Int
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
  /// Seconds of the prefill.
  public var prefillSeconds: Double
  /// Seconds of the whole generation, prefill included.
  public var totalSeconds: Double
}

/// Plain autoregressive generation over any ``LanguageModel``: a ``PlainDecoder`` driven by a
/// ``GenerationSession``.
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
    try GenerationSession(options: options).run(
      PlainDecoder(model: model, sampling: options.sampling), prompt: prompt,
      text: decode.map { RedecodingText(decode: $0) }, onToken: onToken)
  }
}

/// An ``IncrementalDecoder`` over a function that decodes a whole id sequence: it decodes everything so far
/// at each id and hands out what was added (quadratic in the length; for short outputs and tests).
public struct RedecodingText: IncrementalDecoder {
  let decode: ([Int]) -> String
  private var ids: [Int] = []
  private var emitted = ""

  /// Wraps `decode`.
  public init(decode: @escaping ([Int]) -> String) { self.decode = decode }

  public mutating func append(_ id: Int) -> String {
    ids.append(id)
    let text = decode(ids)
    guard text.hasPrefix(emitted), text.count > emitted.count else { return "" }
    let new = String(text.dropFirst(emitted.count))
    emitted = text
    return new
  }

  public mutating func finish() -> String { "" }
}

/// A generation request that cannot be served.
public struct GenerationError: Error, CustomStringConvertible {
  /// What is wrong and what to do.
  public let description: String
  init(_ message: String) { description = message }
}

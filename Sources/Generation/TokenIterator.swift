import LMCore
import TensorCore

/// A way of decoding one sequence, driven by a ``GenerationSession``: plain decoding, speculative decoding
/// (TriForce, a draft model), streaming decoding with bounded memory (TransformerFAM).
///
/// The session checks the prompt once, calls ``prefill(_:maxTokens:)`` once, then ``next()`` until it stops
/// the sequence (token limit, stop token, stop string) or the iterator has nothing more (context full).
public protocol TokenIterator: AnyObject {
  /// Token ids the iterator can produce and accept (the model's vocabulary).
  var vocabularySize: Int { get }
  /// The longest prompt it accepts (nil: no limit, as for a streaming state).
  var promptLimit: Int? { get }
  /// Takes in a checked prompt; `maxTokens` bounds what the session will ask for (to size caches).
  func prefill(_ prompt: [Int], maxTokens: Int) throws
  /// The next tokens continuing the sequence so far: one for plain decoding, the verified run of a
  /// speculative round. Empty when the sequence cannot go on (its context is full).
  func next() throws -> [Int]
}

/// Plain autoregressive decoding of any ``LanguageModel`` through its decoding state: one forward pass and
/// one sampled token per step.
public final class PlainDecoder: TokenIterator {
  /// The model.
  public let model: LanguageModel
  /// The sampling rules.
  public let sampling: SamplingOptions
  /// The decoding state (after ``prefill(_:maxTokens:)``).
  public private(set) var state: DecodingState?
  private var sampler: Sampler
  private var context: [Int] = []
  private var logits: [Float] = []
  private var capacity = 0

  /// A decoder for `model` under `sampling`.
  public init(model: LanguageModel, sampling: SamplingOptions) {
    self.model = model
    self.sampling = sampling
    sampler = Sampler(sampling)
  }

  public var vocabularySize: Int { model.vocabularySize }
  public var promptLimit: Int? { model.contextLength }

  public func prefill(_ prompt: [Int], maxTokens: Int) throws {
    // min(maxTokens, context) first: the same capacity, and no overflow for a huge token limit.
    capacity = min(model.contextLength, prompt.count + min(maxTokens, model.contextLength))
    let state = model.makeState(batch: 1, capacity: capacity)
    logits = try withoutGradients {
      try model.lastLogits(Tensor(indices: prompt, shape: [1, prompt.count]), state: state).floats
    }
    self.state = state
    context = prompt
  }

  public func next() throws -> [Int] {
    guard let state else { return [] }
    if state.position < context.count, let last = context.last {
      // The token returned last time goes in only now, so a sequence that stops feeds nothing extra.
      guard state.position < capacity else { return [] }
      logits = try withoutGradients {
        try model.lastLogits(Tensor(indices: [last], shape: [1, 1]), state: state).floats
      }
    }
    let token = sampler.sample(logits: logits, context: context)
    context.append(token)
    return [token]
  }
}

import Foundation
import LMCore
import TensorCore

/// Perplexity of a language model over a token stream by llama.cpp's sliding-window convention.
///
/// Windows of `context` tokens start every `stride` tokens; each scores the predictions of its last
/// `min(stride, context / 2)` tokens (a token is predicted from the logits of the position before it), so
/// every scored token has at least half a window of context and none is scored twice. With the default
/// stride (the context), this is llama.cpp's `perplexity`: non-overlapping chunks, second half of each
/// scored. The first `context - min(stride, context / 2)` tokens of the stream are context only.
public struct SlidingWindowPerplexity {
  /// Tokens per window.
  public var context: Int
  /// Tokens between the starts of consecutive windows.
  public var stride: Int
  /// Windows evaluated per forward pass.
  public var batch: Int

  /// An evaluator; `stride` defaults to `context`.
  public init(context: Int, stride: Int? = nil, batch: Int = 4) throws {
    let stride = stride ?? context
    guard context >= 2, stride >= 1, stride <= context, batch >= 1 else {
      throw GenerationError(
        "perplexity needs a context of at least 2 tokens and a stride in 1...context, got \(context) and \(stride)")
    }
    (self.context, self.stride, self.batch) = (context, stride, batch)
  }

  /// Tokens each window scores.
  public var scoredPerWindow: Int { min(stride, context / 2) }

  /// The outcome of an evaluation.
  public struct Result: Sendable, Equatable {
    /// Tokens scored.
    public var tokens: Int
    /// Total negative log-likelihood of the scored tokens, in nats.
    public var nats: Double
    /// Windows evaluated.
    public var windows: Int
    /// Bytes of text the scored tokens stand for, when known.
    public var bytes: Int?

    /// Mean nats per scored token.
    public var natsPerToken: Double { tokens > 0 ? nats / Double(tokens) : .nan }
    /// exp(nats per token).
    public var perplexity: Double { Foundation.exp(natsPerToken) }
    /// Bits per byte of text (nil without byte counts).
    public var bitsPerByte: Double? { bytes.map { $0 > 0 ? nats / 0.6931471805599453 / Double($0) : .nan } }
  }

  /// Evaluates `model` on `tokens`. `bytes(id)` gives the bytes of text a token stands for (for bits per
  /// byte); `progress(done, total)` sees the windows as they finish.
  public func evaluate(
    _ model: LanguageModel, tokens: [Int], bytes: ((Int) -> Int)? = nil, progress: ((Int, Int) -> Void)? = nil
  ) throws -> Result {
    guard context <= model.contextLength else {
      throw GenerationError("a window of \(context) tokens exceeds the model's context of \(model.contextLength)")
    }
    guard tokens.count >= context else {
      throw GenerationError(
        "the data has \(tokens.count) tokens, fewer than one window of \(context); pass less --context")
    }
    if let bad = tokens.first(where: { $0 < 0 || $0 >= model.vocabularySize }) {
      throw GenerationError("the data holds token \(bad), outside the model's vocabulary 0..<\(model.vocabularySize)")
    }
    let starts = Array(Swift.stride(from: 0, through: tokens.count - context, by: stride))
    let scored = scoredPerWindow
    var result = Result(tokens: 0, nats: 0, windows: 0, bytes: bytes == nil ? nil : 0)
    for group in Swift.stride(from: 0, to: starts.count, by: batch) {
      let members = Array(starts[group..<min(group + batch, starts.count)])
      let ids = members.flatMap { tokens[$0..<($0 + context)] }
      let logits = try withoutGradients {
        try model.logits(Tensor(indices: ids, shape: [members.count, context]), state: nil)  // [B, N, V]
      }
      // Positions context - scored - 1 ..< context - 1 predict the scored tokens.
      let predicting = try logits.sliced(axis: 1, (context - scored - 1)..<(context - 1)).contiguous()
      let targets = members.flatMap { tokens[($0 + context - scored)..<($0 + context)] }
      let loss = try predicting.crossEntropy(
        targets: Tensor(indices: targets, shape: [members.count, scored])
      ).item()
      guard loss.isFinite else {
        throw GenerationError(
          "the model's loss on windows \(group + 1)...\(group + members.count) is \(loss), not a number of nats; "
            + "its weights are corrupt or diverged")
      }
      result.nats += Double(loss) * Double(targets.count)
      result.tokens += targets.count
      result.windows += members.count
      if let bytes { result.bytes? += targets.reduce(0) { $0 + bytes($1) } }
      progress?(result.windows, starts.count)
    }
    return result
  }
}

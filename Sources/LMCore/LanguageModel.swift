import TensorCore

/// A causal language model that generation, training and the research systems drive without
/// knowing its architecture.
///
/// Shapes: B batch, T new tokens, V vocabulary.
public protocol LanguageModel: AnyObject {
  /// Number of token ids the model scores.
  var vocabularySize: Int { get }
  /// Longest sequence the model was built for (positions it can embed); `Int.max` when unlimited.
  var contextLength: Int { get }
  /// Number of layers (one decoding state each).
  var layerCount: Int { get }
  /// Token ids that end a sequence (`eos_token_id` of the checkpoint's `generation_config.json` or
  /// `config.json`; llama2.c's BOS and EOS); empty when the model came without them.
  var endOfSequenceIDs: Set<Int> { get }

  /// A fresh decoding state for `batch` sequences of up to `capacity` tokens (default: the context length):
  /// one ``LayerState`` per layer, of whatever kind the layer needs.
  func makeState(batch: Int, capacity: Int?) -> DecodingState

  /// Logits [B, T, V] for ids [B, T]. With a state, the tokens continue the sequence it holds: their
  /// positions start at `state.position`, and every layer's state takes them in.
  func logits(_ ids: Tensor, state: DecodingState?) throws -> Tensor

  /// Logits [B, V] of the last of ids [B, T] only, continuing `state` like ``logits(_:state:)``.
  ///
  /// Prefill needs nothing else, and skipping the head for the other T - 1 positions saves most of its work
  /// when the vocabulary is large.
  func lastLogits(_ ids: Tensor, state: DecodingState?) throws -> Tensor

  /// Next-token logits [B, V] of B sequences that each continue their own state (of batch 1) by one
  /// token: batched decoding of sequences at different positions. A model may run them in one pass
  /// (each weight read once for all rows); the default runs them one after another.
  func batchedLastLogits(_ tokens: [Int], states: [DecodingState]) throws -> Tensor
}

extension LanguageModel {
  /// Default: none known.
  public var endOfSequenceIDs: Set<Int> { [] }

  /// Default: every position's logits, then the last row.
  public func lastLogits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    let t = ids.shape[ids.rank - 1]
    let all = try logits(ids, state: state)  // [B, T, V]
    return try all.sliced(axis: 1, (t - 1)..<t).reshaped([all.shape[0], vocabularySize])
  }

  /// Default: ``sequentialLastLogits(_:states:)``.
  public func batchedLastLogits(_ tokens: [Int], states: [DecodingState]) throws -> Tensor {
    try sequentialLastLogits(tokens, states: states)
  }

  /// Next-token logits [B, V] of B sequences, one ``lastLogits(_:state:)`` after another.
  public func sequentialLastLogits(_ tokens: [Int], states: [DecodingState]) throws -> Tensor {
    guard tokens.count == states.count, !tokens.isEmpty else {
      throw TensorError("batchedLastLogits", "\(tokens.count) tokens for \(states.count) states")
    }
    let rows = try zip(tokens, states).map { token, state in
      try lastLogits(Tensor(indices: [token], shape: [1, 1]), state: state).reshaped([vocabularySize])
    }
    return try Tensor.stack(rows, axis: 0)
  }

  /// A state for one sequence of up to `capacity` tokens.
  public func makeState(capacity: Int? = nil) -> DecodingState { makeState(batch: 1, capacity: capacity) }
}

/// A transformer whose every layer keeps attention keys and values: its decoding state is one
/// ``AttentionKV`` per layer.
public protocol AttentionLanguageModel: LanguageModel {
  /// Key/value heads per layer and their width.
  var keyValueShape: (heads: Int, headDimensions: Int) { get }
}

extension AttentionLanguageModel {
  /// One dense ``AttentionKV`` per layer.
  public func makeState(batch: Int, capacity: Int?) -> DecodingState {
    DecodingState(
      layers: (0..<layerCount).map { _ in
        AttentionKV(
          batch: batch, heads: keyValueShape.heads, capacity: capacity ?? contextLength,
          headDimensions: keyValueShape.headDimensions)
      })
  }

}

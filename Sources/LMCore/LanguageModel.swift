import TensorCore

/// A causal language model that generation, training and the research systems drive without
/// knowing its architecture.
///
/// Shapes: B batch, T new tokens, V vocabulary.
public protocol LanguageModel: AnyObject {
  /// Number of token ids the model scores.
  var vocabularySize: Int { get }
  /// Longest sequence the model was built for (positions it can embed).
  var contextLength: Int { get }
  /// Number of transformer layers (one KV-cache entry each).
  var layerCount: Int { get }
  /// Key/value heads per layer and their width, for allocating a cache.
  var keyValueShape: (heads: Int, headDimensions: Int) { get }

  /// Logits [B, T, V] for ids [B, T]. With a cache, the tokens continue the cached sequence: their
  /// positions start at `cache.length`, and their keys and values are appended to it.
  func logits(_ ids: Tensor, cache: KVCache?) throws -> Tensor

  /// Logits [B, V] of the last of ids [B, T] only, continuing `cache` like ``logits(_:cache:)``.
  ///
  /// Prefill needs nothing else, and skipping the head for the other T - 1 positions saves most of its work
  /// when the vocabulary is large.
  func lastLogits(_ ids: Tensor, cache: KVCache?) throws -> Tensor
}

extension LanguageModel {
  /// Default: every position's logits, then the last row.
  public func lastLogits(_ ids: Tensor, cache: KVCache?) throws -> Tensor {
    let t = ids.shape[ids.rank - 1]
    let all = try logits(ids, cache: cache)  // [B, T, V]
    return try all.sliced(axis: 1, (t - 1)..<t).reshaped([all.shape[0], vocabularySize])
  }

  /// A cache for `batch` sequences of up to `capacity` tokens (default: the context length).
  public func makeCache(batch: Int = 1, capacity: Int? = nil) -> KVCache {
    KVCache(
      layers: layerCount, batch: batch, heads: keyValueShape.heads, capacity: capacity ?? contextLength,
      headDimensions: keyValueShape.headDimensions)
  }
}

import TensorCore

/// Preallocated keys and values of every layer, with rollback.
///
/// Storage per layer is [B, G, capacity, D] (G key/value heads, D head width); the first `length`
/// positions are valid. Appending writes in place; ``rollback(to:)`` forgets positions (speculative
/// decoding rejects drafted tokens this way) without touching memory.
public final class KVCache {
  /// Keys per layer, [B, G, capacity, D].
  public let keys: [Tensor]
  /// Values per layer, [B, G, capacity, D].
  public let values: [Tensor]
  /// Positions held.
  public private(set) var length = 0
  /// Positions the cache can hold.
  public let capacity: Int
  /// Positions appended to each layer in the current forward pass (all layers must agree).
  private var pending: [Int]

  /// Allocates a cache.
  public init(layers: Int, batch: Int, heads: Int, capacity: Int, headDimensions: Int) {
    self.capacity = capacity
    keys = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headDimensions]) }
    values = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headDimensions]) }
    pending = [Int](repeating: 0, count: layers)
  }

  /// Appends new keys and values [B, G, T, D] for `layer` at positions `length ..< length + T` and returns
  /// views of everything held for that layer, [B, G, length + T, D]. ``commit()`` advances `length`
  /// once every layer has appended.
  public func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor) throws -> (
    keys: Tensor, values: Tensor
  ) {
    let t = newKeys.shape[2]
    guard length + t <= capacity else {
      throw TensorError("KVCache", "\(length + t) positions exceed the cache capacity \(capacity)")
    }
    guard newKeys.shape == newValues.shape, newKeys.shape[0] == keys[layer].shape[0],
      newKeys.shape[1] == keys[layer].shape[1], newKeys.shape[3] == keys[layer].shape[3]
    else {
      throw TensorError.shapes("KVCache", newKeys.shape, keys[layer].shape, "do not match the cache layout")
    }
    try keys[layer].assign(newKeys, axis: 2, at: length)
    try values[layer].assign(newValues, axis: 2, at: length)
    pending[layer] = t
    return (
      try keys[layer].sliced(axis: 2, 0..<(length + t)), try values[layer].sliced(axis: 2, 0..<(length + t))
    )
  }

  /// Advances `length` past the positions appended in this forward pass.
  public func commit() {
    length += pending.max() ?? 0
    for i in pending.indices { pending[i] = 0 }
  }

  /// Forgets positions from `newLength` on.
  public func rollback(to newLength: Int) {
    precondition(newLength >= 0 && newLength <= length, "KVCache: cannot roll back to \(newLength) from \(length)")
    length = newLength
  }
}

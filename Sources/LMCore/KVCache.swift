import TensorCore

/// Preallocated keys and values of every layer, with rollback.
///
/// Storage per layer is [B, G, capacity, D] (G key/value heads, D head width); the first `length`
/// rows are valid. Appending writes in place; ``rollback(to:)`` forgets rows (speculative decoding
/// rejects drafted tokens this way) without touching memory.
///
/// A cache may hold only some of the sequence's positions (a sparse or windowed cache, see
/// ``load(keys:values:position:fixedRows:)``): rows then carry keys that were rotated at their own absolute
/// positions, and ``nextPosition`` (not ``length``) is the position of the next token.
public final class KVCache {
  /// Keys per layer, [B, G, capacity, D].
  public let keys: [Tensor]
  /// Values per layer, [B, G, capacity, D].
  public let values: [Tensor]
  /// Rows held.
  public private(set) var length = 0
  /// Rows the cache can hold.
  public let capacity: Int
  /// Sequence positions that are not held (dropped by a sparse or windowed load); 0 for a dense cache.
  public private(set) var omittedPositions = 0
  /// Rows that a rollback never removes (set by ``load(keys:values:position:fixedRows:)``; 0 for a dense cache).
  public private(set) var fixedRows = 0
  /// Whether ``append(layer:keys:values:queries:)`` keeps the last query row of each layer.
  public var recordsQueries = false
  /// The last query row [B, H, 1, D] of each layer's latest pass (when ``recordsQueries`` is set).
  public private(set) var lastQueries: [Tensor?]
  /// Positions appended to each layer in the current forward pass (all layers must agree).
  private var pending: [Int]

  /// Allocates a cache.
  public init(layers: Int, batch: Int, heads: Int, capacity: Int, headDimensions: Int) {
    self.capacity = capacity
    keys = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headDimensions]) }
    values = (0..<layers).map { _ in Tensor.zeros([batch, heads, capacity, headDimensions]) }
    pending = [Int](repeating: 0, count: layers)
    lastQueries = [Tensor?](repeating: nil, count: layers)
  }

  /// Sequence position of the next token appended (``length`` plus the omitted positions).
  public var nextPosition: Int { length + omittedPositions }

  /// Appends new keys and values [B, G, T, D] for `layer` at rows `length ..< length + T` and returns
  /// views of everything held for that layer, [B, G, length + T, D]. ``commit()`` advances `length`
  /// once every layer has appended. `queries` [B, H, T, D] are kept (last row only) when
  /// ``recordsQueries`` is set.
  public func append(layer: Int, keys newKeys: Tensor, values newValues: Tensor, queries: Tensor? = nil) throws -> (
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
    if recordsQueries, let queries {
      let rows = queries.shape[2]
      lastQueries[layer] = try queries.sliced(axis: 2, (rows - 1)..<rows).contiguous()
    }
    return (
      try keys[layer].sliced(axis: 2, 0..<(length + t)), try values[layer].sliced(axis: 2, 0..<(length + t))
    )
  }

  /// Counts `rows` rows that a fused decoding step wrote straight into every layer's ``keys`` and
  /// ``values`` storage at rows `length ..< length + rows`.
  public func advance(rows: Int) throws {
    guard rows >= 0, length + rows <= capacity, pending.allSatisfy({ $0 == 0 }) else {
      throw TensorError("KVCache", "\(length + rows) positions exceed the cache capacity \(capacity)")
    }
    length += rows
  }

  /// Advances `length` past the positions appended in this forward pass.
  public func commit() {
    length += pending.max() ?? 0
    for i in pending.indices { pending[i] = 0 }
  }

  /// Sets the row count after a load: `rows` loaded rows standing for `rows + omitted` positions, the first
  /// `fixed` of which a rollback never removes.
  func setContents(rows: Int, omitted: Int, fixed: Int) {
    length = rows
    omittedPositions = omitted
    fixedRows = fixed
    for i in pending.indices { pending[i] = 0 }
  }

  /// Forgets rows from `newLength` on.
  public func rollback(to newLength: Int) {
    precondition(
      newLength >= fixedRows && newLength <= length, "KVCache: cannot roll back to \(newLength) from \(length)")
    length = newLength
  }
}

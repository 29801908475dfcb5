import TensorCore

/// One attention layer's keys and values, preallocated, with rollback: the decoding state of a
/// transformer layer.
///
/// Storage is [B, G, capacity, D] (B sequences, G key/value heads, D head width); the first ``length``
/// rows are valid. Appending writes in place; ``rollback(toRows:)`` forgets rows (speculative decoding
/// rejects drafted tokens this way) without touching memory.
///
/// A state may hold only some of the sequence's positions (a sparse or windowed cache, see
/// ``load(keys:values:position:fixedRows:)``): rows then carry keys that were rotated at their own absolute
/// positions, and ``position`` (not ``length``) is the position of the next token.
///
/// Subclasses may watch the queries of each pass (TriForce's retrieval cache scores chunks against the
/// last query); ``observesQueries`` tells a model's fused decoding step, which computes no query tensors,
/// to stay off.
open class AttentionKV: LayerState {
  /// Keys, [B, G, capacity, D].
  public let keys: Tensor
  /// Values, [B, G, capacity, D].
  public let values: Tensor
  /// Rows held.
  public private(set) var length = 0
  /// Rows the state can hold.
  public let capacity: Int
  /// Sequence positions that are not held (dropped by a sparse or windowed load); 0 for a dense cache.
  public private(set) var omittedPositions = 0
  /// Rows that a rollback never removes (set by ``load(keys:values:position:fixedRows:)``; 0 for a dense cache).
  public private(set) var fixedRows = 0

  /// Allocates room for `capacity` rows of `batch` sequences.
  public required init(batch: Int, heads: Int, capacity: Int, headDimensions: Int) {
    self.capacity = capacity
    keys = Tensor.zeros([batch, heads, capacity, headDimensions])
    values = Tensor.zeros([batch, heads, capacity, headDimensions])
  }

  public var kind: String { "attention" }

  /// The sequence position of the next token (``length`` plus the omitted positions).
  public var position: Int { length + omittedPositions }

  /// Sequences B, key/value heads G and head width D of the storage.
  public var layout: (batch: Int, heads: Int, headDimensions: Int) { (keys.shape[0], keys.shape[1], keys.shape[3]) }

  /// Whether ``append(keys:values:queries:)`` needs the queries of each pass (false here).
  open var observesQueries: Bool { false }

  /// Appends new keys and values [B, G, T, D] at rows `length ..< length + T` and returns views of everything
  /// held, [B, G, length + T, D]. `queries` [B, H, T, D] are the pass's queries, for subclasses that watch them.
  @discardableResult
  open func append(keys newKeys: Tensor, values newValues: Tensor, queries: Tensor? = nil) throws -> (
    keys: Tensor, values: Tensor
  ) {
    guard newKeys.rank == 4, newKeys.shape == newValues.shape else {
      throw TensorError.shapes("AttentionKV", newKeys.shape, newValues.shape, "keys and values must be [B, G, T, D]")
    }
    let t = newKeys.shape[2]
    guard length + t <= capacity else {
      throw TensorError("AttentionKV", "\(length + t) positions exceed the cache capacity \(capacity)")
    }
    guard newKeys.shape[0] == keys.shape[0], newKeys.shape[1] == keys.shape[1], newKeys.shape[3] == keys.shape[3] else {
      throw TensorError.shapes("AttentionKV", newKeys.shape, keys.shape, "do not match the cache layout")
    }
    try keys.assign(newKeys, axis: 2, at: length)
    try values.assign(newValues, axis: 2, at: length)
    length += t
    return try heldRows()
  }

  /// Counts `rows` rows that a fused decoding step wrote straight into ``keys`` and ``values`` at rows
  /// `length ..< length + rows`.
  public func advance(rows: Int) throws {
    guard rows >= 0, length + rows <= capacity else {
      throw TensorError("AttentionKV", "\(length + rows) positions exceed the cache capacity \(capacity)")
    }
    length += rows
  }

  /// Rows [B, G, length, D] of keys and values (views).
  public func heldRows() throws -> (keys: Tensor, values: Tensor) {
    (try keys.sliced(axis: 2, 0..<length), try values.sliced(axis: 2, 0..<length))
  }

  /// Forgets rows from `rows` on (at least ``fixedRows`` stay).
  public func rollback(toRows rows: Int) throws {
    guard rows >= fixedRows, rows <= length else {
      throw TensorError(
        "AttentionKV",
        "cannot roll back to \(rows) rows: only rows \(fixedRows)..<\(length) of the cache can be dropped")
    }
    length = rows
  }

  public func trim(toPosition position: Int) throws {
    let rows = position - omittedPositions
    guard rows >= fixedRows, rows <= length else {
      throw TensorError(
        "AttentionKV",
        "cannot trim to position \(position): only positions \(fixedRows + omittedPositions)..<\(self.position) "
          + "of the cache can be dropped")
    }
    length = rows
  }

  /// Replaces the contents with `keys` and `values` [B, G, R, D] that stand for the first `position`
  /// positions of the sequence; the next token sits at `position`.
  ///
  /// Sparse caches (retrieval, StreamingLLM) are built this way from already rotated keys, so every row
  /// keeps its absolute position. A rollback never removes the first `fixedRows` rows (default: all loaded
  /// rows); rows after them must stand for consecutive positions ending at `position`.
  public func load(keys newKeys: Tensor, values newValues: Tensor, position: Int, fixedRows: Int? = nil) throws {
    let rows = newKeys.rank == 4 ? newKeys.shape[2] : -1
    guard rows >= 0, newValues.shape == newKeys.shape, newKeys.shape[0] == keys.shape[0],
      newKeys.shape[1] == keys.shape[1], newKeys.shape[3] == keys.shape[3]
    else {
      throw TensorError.shapes("AttentionKV", newKeys.shape, keys.shape, "rows to load do not match the cache layout")
    }
    guard rows <= capacity, rows <= position else {
      throw TensorError("AttentionKV", "cannot load \(rows) rows for \(position) positions into capacity \(capacity)")
    }
    if rows > 0 {
      try keys.assign(newKeys, axis: 2, at: 0)
      try values.assign(newValues, axis: 2, at: 0)
    }
    length = rows
    omittedPositions = position - rows
    self.fixedRows = min(fixedRows ?? rows, rows)
  }

  /// Appends rows `range` of `source` (the same layout), e.g. the keys and values of newly accepted tokens
  /// from a full cache into a sparse one. The rows must stand for the positions that follow ``position``.
  public func appendRows(of source: AttentionKV, _ range: Range<Int>) throws {
    guard range.lowerBound >= 0, range.upperBound <= source.length else {
      throw TensorError("AttentionKV", "rows \(range) are not held by a source cache of \(source.length) rows")
    }
    guard !range.isEmpty else { return }
    try append(keys: source.keys.sliced(axis: 2, range), values: source.values.sliced(axis: 2, range))
  }

  /// A new empty state of the same layout with room for `capacity` rows (of this class, so that a subclass
  /// that watches queries stays one).
  public func makeEmpty(capacity: Int) -> Self {
    let (b, g, d) = layout
    return Self(batch: b, heads: g, capacity: capacity, headDimensions: d)
  }

  public func snapshot() -> any LayerState {
    let (b, g, d) = layout
    let copy = AttentionKV(batch: b, heads: g, capacity: capacity, headDimensions: d)
    if length > 0 {
      try? copy.keys.assign(keys.sliced(axis: 2, 0..<length), axis: 2, at: 0)
      try? copy.values.assign(values.sliced(axis: 2, 0..<length), axis: 2, at: 0)
    }
    (copy.length, copy.omittedPositions, copy.fixedRows) = (length, omittedPositions, fixedRows)
    return copy
  }

  public func restore(_ snapshot: any LayerState) throws {
    guard let saved = snapshot as? AttentionKV else {
      throw TensorError("AttentionKV", "cannot restore attention keys and values from a \(snapshot.kind) state")
    }
    let (k, v) = try saved.heldRows()
    try load(keys: k, values: v, position: saved.position, fixedRows: saved.fixedRows)
  }

  public func tensors() throws -> (tensors: [String: Tensor], metadata: [String: String]) {
    let (k, v) = try heldRows()
    return (
      ["keys": k.contiguous(), "values": v.contiguous()],
      ["position": String(position), "fixed_rows": String(fixedRows)]
    )
  }

  public func load(tensors: [String: Tensor], metadata: [String: String]) throws {
    guard let k = tensors["keys"], let v = tensors["values"] else {
      throw TensorError("AttentionKV", "a saved attention state needs tensors keys and values")
    }
    guard let position = metadata["position"].flatMap({ Int($0) }), position >= 0 else {
      throw TensorError("AttentionKV", "a saved attention state needs a non-negative position in its metadata")
    }
    let (b, g, d) = layout
    guard k.rank == 4, k.shape[0] == b, k.shape[1] == g, k.shape[3] == d, v.shape == k.shape else {
      throw TensorError(
        "AttentionKV", "saved keys \(k.shape) and values \(v.shape) do not fit this model's cache [\(b), \(g), R, \(d)]"
      )
    }
    guard k.shape[2] <= capacity else {
      throw TensorError("AttentionKV", "the saved state holds \(k.shape[2]) rows; this cache has room for \(capacity)")
    }
    let fixed = metadata["fixed_rows"].flatMap { Int($0) } ?? 0
    guard fixed >= 0, fixed <= k.shape[2], position >= k.shape[2] else {
      throw TensorError("AttentionKV", "the saved metadata (position \(position), fixed rows \(fixed)) is inconsistent")
    }
    try load(
      keys: k.converted(to: .float32).contiguous(), values: v.converted(to: .float32).contiguous(), position: position,
      fixedRows: fixed)
  }
}

import TensorCore

extension KVCache {
  /// Replaces the contents with `keys` and `values` per layer ([B, G, R, D], the same R everywhere) that
  /// stand for the first `position` positions of the sequence; the next token sits at `position`.
  ///
  /// Sparse caches (retrieval, StreamingLLM) are built this way from already rotated keys, so every
  /// row keeps its absolute position. A rollback never removes the first `fixedRows` rows (default: all
  /// loaded rows); rows after them must stand for consecutive positions ending at `position`.
  public func load(keys newKeys: [Tensor], values newValues: [Tensor], position: Int, fixedRows: Int? = nil) throws {
    guard newKeys.count == keys.count, newValues.count == values.count else {
      throw TensorError("KVCache", "load needs \(keys.count) layers, got \(newKeys.count) and \(newValues.count)")
    }
    let rows = newKeys.first?.shape[2] ?? 0
    guard rows <= capacity, rows <= position else {
      throw TensorError("KVCache", "cannot load \(rows) rows for \(position) positions into capacity \(capacity)")
    }
    for layer in keys.indices {
      guard newKeys[layer].shape[2] == rows, newValues[layer].shape == newKeys[layer].shape else {
        throw TensorError.shapes(
          "KVCache", newKeys[layer].shape, newValues[layer].shape, "layers must load the same number of rows")
      }
      if rows > 0 {
        try keys[layer].assign(newKeys[layer], axis: 2, at: 0)
        try values[layer].assign(newValues[layer], axis: 2, at: 0)
      }
    }
    setContents(rows: rows, omitted: position - rows, fixed: min(fixedRows ?? rows, rows))
  }

  /// Appends rows `range` of `source` (the same layout) to every layer, e.g. the keys and values of newly
  /// accepted tokens from a full cache into a sparse one. The rows must stand for the positions that
  /// follow ``nextPosition``.
  public func appendRows(of source: KVCache, _ range: Range<Int>) throws {
    guard range.lowerBound >= 0, range.upperBound <= source.length, source.keys.count == keys.count else {
      throw TensorError("KVCache", "rows \(range) are not held by a source cache of \(source.length) rows")
    }
    guard !range.isEmpty else { return }
    for layer in keys.indices {
      _ = try append(
        layer: layer, keys: source.keys[layer].sliced(axis: 2, range),
        values: source.values[layer].sliced(axis: 2, range))
    }
    commit()
  }

  /// Rows [B, G, length, D] of keys and values of one layer (views).
  public func heldRows(layer: Int) throws -> (keys: Tensor, values: Tensor) {
    (try keys[layer].sliced(axis: 2, 0..<length), try values[layer].sliced(axis: 2, 0..<length))
  }

  /// Forgets every position from `position` on (rows past the loaded ones only).
  public func rollback(toPosition position: Int) throws {
    let rows = position - omittedPositions
    guard rows >= fixedRows, rows <= length else {
      throw TensorError(
        "KVCache",
        "cannot roll back to position \(position): only rows \(fixedRows)..<\(length) of the cache can be dropped")
    }
    rollback(to: rows)
  }
}

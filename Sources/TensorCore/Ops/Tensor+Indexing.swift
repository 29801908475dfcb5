import Kernels

extension Tensor {
  /// An int64 contiguous copy of an index tensor; float tensors are rejected.
  func indexTensor(_ op: String) throws -> Tensor {
    guard dtype == .int64 || dtype == .int32 else {
      throw TensorError(op, "indices must be int32 or int64, got \(dtype)")
    }
    return converted(to: .int64).contiguous()
  }

  /// Rows `indices` of axis `axis` (torch.index_select); the result has `indices.count` entries on that axis.
  public func indexSelect(axis: Int, indices: Tensor) throws -> Tensor {
    let a = try checkedAxis(axis, "indexSelect")
    let idx = try indices.indexTensor("indexSelect")
    let x = detached().float32Contiguous()
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    var s = shape
    s[a] = idx.count
    let out = Tensor(uninitializedShape: s)
    guard
      Indexing.indexSelect(
        x.pointer(), index: idx.pointer(Int64.self), count: idx.count, out.pointer(), outer: outer,
        axisSize: shape[a], inner: inner)
    else {
      throw TensorError("indexSelect", "an index is outside 0..<\(shape[a]) (axis \(axis) of shape \(shape))")
    }
    let inputShape = shape
    return out.recorded("indexSelect", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor.zeros(inputShape)
      _ = Indexing.indexAdd(
        gc.pointer(), index: idx.pointer(Int64.self), count: idx.count, into: dx.pointer(), outer: outer,
        axisSize: inputShape[a], inner: inner)
      return [dx]
    }
  }

  /// Embedding lookup: `self` is a [vocabulary, dim] table, the result has shape ids.shape + [dim].
  public func embedding(_ ids: Tensor) throws -> Tensor {
    guard rank == 2 else { throw TensorError("embedding", "the table must be 2-D [vocabulary, dim], got \(shape)") }
    let flat = try ids.indexTensor("embedding").reshaped([ids.count])
    return try indexSelect(axis: 0, indices: flat).reshaped(ids.shape + [shape[1]])
  }

  /// torch.gather: out[..., i, ...] = self[..., index[..., i, ...], ...] along `axis`; `index` has self's rank
  /// and matches its shape on every other axis.
  public func gather(axis: Int, index: Tensor) throws -> Tensor {
    let a = try checkedAxis(axis, "gather")
    let idx = try index.indexTensor("gather")
    var expect = shape
    expect[a] = idx.rank == rank ? idx.shape[a] : -1
    guard idx.shape == expect else {
      throw TensorError.shapes("gather", shape, index.shape, "do not match outside axis \(axis)")
    }
    let x = detached().float32Contiguous()
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    let out = Tensor(uninitializedShape: idx.shape)
    guard
      Indexing.gather(
        x.pointer(), index: idx.pointer(Int64.self), out.pointer(), outer: outer, axisSize: shape[a],
        indexCount: idx.shape[a], inner: inner)
    else {
      throw TensorError("gather", "an index is outside 0..<\(shape[a]) (axis \(axis) of shape \(shape))")
    }
    let inputShape = shape
    return out.recorded("gather", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor.zeros(inputShape)
      _ = Indexing.scatterAdd(
        gc.pointer(), index: idx.pointer(Int64.self), into: dx.pointer(), outer: outer, axisSize: inputShape[a],
        indexCount: idx.shape[a], inner: inner)
      return [dx]
    }
  }

  /// torch.scatter_add: a copy of `self` with `source` added at `index` along `axis`.
  public func scatterAdding(axis: Int, index: Tensor, source: Tensor) throws -> Tensor {
    let a = try checkedAxis(axis, "scatterAdd")
    let idx = try index.indexTensor("scatterAdd")
    guard idx.shape == source.shape else {
      throw TensorError.shapes("scatterAdd", index.shape, source.shape, "differ: index and source must match")
    }
    var expect = shape
    expect[a] = idx.rank == rank ? idx.shape[a] : -1
    guard idx.shape == expect else {
      throw TensorError.shapes("scatterAdd", shape, index.shape, "do not match outside axis \(axis)")
    }
    let out = detached().float32Contiguous().copied()
    let src = source.detached().float32Contiguous()
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    guard
      Indexing.scatterAdd(
        src.pointer(), index: idx.pointer(Int64.self), into: out.pointer(), outer: outer, axisSize: shape[a],
        indexCount: idx.shape[a], inner: inner)
    else {
      throw TensorError("scatterAdd", "an index is outside 0..<\(shape[a]) (axis \(axis) of shape \(shape))")
    }
    return out.recorded("scatterAdd", [self, source]) { g in
      [g, try g.gather(axis: a, index: idx)]
    }
  }

  /// A fresh contiguous copy that shares nothing with `self`.
  public func copied() -> Tensor {
    let c = contiguous()
    let out = Tensor(uninitializedShape: shape, dtype: dtype)
    out.storage.copyBytes(
      from: c.storage, sourceOffset: c.offset * dtype.byteSize, destinationOffset: 0, byteCount: count * dtype.byteSize)
    return out.recorded("copy", [self]) { g in [g] }
  }

  /// One-hot float encoding of an index tensor: shape + [classes].
  public func oneHot(classes: Int) throws -> Tensor {
    let idx = try indexTensor("oneHot")
    let out = Tensor(uninitializedShape: shape + [classes])
    guard Indexing.oneHot(idx.pointer(Int64.self), count: idx.count, classes: classes, out.pointer()) else {
      throw TensorError("oneHot", "an index is outside 0..<\(classes)")
    }
    return out
  }

  /// Inverted dropout: zeroes each element with probability `p` and scales the rest by 1/(1-p).
  public func dropout(probability p: Float, generator: inout RandomGenerator) throws -> Tensor {
    guard p >= 0 && p < 1 else { throw TensorError("dropout", "probability must be in [0, 1), got \(p)") }
    if p == 0 { return self }
    let mask = Tensor(uninitializedShape: shape)
    generator.fillDropoutMask(mask.pointer(), count: mask.count, probability: p)
    return try self * mask
  }
}

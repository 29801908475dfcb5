import Kernels

extension Tensor {
  /// Writes `source` into entries `offset ..< offset + source.shape[axis]` of `axis`, in place.
  ///
  /// This mutates storage shared by every view of it and is not recorded for gradients: it is for
  /// caches and buffers, not for model computation. `self` must be contiguous float32.
  public func assign(_ source: Tensor, axis: Int, at offset: Int) throws {
    let a = try checkedAxis(axis, "assign")
    var expected = shape
    expected[a] = source.rank == rank ? source.shape[a] : -1
    guard source.shape == expected, offset >= 0, offset + source.shape[a] <= shape[a] else {
      throw TensorError.shapes("assign", source.shape, shape, "do not fit at offset \(offset) of axis \(axis)")
    }
    guard dtype == .float32, isContiguous, !storage.isMapped else {
      throw TensorError("assign", "the destination must be a writable contiguous float32 tensor")
    }
    let src = source.detached().float32Contiguous()
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    Concatenation.insert(
      src.pointer(), into: pointer(), outer: outer, partAxis: source.shape[a], wholeAxis: shape[a], axisOffset: offset,
      inner: inner)
  }
}

extension Tensor {
  /// Adds `source` into `self` in place: the whole tensor (`axis` nil, shapes equal) or the region
  /// `offset ..< offset + source.shape[axis]` of `axis`. For gradient buffers the tape owns.
  func accumulate(_ source: Tensor, axis: Int?, at offset: Int) throws {
    precondition(isContiguous && dtype == .float32 && !storage.isMapped, "accumulate: destination must be owned")
    let src = source.detached().float32Contiguous()
    guard let axis else {
      guard source.shape == shape else {
        throw TensorError.shapes("accumulate", source.shape, shape, "differ")
      }
      Elementwise.accumulate(src.pointer(), into: pointer(), count: count)
      return
    }
    let outer = shape[..<axis].reduce(1, *)
    let inner = shape[(axis + 1)...].reduce(1, *)
    Concatenation.accumulate(
      src.pointer(), into: pointer(), outer: outer, partAxis: source.shape[axis], wholeAxis: shape[axis],
      axisOffset: offset, inner: inner)
  }

  /// A contiguous copy in fresh storage (no tape record).
  func copiedStorage() -> Tensor {
    let out = Tensor(uninitializedShape: shape, dtype: dtype)
    out.storage.copyBytes(
      from: storage, sourceOffset: offset * dtype.byteSize, destinationOffset: 0, byteCount: count * dtype.byteSize)
    return out
  }
}

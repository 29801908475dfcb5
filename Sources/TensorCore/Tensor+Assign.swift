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

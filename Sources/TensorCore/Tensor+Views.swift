import Kernels

extension Tensor {
  /// The same elements in a new shape; one axis may be -1 (inferred). A view when the layout allows.
  public func reshaped(_ newShape: [Int]) throws -> Tensor {
    var target = newShape
    let known = newShape.filter { $0 != -1 }.reduce(1, *)
    let inferred = newShape.filter { $0 == -1 }.count
    if inferred > 1 || newShape.contains(where: { $0 < -1 }) {
      throw TensorError("reshape", "target shape \(newShape) may hold at most one -1 and no other negative size")
    }
    if inferred == 1 {
      guard known > 0, count % known == 0 else {
        throw TensorError.shapes("reshape", shape, newShape, "are incompatible: \(count) elements")
      }
      target[newShape.firstIndex(of: -1)!] = count / known
    }
    guard target.reduce(1, *) == count else {
      throw TensorError.shapes("reshape", shape, newShape, "hold different numbers of elements")
    }
    if target == shape { return self }
    let source = contiguous()
    let out = Tensor(storage: source.storage, shape: target, offset: source.offset, dtype: dtype)
    let inputShape = shape
    return withNode(of: source, as: out, "reshape") { g in [try g.reshaped(inputShape)] }
  }

  /// Flattens axes `start...end` into one.
  public func flattened(from start: Int = 0, to end: Int = -1) throws -> Tensor {
    let s = try checkedAxis(start, "flatten")
    let e = try checkedAxis(end, "flatten")
    guard s <= e else { return self }
    let merged = shape[s...e].reduce(1, *)
    return try reshaped(Array(shape[..<s]) + [merged] + Array(shape[(e + 1)...]))
  }

  /// Inserts a size-1 axis at `axis` (a view).
  public func unsqueezed(_ axis: Int) throws -> Tensor {
    let a = axis < 0 ? axis + rank + 1 : axis
    guard a >= 0 && a <= rank else { throw TensorError("unsqueeze", "axis \(axis) out of range for shape \(shape)") }
    var s = shape
    var st = strides
    s.insert(1, at: a)
    st.insert(a < rank ? strides[a] * shape[a] : 1, at: a)
    let out = Tensor(storage: storage, shape: s, strides: st, offset: offset, dtype: dtype)
    let inputShape = shape
    return out.recorded("unsqueeze", [self]) { g in [try g.reshaped(inputShape)] }
  }

  /// Removes the size-1 axis at `axis` (a view).
  public func squeezed(_ axis: Int) throws -> Tensor {
    let a = try checkedAxis(axis, "squeeze")
    guard shape[a] == 1 else { throw TensorError("squeeze", "axis \(axis) of shape \(shape) is not of size 1") }
    var s = shape
    var st = strides
    s.remove(at: a)
    st.remove(at: a)
    let out = Tensor(storage: storage, shape: s, strides: st, offset: offset, dtype: dtype)
    let inputShape = shape
    return out.recorded("squeeze", [self]) { g in [try g.reshaped(inputShape)] }
  }

  /// Reorders the axes: result axis i is input axis `order[i]` (a view).
  public func permuted(_ order: [Int]) throws -> Tensor {
    let axes = try order.map { try checkedAxis($0, "permute") }
    guard axes.count == rank, Set(axes).count == rank else {
      throw TensorError("permute", "order \(order) is not a permutation of the axes of shape \(shape)")
    }
    let out = Tensor(
      storage: storage, shape: axes.map { shape[$0] }, strides: axes.map { strides[$0] }, offset: offset, dtype: dtype)
    var inverse = [Int](repeating: 0, count: rank)
    for (i, a) in axes.enumerated() { inverse[a] = i }
    return out.recorded("permute", [self]) { g in [try g.permuted(inverse)] }
  }

  /// Swaps two axes (a view).
  public func transposed(_ a: Int = -2, _ b: Int = -1) throws -> Tensor {
    var order = Array(0..<rank)
    let x = try checkedAxis(a, "transpose")
    let y = try checkedAxis(b, "transpose")
    order.swapAt(x, y)
    return try permuted(order)
  }

  /// Elements `range` along `axis` (a view). The range is clamped like Python slicing is not: it must fit.
  public func sliced(axis: Int, _ range: Range<Int>) throws -> Tensor {
    let a = try checkedAxis(axis, "slice")
    guard range.lowerBound >= 0 && range.upperBound <= shape[a] else {
      throw TensorError("slice", "range \(range) is outside axis \(axis) of size \(shape[a]) in shape \(shape)")
    }
    var s = shape
    s[a] = range.count
    let out = Tensor(
      storage: storage, shape: s, strides: strides, offset: offset + range.lowerBound * strides[a], dtype: dtype)
    let inputShape = shape
    return out.recordedSlice(of: self, axis: a, start: range.lowerBound) { g in
      [try g.padded(axis: a, before: range.lowerBound, after: inputShape[a] - range.upperBound)]
    }
  }

  /// Broadcasts size-1 axes (and new leading axes) to `target` without copying (stride 0).
  public func expanded(to target: [Int]) throws -> Tensor {
    if target == shape { return self }
    guard target.count >= rank else {
      throw TensorError.shapes("expand", shape, target, "cannot be expanded: target has fewer axes")
    }
    let lead = target.count - rank
    var st = [Int](repeating: 0, count: target.count)
    for d in 0..<rank {
      if shape[d] == target[lead + d] {
        st[lead + d] = strides[d]
      } else if shape[d] == 1 {
        st[lead + d] = 0
      } else {
        throw TensorError.shapes("expand", shape, target, "cannot be expanded: axis \(d) is not 1")
      }
    }
    let out = Tensor(storage: storage, shape: target, strides: st, offset: offset, dtype: dtype)
    let inputShape = shape
    return out.recorded("expand", [self]) { g in [try g.summed(toShape: inputShape)] }
  }

  /// Sums a broadcast gradient back down to `target` (the inverse of broadcasting).
  public func summed(toShape target: [Int]) throws -> Tensor {
    if shape == target { return self }
    var t = self
    let lead = rank - target.count
    guard lead >= 0 else { throw TensorError.shapes("sumToShape", shape, target, "cannot be reduced") }
    if lead > 0 { t = try t.reshaped([Array(shape[..<lead]).reduce(1, *)] + Array(shape[lead...])).sum(axes: [0]) }
    var axes: [Int] = []
    for d in 0..<target.count where target[d] == 1 && t.shape[d] != 1 { axes.append(d) }
    if !axes.isEmpty { t = try t.sum(axes: axes, keepingDimensions: true) }
    guard t.shape == target else { throw TensorError.shapes("sumToShape", shape, target, "cannot be reduced") }
    return t
  }

  /// Carries the autograd record from the contiguous source into a reshaped view of it.
  fileprivate func withNode(
    of source: Tensor, as out: Tensor, _ name: String, _ backward: @escaping (Tensor) throws -> [Tensor?]
  ) -> Tensor {
    out.recorded(name, [source], backward)
  }
}

/// The shape two shapes broadcast to, or nil when they cannot.
public func broadcastShape(_ a: [Int], _ b: [Int]) -> [Int]? {
  let n = max(a.count, b.count)
  var out = [Int](repeating: 1, count: n)
  for i in 0..<n {
    let x = i < n - a.count ? 1 : a[i - (n - a.count)]
    let y = i < n - b.count ? 1 : b[i - (n - b.count)]
    if x == y || y == 1 {
      out[i] = x
    } else if x == 1 {
      out[i] = y
    } else {
      return nil
    }
  }
  return out
}

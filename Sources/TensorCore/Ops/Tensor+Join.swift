import Kernels

extension Tensor {
  /// Joins tensors along an existing axis; all other axes must match.
  public static func concatenate(_ parts: [Tensor], axis: Int) throws -> Tensor {
    guard let first = parts.first else { throw TensorError("concatenate", "needs at least one tensor") }
    let a = try first.checkedAxis(axis, "concatenate")
    for p in parts.dropFirst() {
      var s1 = p.shape
      var s0 = first.shape
      guard p.rank == first.rank else {
        throw TensorError.shapes("concatenate", first.shape, p.shape, "have different ranks")
      }
      s1[a] = 0
      s0[a] = 0
      guard s0 == s1 else {
        throw TensorError.shapes("concatenate", first.shape, p.shape, "differ outside axis \(axis)")
      }
    }
    let sizes = parts.map { $0.shape[a] }
    let total = sizes.reduce(0, +)
    var outShape = first.shape
    outShape[a] = total
    let out = Tensor(uninitializedShape: outShape)
    let outer = first.shape[..<a].reduce(1, *)
    let inner = first.shape[(a + 1)...].reduce(1, *)
    var offset = 0
    for p in parts {
      let c = p.detached().float32Contiguous()
      Concatenation.insert(
        c.pointer(), into: out.pointer(), outer: outer, partAxis: p.shape[a], wholeAxis: total, axisOffset: offset,
        inner: inner)
      offset += p.shape[a]
    }
    return out.recorded("concatenate", parts) { g in
      var start = 0
      return try sizes.map { n in
        defer { start += n }
        return try g.sliced(axis: a, start..<(start + n))
      }
    }
  }

  /// Stacks equally shaped tensors along a new axis.
  public static func stack(_ parts: [Tensor], axis: Int = 0) throws -> Tensor {
    guard let first = parts.first else { throw TensorError("stack", "needs at least one tensor") }
    for p in parts where p.shape != first.shape {
      throw TensorError.shapes("stack", first.shape, p.shape, "differ; stacked tensors must have equal shapes")
    }
    return try concatenate(parts.map { try $0.unsqueezed(axis) }, axis: axis < 0 ? axis : axis)
  }

  /// Splits along `axis` into pieces of the given sizes (views).
  public func split(sizes: [Int], axis: Int) throws -> [Tensor] {
    let a = try checkedAxis(axis, "split")
    guard sizes.reduce(0, +) == shape[a], sizes.allSatisfy({ $0 >= 0 }) else {
      throw TensorError("split", "sizes \(sizes) do not add up to axis \(axis) of shape \(shape)")
    }
    var start = 0
    return try sizes.map { n in
      defer { start += n }
      return try sliced(axis: a, start..<(start + n))
    }
  }

  /// Splits along `axis` into `chunks` nearly equal pieces (the last may be smaller, like PyTorch).
  public func chunked(_ chunks: Int, axis: Int) throws -> [Tensor] {
    let a = try checkedAxis(axis, "chunk")
    guard chunks > 0 else { throw TensorError("chunk", "needs a positive number of chunks, got \(chunks)") }
    let step = (shape[a] + chunks - 1) / chunks
    var sizes: [Int] = []
    var left = shape[a]
    while left > 0 {
      sizes.append(Swift.min(step, left))
      left -= step
    }
    return try split(sizes: sizes, axis: a)
  }

  /// Pads `axis` with `before` and `after` entries of `value`.
  public func padded(axis: Int, before: Int, after: Int, value: Float = 0) throws -> Tensor {
    let a = try checkedAxis(axis, "pad")
    guard before >= 0 && after >= 0 else {
      throw TensorError("pad", "padding must be non-negative, got \(before) and \(after)")
    }
    let x = detached().float32Contiguous()
    var s = shape
    s[a] += before + after
    let out = Tensor(uninitializedShape: s)
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    Layout.pad(
      x.pointer(), out.pointer(), outer: outer, axisSize: shape[a], inner: inner, before: before, after: after,
      value: value)
    let n = shape[a]
    return out.recorded("pad", [self]) { g in [try g.sliced(axis: a, before..<(before + n))] }
  }

  /// Inclusive cumulative sum along `axis`.
  public func cumulativeSum(axis: Int) throws -> Tensor {
    let a = try checkedAxis(axis, "cumsum")
    let x = detached().float32Contiguous()
    let out = Tensor(uninitializedShape: shape)
    let outer = shape[..<a].reduce(1, *)
    let inner = shape[(a + 1)...].reduce(1, *)
    Indexing.cumsum(x.pointer(), out.pointer(), outer: outer, axisSize: shape[a], inner: inner, reverse: false)
    return out.recorded("cumsum", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: gc.shape)
      Indexing.cumsum(gc.pointer(), dx.pointer(), outer: outer, axisSize: self.shape[a], inner: inner, reverse: true)
      return [dx]
    }
  }
}

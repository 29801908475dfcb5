import Kernels

extension Tensor {
  /// The reduced axes, sorted, validated and deduplicated; all axes when `axes` is nil.
  func reductionAxes(_ axes: [Int]?, _ op: String) throws -> [Int] {
    guard let axes else { return Array(0..<rank) }
    return Array(Set(try axes.map { try checkedAxis($0, op) })).sorted()
  }

  /// Shape after reducing `axes` with the axes kept as size 1.
  func keptShape(_ axes: [Int]) -> [Int] {
    var s = shape
    for a in axes { s[a] = 1 }
    return s
  }

  /// Arranges the data as contiguous [outer, reduce, inner] for a reduction over `axes`.
  func reductionLayout(_ axes: [Int]) throws -> (data: Tensor, outer: Int, reduce: Int, inner: Int) {
    let x = detached().float32Contiguous()
    if axes.isEmpty { return (x, count, 1, 1) }
    let isRange = axes.last! - axes.first! + 1 == axes.count
    if isRange {
      let outer = shape[..<axes.first!].reduce(1, *)
      let reduce = axes.map { shape[$0] }.reduce(1, *)
      return (x, outer, reduce, count / Swift.max(outer * reduce, 1))
    }
    let kept = (0..<rank).filter { !axes.contains($0) }
    let moved = try x.permuted(kept + axes).contiguous()
    let reduce = axes.map { shape[$0] }.reduce(1, *)
    return (moved, count / Swift.max(reduce, 1), reduce, 1)
  }

  /// Output of a reduction, reshaped to the kept or squeezed shape.
  func reductionResult(_ values: Tensor, _ axes: [Int], keep: Bool) throws -> Tensor {
    let kept = keptShape(axes)
    if keep { return try values.reshaped(kept) }
    return try values.reshaped((0..<rank).filter { !axes.contains($0) }.map { shape[$0] })
  }

  /// A gradient of the reduced shape broadcast back to the input shape.
  func broadcastBack(_ g: Tensor, _ axes: [Int]) throws -> Tensor {
    try g.reshaped(keptShape(axes)).expanded(to: shape)
  }

  private func reduceKernel(_ kind: Reduction.Kind, _ axes: [Int]) throws -> Tensor {
    let (x, outer, reduce, inner) = try reductionLayout(axes)
    let out = Tensor(uninitializedShape: [outer * inner])
    Reduction.reduce(kind, x.pointer(), out.pointer(), outer: outer, reduce: reduce, inner: inner)
    return out
  }

  /// Sum over `axes` (all when nil).
  public func sum(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> Tensor {
    let ax = try reductionAxes(axes, "sum")
    let out = try reductionResult(try reduceKernel(.sum, ax), ax, keep: keep)
    return out.recorded("sum", [self]) { g in [try self.broadcastBack(g, ax)] }
  }

  /// Mean over `axes` (all when nil).
  public func mean(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> Tensor {
    let ax = try reductionAxes(axes, "mean")
    let n = Float(ax.map { shape[$0] }.reduce(1, *))
    return try sum(axes: ax, keepingDimensions: keep) / n
  }

  /// Maximum over `axes`; ties share the gradient evenly.
  public func max(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> Tensor {
    try reduceExtremum(.max, axes, keep, "max")
  }

  /// Minimum over `axes`; ties share the gradient evenly.
  public func min(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> Tensor {
    try reduceExtremum(.min, axes, keep, "min")
  }

  private func reduceExtremum(_ kind: Reduction.Kind, _ axes: [Int]?, _ keep: Bool, _ name: String) throws -> Tensor {
    let ax = try reductionAxes(axes, name)
    let values = try reduceKernel(kind, ax)
    let out = try reductionResult(values, ax, keep: keep)
    let x = detached()
    return out.recorded(name, [self]) { g in
      let m = try values.reshaped(self.keptShape(ax))
      let mask = try x.compared(.equal, m)
      let ties = try mask.sum(axes: ax, keepingDimensions: true)
      return [try mask * (try g.reshaped(self.keptShape(ax)) / ties)]
    }
  }

  /// log(sum(exp(x))) over `axes`, computed stably.
  public func logSumExp(axes: [Int]? = nil, keepingDimensions keep: Bool = false) throws -> Tensor {
    let ax = try reductionAxes(axes, "logsumexp")
    let values = try reduceKernel(.logSumExp, ax)
    let out = try reductionResult(values, ax, keep: keep)
    let x = detached()
    return out.recorded("logsumexp", [self]) { g in
      let lse = try values.reshaped(self.keptShape(ax))
      let p = try (x - lse).exp()
      return [try p * g.reshaped(self.keptShape(ax))]
    }
  }

  /// Variance over `axes` with `correction` subtracted from the count (0: population, 1: sample).
  public func variance(axes: [Int]? = nil, correction: Int = 0, keepingDimensions keep: Bool = false) throws -> Tensor {
    let ax = try reductionAxes(axes, "variance")
    let (x, outer, reduce, inner) = try reductionLayout(ax)
    guard reduce - correction > 0 else {
      throw TensorError("variance", "needs more than \(correction) elements along axes \(ax) of shape \(shape)")
    }
    let mean = Tensor(uninitializedShape: [outer * inner])
    let variance = Tensor(uninitializedShape: [outer * inner])
    Reduction.moments(
      x.pointer(), mean: mean.pointer(), variance: variance.pointer(), outer: outer, reduce: reduce, inner: inner,
      correction: correction)
    let out = try reductionResult(variance, ax, keep: keep)
    let input = detached()
    return out.recorded("variance", [self]) { g in
      let m = try mean.reshaped(self.keptShape(ax))
      let scale = 2 / Float(reduce - correction)
      return [try (input - m) * g.reshaped(self.keptShape(ax)) * scale]
    }
  }

  /// Index of the maximum along `axis` (int64; first index on ties).
  public func argmax(axis: Int, keepingDimensions keep: Bool = false) throws -> Tensor {
    try argExtremum(axis: axis, keep: keep, minimum: false)
  }

  /// Index of the minimum along `axis` (int64; first index on ties).
  public func argmin(axis: Int, keepingDimensions keep: Bool = false) throws -> Tensor {
    try argExtremum(axis: axis, keep: keep, minimum: true)
  }

  private func argExtremum(axis: Int, keep: Bool, minimum: Bool) throws -> Tensor {
    let a = try checkedAxis(axis, minimum ? "argmin" : "argmax")
    let (x, outer, reduce, inner) = try reductionLayout([a])
    let out = Tensor(uninitializedShape: [outer * inner], dtype: .int64)
    Reduction.argmax(x.pointer(), out.pointer(Int64.self), outer: outer, reduce: reduce, inner: inner, minimum: minimum)
    return try reductionResult(out, [a], keep: keep)
  }
}

extension Tensor {
  /// The flat (row-major) index of the first NaN or infinite element of a float32 tensor, or nil when every
  /// element is finite (always nil for other element types).
  public func firstNonFiniteIndex() -> Int? {
    guard dtype == .float32, count > 0 else { return nil }
    let dense = contiguous()
    return Reduction.firstNonFinite(dense.pointer(), count: dense.count)
  }
}

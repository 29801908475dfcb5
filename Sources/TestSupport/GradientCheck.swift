import TensorCore

/// The outcome of comparing analytic gradients with central finite differences.
public struct GradientCheckResult: CustomStringConvertible, Sendable {
  /// Largest violation of `|numeric - analytic| <= atol + rtol * max(|numeric|, |analytic|)`, as a ratio (<= 1 passes).
  public var worstRatio: Double
  /// Where the worst element was: input index, flat element, numeric and analytic values.
  public var worst: (input: Int, element: Int, numeric: Double, analytic: Double)
  /// Number of elements compared.
  public var checked: Int

  /// Whether every compared element was within tolerance.
  public var passed: Bool { worstRatio <= 1 }

  /// A summary naming the worst element.
  public var description: String {
    "checked \(checked) elements; worst input \(worst.input)[\(worst.element)]: numeric \(worst.numeric), "
      + "analytic \(worst.analytic) (ratio \(worstRatio))"
  }
}

/// Checks the gradients of `f` at `inputs` against central finite differences.
///
/// The output (any shape) is projected onto a fixed random tensor so that every output element
/// contributes; the projection is accumulated in Double. Only float inputs listed in `differentiable`
/// (all by default) are perturbed; large inputs are sampled (`maxElements` per input).
public func checkGradients(
  of f: ([Tensor]) throws -> Tensor, at inputs: [Tensor], differentiable: [Int]? = nil, epsilon: Float = 1e-2,
  absoluteTolerance: Double = 2e-3, relativeTolerance: Double = 2e-2, maxElements: Int = 48, seed: UInt64 = 7
) throws -> GradientCheckResult {
  var rng = RandomGenerator(seed: seed)
  let probe = try f(inputs)
  let projection = Tensor.normal(probe.shape, generator: &rng)
  let weights = projection.floats.map { Double($0) }
  func loss(_ xs: [Tensor]) throws -> Double {
    let out = try withoutGradients { try f(xs) }.floats
    var s = 0.0
    for (a, w) in zip(out, weights) { s += Double(a) * w }
    return s
  }
  let which = differentiable ?? Array(inputs.indices).filter { inputs[$0].dtype == .float32 }
  let (_, grads) = try valueAndGradient(at: which.map { inputs[$0] }) { leaves in
    var xs = inputs
    for (slot, leaf) in zip(which, leaves) { xs[slot] = leaf }
    return try (f(xs) * projection).sum()
  }
  var result = GradientCheckResult(worstRatio: 0, worst: (0, 0, 0, 0), checked: 0)
  for (g, slot) in zip(grads, which) {
    let base = inputs[slot].contiguous().floats
    let analytic = g.floats
    let n = base.count
    let picks: [Int] =
      n <= maxElements ? Array(0..<n) : (0..<maxElements).map { _ in Int(rng.next() % UInt64(n)) }
    for e in picks {
      var plus = base
      var minus = base
      let h = epsilon * max(1, abs(base[e]))
      plus[e] += h
      minus[e] -= h
      var xp = inputs
      var xm = inputs
      xp[slot] = Tensor(plus, shape: inputs[slot].shape)
      xm[slot] = Tensor(minus, shape: inputs[slot].shape)
      let numeric = (try loss(xp) - loss(xm)) / Double(plus[e] - minus[e])
      let a = Double(analytic[e])
      let ratio = abs(numeric - a) / (absoluteTolerance + relativeTolerance * max(abs(numeric), abs(a)))
      result.checked += 1
      if ratio > result.worstRatio || result.checked == 1 {
        result.worstRatio = max(ratio, result.worstRatio)
        result.worst = (slot, e, numeric, a)
      }
    }
  }
  return result
}

/// The largest `|a - b| / (atol + rtol * |b|)` over two equally long arrays (<= 1 means close).
public func closeness(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-4) -> Float {
  guard a.count == b.count else { return .infinity }
  var worst: Float = 0
  for (x, y) in zip(a, b) {
    let r = abs(x - y) / (atol + rtol * abs(y))
    if r.isNaN { return .infinity }
    worst = max(worst, r)
  }
  return worst
}

/// Whether two arrays agree elementwise within `atol + rtol * |b|`.
public func allClose(_ a: [Float], _ b: [Float], atol: Float = 1e-5, rtol: Float = 1e-4) -> Bool {
  closeness(a, b, atol: atol, rtol: rtol) <= 1
}

/// Random normal test data with a fixed seed.
public func randomTensor(_ shape: [Int], seed: UInt64, scale: Float = 1) -> Tensor {
  var rng = RandomGenerator(seed: seed)
  return Tensor.normal(shape, std: scale, generator: &rng)
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Fused softmax cross-entropy over rows of logits, with ignored targets and label smoothing.
///
/// The forward pass saves each row's log-sum-exp so that the backward pass needs one read of the
/// logits and one write of the gradient. Label smoothing follows PyTorch:
/// `loss = (1 - eps) * nll + eps * mean_c(-log p_c)`.
public enum CrossEntropy {
  /// Per-row loss of `logits` `[rows, classes]` against Int32 `targets`.
  ///
  /// Rows whose target equals `ignoreIndex` get loss 0 and are not counted; any other target must lie in
  /// `0..<classes`. With label smoothing `eps`, `loss = (1 - eps) * nll + eps * mean_c(-logp_c)`.
  /// Writes `losses[rows]` and `logSumExp[rows]` (for every row, ignored or not).
  /// - Returns: The number of non-ignored rows.
  @discardableResult
  public static func forward(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, losses: UnsafeMutablePointer<Float>,
    logSumExp: UnsafeMutablePointer<Float>, rows: Int, classes: Int, ignoreIndex: Int32, labelSmoothing: Float
  ) -> Int {
    let count = checkTargets(targets, rows: rows, classes: classes, ignoreIndex: ignoreIndex)
    let eps = labelSmoothing
    Parallel.forChunks(count: rows, grain: rowGrain(classes)) { range in
      for r in range {
        let xr = logits + r * classes
        let (m, total) = maxAndSum(xr, classes)
        let lse = m + log(sumOfExp(xr, classes, m))
        logSumExp[r] = lse
        let t = targets[r]
        if t == ignoreIndex {
          losses[r] = 0
          continue
        }
        let nll = lse - xr[Int(t)]
        losses[r] = eps == 0 ? nll : (1 - eps) * nll + eps * (lse - total / Float(classes))
      }
    }
    return count
  }

  /// Gradient of the per-row losses: `dLogits[r, c] = dLoss[r] * (softmax[r, c] - q[r, c])`, where `q` is the
  /// smoothed one-hot target (`(1 - eps) * onehot + eps / classes`).
  ///
  /// Ignored rows get a zero gradient. `dLoss` is per row; pass `1 / count` for a mean reduction.
  public static func backward(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
    dLoss: UnsafePointer<Float>, dLogits: UnsafeMutablePointer<Float>, rows: Int, classes: Int,
    ignoreIndex: Int32, labelSmoothing: Float
  ) {
    checkTargets(targets, rows: rows, classes: classes, ignoreIndex: ignoreIndex)
    let eps = labelSmoothing
    Parallel.forChunks(count: rows, grain: rowGrain(classes)) { range in
      for r in range {
        let xr = logits + r * classes
        let dr = dLogits + r * classes
        let t = targets[r]
        if t == ignoreIndex {
          dr.update(repeating: 0, count: classes)
          continue
        }
        let scale = dLoss[r]
        let lse = logSumExp[r]
        let offset = scale * eps / Float(classes)
        let lv = V(repeating: lse)
        let sv = V(repeating: scale)
        let ov = V(repeating: offset)
        var i = 0
        while i + 16 <= classes {
          store(VectorMath.exp(load(xr, i) - lv) * sv - ov, dr, i)
          i += 16
        }
        while i < classes {
          dr[i] = VectorMath.exp(xr[i] - lse) * scale - offset
          i += 1
        }
        dr[Int(t)] -= scale * (1 - eps)
      }
    }
  }

  /// Scalar twin of ``forward(logits:targets:losses:logSumExp:rows:classes:ignoreIndex:labelSmoothing:)``,
  /// computing in Double.
  @discardableResult
  public static func forwardReference(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, losses: UnsafeMutablePointer<Float>,
    logSumExp: UnsafeMutablePointer<Float>, rows: Int, classes: Int, ignoreIndex: Int32, labelSmoothing: Float
  ) -> Int {
    var count = 0
    let eps = Double(labelSmoothing)
    for r in 0..<rows {
      let lse = referenceLogSumExp(logits + r * classes, classes)
      logSumExp[r] = Float(lse)
      let t = targets[r]
      if t == ignoreIndex {
        losses[r] = 0
        continue
      }
      precondition(t >= 0 && Int(t) < classes, "target \(t) out of range 0..<\(classes)")
      count += 1
      var meanNegLogP = 0.0
      for c in 0..<classes { meanNegLogP += lse - Double(logits[r * classes + c]) }
      meanNegLogP /= Double(classes)
      let nll = lse - Double(logits[r * classes + Int(t)])
      losses[r] = Float((1 - eps) * nll + eps * meanNegLogP)
    }
    return count
  }

  /// Scalar twin of ``backward(logits:targets:logSumExp:dLoss:dLogits:rows:classes:ignoreIndex:labelSmoothing:)``.
  ///
  /// It recomputes the log-sum-exp in Double instead of reading `logSumExp`, so it also checks that input.
  public static func backwardReference(
    logits: UnsafePointer<Float>, targets: UnsafePointer<Int32>, logSumExp: UnsafePointer<Float>,
    dLoss: UnsafePointer<Float>, dLogits: UnsafeMutablePointer<Float>, rows: Int, classes: Int,
    ignoreIndex: Int32, labelSmoothing: Float
  ) {
    let eps = Double(labelSmoothing)
    for r in 0..<rows {
      let t = targets[r]
      let lse = referenceLogSumExp(logits + r * classes, classes)
      for c in 0..<classes {
        if t == ignoreIndex {
          dLogits[r * classes + c] = 0
          continue
        }
        let p = exp(Double(logits[r * classes + c]) - lse)
        let q = (c == Int(t) ? 1 - eps : 0) + eps / Double(classes)
        dLogits[r * classes + c] = Float(Double(dLoss[r]) * (p - q))
      }
    }
  }

  private static func referenceLogSumExp(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var m = -Double.infinity
    for c in 0..<n { m = max(m, Double(p[c])) }
    var total = 0.0
    for c in 0..<n { total += exp(Double(p[c]) - m) }
    return m + log(total)
  }

  /// Checks every target and returns the number of non-ignored rows.
  @discardableResult
  private static func checkTargets(
    _ targets: UnsafePointer<Int32>, rows: Int, classes: Int, ignoreIndex: Int32
  ) -> Int {
    var count = 0
    for r in 0..<rows where targets[r] != ignoreIndex {
      precondition(targets[r] >= 0 && Int(targets[r]) < classes, "target \(targets[r]) out of range 0..<\(classes)")
      count += 1
    }
    return count
  }
}

// MARK: - Helpers

private typealias V = SIMD16<Float>

/// Rows per thread so that each thread gets at least ~16K logits.
@inline(__always)
private func rowGrain(_ classes: Int) -> Int {
  max(1, (1 << 14) / max(classes, 1))
}

/// Returns the maximum and the sum of `n` values.
@inline(__always)
private func maxAndSum(_ p: UnsafePointer<Float>, _ n: Int) -> (Float, Float) {
  var mv = V(repeating: -.infinity)
  var sv = V()
  var i = 0
  while i + 16 <= n {
    let v = load(p, i)
    mv.replace(with: v, where: v .> mv)
    sv += v
    i += 16
  }
  var m = horizontalMax(mv)
  var s = horizontalSum(sv)
  while i < n {
    if p[i] > m { m = p[i] }
    s += p[i]
    i += 1
  }
  return (m, s)
}

/// `sum_i exp(p[i] - m)`.
@inline(__always)
private func sumOfExp(_ p: UnsafePointer<Float>, _ n: Int, _ m: Float) -> Float {
  let mv = V(repeating: m)
  var a0 = V()
  var a1 = V()
  var i = 0
  while i + 32 <= n {
    a0 += VectorMath.exp(load(p, i) - mv)
    a1 += VectorMath.exp(load(p, i + 16) - mv)
    i += 32
  }
  if i + 16 <= n {
    a0 += VectorMath.exp(load(p, i) - mv)
    i += 16
  }
  var total = horizontalSum(a0 + a1)
  while i < n {
    total += VectorMath.exp(p[i] - m)
    i += 1
  }
  return total
}

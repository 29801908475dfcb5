/// Fused normalisation kernels (RMSNorm, LayerNorm, GroupNorm) with hand-written backward passes.
///
/// All tensors are contiguous float32. Forward passes save the per-row statistics (`mean`, `rstd`)
/// that the backward passes need. Backward passes write `dx` and *add* into `dweight`/`dbias`, so
/// gradients from several calls accumulate. Work is split over rows; every parallel chunk sums its
/// parameter gradients into a private scratch row that is added to the output after the parallel
/// region, so there are no races and the result depends only on the thread count.
public enum Normalization {
  // MARK: RMSNorm

  /// RMSNorm: `y = x * rstd * weight` over rows of length `cols`.
  ///
  /// `rstd[r] = 1 / sqrt(mean(x[r]^2) + eps)` is saved for the backward pass. A nil `weight` means 1.
  public static func rmsNormForward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, rows: Int, cols: Int, eps: Float
  ) {
    guard rows > 0, cols > 0 else { return }
    Parallel.forChunks(count: rows, grain: rowGrain(cols)) { range in
      for r in range {
        let xr = x + r * cols
        let yr = y + r * cols
        let s = 1 / (sumOfSquares(xr, cols) / Float(cols) + eps).squareRoot()
        rstd[r] = s
        let sv = V(repeating: s)
        var i = 0
        if let w = weight {
          while i + 16 <= cols {
            store(load(xr, i) * sv * load(w, i), yr, i)
            i += 16
          }
          while i < cols {
            yr[i] = xr[i] * s * w[i]
            i += 1
          }
        } else {
          while i + 16 <= cols {
            store(load(xr, i) * sv, yr, i)
            i += 16
          }
          while i < cols {
            yr[i] = xr[i] * s
            i += 1
          }
        }
      }
    }
  }

  /// RMSNorm backward: writes `dx` and adds `sum_r dy * x * rstd` into `dweight` when it is non-nil.
  public static func rmsNormBackward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rstd: UnsafePointer<Float>,
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
    rows: Int, cols: Int
  ) {
    guard rows > 0, cols > 0 else { return }
    withOnes(weight, cols) { w in
      chunkedRows(rows: rows, grain: rowGrain(cols), scratchWidth: dweight == nil ? 0 : cols) { range, scratch in
        for r in range {
          let xr = x + r * cols
          let gr = dy + r * cols
          let dxr = dx + r * cols
          let s = rstd[r]
          // dx = s * dy * w - x * s^3 * mean(dy * w * x)
          var acc = V()
          var i = 0
          while i + 16 <= cols {
            acc.addProduct(load(gr, i) * load(w, i), load(xr, i))
            i += 16
          }
          var dot = horizontalSum(acc)
          while i < cols {
            dot += gr[i] * w[i] * xr[i]
            i += 1
          }
          let a = s
          let b = s * s * s * dot / Float(cols)
          let av = V(repeating: a)
          let bv = V(repeating: b)
          i = 0
          while i + 16 <= cols {
            let xv = load(xr, i)
            let gv = load(gr, i)
            store(av * gv * load(w, i) - bv * xv, dxr, i)
            if let dw = scratch { store(load(dw, i).addingProduct(gv * xv, av), dw, i) }
            i += 16
          }
          while i < cols {
            dxr[i] = a * gr[i] * w[i] - b * xr[i]
            if let dw = scratch { dw[i] += gr[i] * xr[i] * a }
            i += 1
          }
        }
      } reduce: { scratch in
        if let dweight { add(scratch, into: dweight, cols) }
      }
    }
  }

  // MARK: LayerNorm

  /// LayerNorm: `y = (x - mean) * rstd * weight + bias` over rows of length `cols`.
  ///
  /// `mean[r]` and `rstd[r] = 1 / sqrt(var(x[r]) + eps)` (biased variance) are saved for the backward
  /// pass. A nil `weight` means 1 and a nil `bias` means 0.
  public static func layerNormForward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int, eps: Float
  ) {
    guard rows > 0, cols > 0 else { return }
    withOnes(weight, cols) { w in
      withZeros(bias, cols) { b in
        Parallel.forChunks(count: rows, grain: rowGrain(cols)) { range in
          for r in range {
            let xr = x + r * cols
            let yr = y + r * cols
            let m = sum(xr, cols) / Float(cols)
            let s = 1 / (sumOfSquaredDeviations(xr, cols, m) / Float(cols) + eps).squareRoot()
            mean[r] = m
            rstd[r] = s
            let mv = V(repeating: m)
            let sv = V(repeating: s)
            var i = 0
            while i + 16 <= cols {
              store(load(b, i).addingProduct((load(xr, i) - mv) * sv, load(w, i)), yr, i)
              i += 16
            }
            while i < cols {
              yr[i] = (xr[i] - m) * s * w[i] + b[i]
              i += 1
            }
          }
        }
      }
    }
  }

  /// LayerNorm backward: writes `dx`; adds `sum_r dy * xhat` into `dweight` and `sum_r dy` into `dbias`
  /// when they are non-nil (`xhat = (x - mean) * rstd`).
  public static func layerNormBackward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?, rows: Int, cols: Int
  ) {
    guard rows > 0, cols > 0 else { return }
    let wantParams = dweight != nil || dbias != nil
    withOnes(weight, cols) { w in
      chunkedRows(rows: rows, grain: rowGrain(cols), scratchWidth: wantParams ? 2 * cols : 0) { range, scratch in
        for r in range {
          let xr = x + r * cols
          let gr = dy + r * cols
          let dxr = dx + r * cols
          let m = mean[r]
          let s = rstd[r]
          let mv = V(repeating: m)
          let sv = V(repeating: s)
          // g = dy * w; dx = s * (g - mean(g) - xhat * mean(g * xhat))
          var accG = V()
          var accGX = V()
          var i = 0
          while i + 16 <= cols {
            let g = load(gr, i) * load(w, i)
            accG += g
            accGX.addProduct(g, load(xr, i) - mv)
            i += 16
          }
          var sumG = horizontalSum(accG)
          var sumGX = horizontalSum(accGX)
          while i < cols {
            let g = gr[i] * w[i]
            sumG += g
            sumGX += g * (xr[i] - m)
            i += 1
          }
          let meanG = sumG / Float(cols)
          let meanGX = sumGX * s / Float(cols)
          let mgv = V(repeating: meanG)
          let mgxv = V(repeating: meanGX)
          i = 0
          while i + 16 <= cols {
            let gv = load(gr, i)
            let xhat = (load(xr, i) - mv) * sv
            store(sv * (gv * load(w, i) - mgv - xhat * mgxv), dxr, i)
            if let acc = scratch {
              store(load(acc, i).addingProduct(gv, xhat), acc, i)
              store(load(acc, cols + i) + gv, acc, cols + i)
            }
            i += 16
          }
          while i < cols {
            let xhat = (xr[i] - m) * s
            dxr[i] = s * (gr[i] * w[i] - meanG - xhat * meanGX)
            if let acc = scratch {
              acc[i] += gr[i] * xhat
              acc[cols + i] += gr[i]
            }
            i += 1
          }
        }
      } reduce: { scratch in
        if let dweight { add(scratch, into: dweight, cols) }
        if let dbias { add(scratch + cols, into: dbias, cols) }
      }
    }
  }

  // MARK: GroupNorm

  /// GroupNorm on `x` laid out `[batch, channels, spatial]` with `groups` groups (`channels % groups == 0`).
  ///
  /// Statistics are taken over each group's `channels / groups * spatial` contiguous values; `mean` and
  /// `rstd` have `batch * groups` entries. `weight` and `bias` are per channel (nil means 1 and 0).
  public static func groupNormForward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    batch: Int, channels: Int, spatial: Int, groups: Int, eps: Float
  ) {
    precondition(groups > 0 && channels % groups == 0, "channels must be a multiple of groups")
    let perGroup = channels / groups
    let n = perGroup * spatial
    let rows = batch * groups
    guard rows > 0, n > 0 else { return }
    Parallel.forChunks(count: rows, grain: rowGrain(n)) { range in
      for r in range {
        let xr = x + r * n
        let yr = y + r * n
        let m = sum(xr, n) / Float(n)
        let s = 1 / (sumOfSquaredDeviations(xr, n, m) / Float(n) + eps).squareRoot()
        mean[r] = m
        rstd[r] = s
        let firstChannel = (r % groups) * perGroup
        for j in 0..<perGroup {
          let c = firstChannel + j
          let scale = s * (weight?[c] ?? 1)
          let shift = (bias?[c] ?? 0) - m * scale
          affine(xr + j * spatial, yr + j * spatial, spatial, scale: scale, shift: shift)
        }
      }
    }
  }

  /// GroupNorm backward: writes `dx`; adds per-channel `sum dy * xhat` into `dweight` and `sum dy` into
  /// `dbias` when they are non-nil.
  public static func groupNormBackward(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    batch: Int, channels: Int, spatial: Int, groups: Int
  ) {
    precondition(groups > 0 && channels % groups == 0, "channels must be a multiple of groups")
    let perGroup = channels / groups
    let n = perGroup * spatial
    let rows = batch * groups
    guard rows > 0, n > 0 else { return }
    let wantParams = dweight != nil || dbias != nil
    // Per-row buffers of per-channel sums live in the scratch after the parameter gradients.
    let paramWidth = wantParams ? 2 * channels : 0
    chunkedRows(rows: rows, grain: rowGrain(n), scratchWidth: paramWidth + 2 * perGroup) { range, scratch in
      let base = scratch!
      let sumDy = base + paramWidth
      let sumDyXc = sumDy + perGroup
      for r in range {
        let xr = x + r * n
        let gr = dy + r * n
        let dxr = dx + r * n
        let m = mean[r]
        let s = rstd[r]
        let firstChannel = (r % groups) * perGroup
        // Per channel j: sum dy and sum dy * (x - mean).
        var sumG = Float(0)
        var sumGX = Float(0)
        for j in 0..<perGroup {
          let (a, b) = sumAndCenteredDot(gr + j * spatial, xr + j * spatial, spatial, m)
          sumDy[j] = a
          sumDyXc[j] = b
          let w = weight?[firstChannel + j] ?? 1
          sumG += w * a
          sumGX += w * b
        }
        let meanG = sumG / Float(n)
        let meanGX = sumGX * s / Float(n)
        // dx = s * w * dy - s * mean(g) - (x - mean) * s^2 * mean(g * xhat)
        for j in 0..<perGroup {
          let c = firstChannel + j
          let a = s * (weight?[c] ?? 1)
          let b = s * s * meanGX
          let k = -s * meanG + m * b
          let xc = xr + j * spatial
          let gc = gr + j * spatial
          let dc = dxr + j * spatial
          let av = V(repeating: a)
          let bv = V(repeating: b)
          let kv = V(repeating: k)
          var i = 0
          while i + 16 <= spatial {
            store((av * load(gc, i) - bv * load(xc, i)) + kv, dc, i)
            i += 16
          }
          while i < spatial {
            dc[i] = (a * gc[i] - b * xc[i]) + k
            i += 1
          }
          if wantParams {
            base[c] += s * sumDyXc[j]
            base[channels + c] += sumDy[j]
          }
        }
      }
    } reduce: { scratch in
      if let dweight { add(scratch, into: dweight, channels) }
      if let dbias { add(scratch + channels, into: dbias, channels) }
    }
  }
}

// MARK: - Reference twins

extension Normalization {
  /// Scalar twin of ``rmsNormForward(_:weight:_:rstd:rows:cols:eps:)``, accumulating in Double.
  public static func rmsNormForwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, _ y: UnsafeMutablePointer<Float>,
    rstd: UnsafeMutablePointer<Float>, rows: Int, cols: Int, eps: Float
  ) {
    for r in 0..<rows {
      var ss = 0.0
      for i in 0..<cols { ss += Double(x[r * cols + i]) * Double(x[r * cols + i]) }
      let s = 1 / (ss / Double(cols) + Double(eps)).squareRoot()
      rstd[r] = Float(s)
      for i in 0..<cols {
        y[r * cols + i] = Float(Double(x[r * cols + i]) * s * Double(weight?[i] ?? 1))
      }
    }
  }

  /// Scalar twin of ``rmsNormBackward(_:weight:rstd:dy:dx:dweight:rows:cols:)``.
  public static func rmsNormBackwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, rstd: UnsafePointer<Float>,
    dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, dweight: UnsafeMutablePointer<Float>?,
    rows: Int, cols: Int
  ) {
    for r in 0..<rows {
      let s = Double(rstd[r])
      var dot = 0.0
      for i in 0..<cols {
        dot += Double(dy[r * cols + i]) * Double(weight?[i] ?? 1) * Double(x[r * cols + i])
      }
      for i in 0..<cols {
        let xi = Double(x[r * cols + i])
        let gi = Double(dy[r * cols + i])
        dx[r * cols + i] = Float(s * gi * Double(weight?[i] ?? 1) - xi * s * s * s * dot / Double(cols))
        dweight?[i] += Float(gi * xi * s)
      }
    }
  }

  /// Scalar twin of ``layerNormForward(_:weight:bias:_:mean:rstd:rows:cols:eps:)``, accumulating in Double.
  public static func layerNormForwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    rows: Int, cols: Int, eps: Float
  ) {
    for r in 0..<rows {
      let (m, s) = referenceStatistics(x + r * cols, cols, eps)
      mean[r] = Float(m)
      rstd[r] = Float(s)
      for i in 0..<cols {
        let xhat = (Double(x[r * cols + i]) - m) * s
        y[r * cols + i] = Float(xhat * Double(weight?[i] ?? 1) + Double(bias?[i] ?? 0))
      }
    }
  }

  /// Scalar twin of ``layerNormBackward(_:weight:mean:rstd:dy:dx:dweight:dbias:rows:cols:)``.
  public static func layerNormBackwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?, rows: Int, cols: Int
  ) {
    for r in 0..<rows {
      let m = Double(mean[r])
      let s = Double(rstd[r])
      var sumG = 0.0
      var sumGX = 0.0
      for i in 0..<cols {
        let g = Double(dy[r * cols + i]) * Double(weight?[i] ?? 1)
        sumG += g
        sumGX += g * (Double(x[r * cols + i]) - m) * s
      }
      for i in 0..<cols {
        let gi = Double(dy[r * cols + i])
        let xhat = (Double(x[r * cols + i]) - m) * s
        let g = gi * Double(weight?[i] ?? 1)
        dx[r * cols + i] = Float(s * (g - sumG / Double(cols) - xhat * sumGX / Double(cols)))
        dweight?[i] += Float(gi * xhat)
        dbias?[i] += Float(gi)
      }
    }
  }

  /// Scalar twin of ``groupNormForward(_:weight:bias:_:mean:rstd:batch:channels:spatial:groups:eps:)``.
  public static func groupNormForwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, bias: UnsafePointer<Float>?,
    _ y: UnsafeMutablePointer<Float>, mean: UnsafeMutablePointer<Float>, rstd: UnsafeMutablePointer<Float>,
    batch: Int, channels: Int, spatial: Int, groups: Int, eps: Float
  ) {
    precondition(groups > 0 && channels % groups == 0, "channels must be a multiple of groups")
    let perGroup = channels / groups
    let n = perGroup * spatial
    for r in 0..<batch * groups {
      let (m, s) = referenceStatistics(x + r * n, n, eps)
      mean[r] = Float(m)
      rstd[r] = Float(s)
      for k in 0..<n {
        let c = (r % groups) * perGroup + k / spatial
        let xhat = (Double(x[r * n + k]) - m) * s
        y[r * n + k] = Float(xhat * Double(weight?[c] ?? 1) + Double(bias?[c] ?? 0))
      }
    }
  }

  /// Scalar twin of ``groupNormBackward(_:weight:mean:rstd:dy:dx:dweight:dbias:batch:channels:spatial:groups:)``.
  public static func groupNormBackwardReference(
    _ x: UnsafePointer<Float>, weight: UnsafePointer<Float>?, mean: UnsafePointer<Float>,
    rstd: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    dweight: UnsafeMutablePointer<Float>?, dbias: UnsafeMutablePointer<Float>?,
    batch: Int, channels: Int, spatial: Int, groups: Int
  ) {
    precondition(groups > 0 && channels % groups == 0, "channels must be a multiple of groups")
    let perGroup = channels / groups
    let n = perGroup * spatial
    for r in 0..<batch * groups {
      let m = Double(mean[r])
      let s = Double(rstd[r])
      var sumG = 0.0
      var sumGX = 0.0
      for k in 0..<n {
        let c = (r % groups) * perGroup + k / spatial
        let g = Double(dy[r * n + k]) * Double(weight?[c] ?? 1)
        sumG += g
        sumGX += g * (Double(x[r * n + k]) - m) * s
      }
      for k in 0..<n {
        let c = (r % groups) * perGroup + k / spatial
        let gi = Double(dy[r * n + k])
        let xhat = (Double(x[r * n + k]) - m) * s
        let g = gi * Double(weight?[c] ?? 1)
        dx[r * n + k] = Float(s * (g - sumG / Double(n) - xhat * sumGX / Double(n)))
        dweight?[c] += Float(gi * xhat)
        dbias?[c] += Float(gi)
      }
    }
  }

  /// Mean and `1 / sqrt(biased variance + eps)` of `n` values, in Double.
  private static func referenceStatistics(_ p: UnsafePointer<Float>, _ n: Int, _ eps: Float) -> (Double, Double) {
    var total = 0.0
    for i in 0..<n { total += Double(p[i]) }
    let m = total / Double(n)
    var ss = 0.0
    for i in 0..<n { ss += (Double(p[i]) - m) * (Double(p[i]) - m) }
    return (m, 1 / (ss / Double(n) + Double(eps)).squareRoot())
  }
}

// MARK: - Helpers

private typealias V = SIMD16<Float>

/// Rows per thread so that each thread gets at least ~32K elements.
@inline(__always)
private func rowGrain(_ cols: Int) -> Int {
  max(1, (1 << 15) / max(cols, 1))
}

@inline(__always)
private func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
  var a0 = V()
  var a1 = V()
  var i = 0
  while i + 32 <= n {
    a0 += load(p, i)
    a1 += load(p, i + 16)
    i += 32
  }
  if i + 16 <= n {
    a0 += load(p, i)
    i += 16
  }
  var total = horizontalSum(a0 + a1)
  while i < n {
    total += p[i]
    i += 1
  }
  return total
}

@inline(__always)
private func sumOfSquares(_ p: UnsafePointer<Float>, _ n: Int) -> Float {
  var a0 = V()
  var a1 = V()
  var i = 0
  while i + 32 <= n {
    let u = load(p, i)
    let v = load(p, i + 16)
    a0.addProduct(u, u)
    a1.addProduct(v, v)
    i += 32
  }
  if i + 16 <= n {
    let u = load(p, i)
    a0.addProduct(u, u)
    i += 16
  }
  var total = horizontalSum(a0 + a1)
  while i < n {
    total += p[i] * p[i]
    i += 1
  }
  return total
}

@inline(__always)
private func sumOfSquaredDeviations(_ p: UnsafePointer<Float>, _ n: Int, _ m: Float) -> Float {
  let mv = V(repeating: m)
  var a0 = V()
  var a1 = V()
  var i = 0
  while i + 32 <= n {
    let u = load(p, i) - mv
    let v = load(p, i + 16) - mv
    a0.addProduct(u, u)
    a1.addProduct(v, v)
    i += 32
  }
  if i + 16 <= n {
    let u = load(p, i) - mv
    a0.addProduct(u, u)
    i += 16
  }
  var total = horizontalSum(a0 + a1)
  while i < n {
    let d = p[i] - m
    total += d * d
    i += 1
  }
  return total
}

/// Returns `(sum g, sum g * (x - m))`.
@inline(__always)
private func sumAndCenteredDot(
  _ g: UnsafePointer<Float>, _ x: UnsafePointer<Float>, _ n: Int, _ m: Float
) -> (Float, Float) {
  let mv = V(repeating: m)
  var a = V()
  var b = V()
  var i = 0
  while i + 16 <= n {
    let gv = load(g, i)
    a += gv
    b.addProduct(gv, load(x, i) - mv)
    i += 16
  }
  var sa = horizontalSum(a)
  var sb = horizontalSum(b)
  while i < n {
    sa += g[i]
    sb += g[i] * (x[i] - m)
    i += 1
  }
  return (sa, sb)
}

/// `y = x * scale + shift`.
@inline(__always)
private func affine(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int, scale: Float, shift: Float) {
  let sv = V(repeating: scale)
  let bv = V(repeating: shift)
  var i = 0
  while i + 16 <= n {
    store(bv.addingProduct(load(x, i), sv), y, i)
    i += 16
  }
  while i < n {
    y[i] = x[i] * scale + shift
    i += 1
  }
}

/// `target += source`.
private func add(_ source: UnsafePointer<Float>, into target: UnsafeMutablePointer<Float>, _ n: Int) {
  var i = 0
  while i + 16 <= n {
    store(load(target, i) + load(source, i), target, i)
    i += 16
  }
  while i < n {
    target[i] += source[i]
    i += 1
  }
}

/// Calls `body` with `p`, or with a temporary row of `n` ones when `p` is nil.
private func withOnes<R>(_ p: UnsafePointer<Float>?, _ n: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
  withFilled(p, n, 1, body)
}

/// Calls `body` with `p`, or with a temporary row of `n` zeros when `p` is nil.
private func withZeros<R>(_ p: UnsafePointer<Float>?, _ n: Int, _ body: (UnsafePointer<Float>) -> R) -> R {
  withFilled(p, n, 0, body)
}

private func withFilled<R>(
  _ p: UnsafePointer<Float>?, _ n: Int, _ value: Float, _ body: (UnsafePointer<Float>) -> R
) -> R {
  if let p { return body(p) }
  let tmp = UnsafeMutablePointer<Float>.allocate(capacity: max(n, 1))
  tmp.initialize(repeating: value, count: max(n, 1))
  defer { tmp.deallocate() }
  return body(tmp)
}

/// Splits `0..<rows` into chunks (one per thread at most, each at least `grain` rows), runs `body` on each
/// chunk in parallel with its own zeroed scratch of `scratchWidth` floats (nil when the width is 0), then
/// calls `reduce` on each chunk's scratch in chunk order on the calling thread.
private func chunkedRows(
  rows: Int, grain: Int, scratchWidth: Int,
  _ body: (Range<Int>, UnsafeMutablePointer<Float>?) -> Void,
  reduce: (UnsafeMutablePointer<Float>) -> Void
) {
  let chunks = min(Parallel.threadCount, max(1, rows / max(grain, 1)))
  let total = chunks * scratchWidth
  let scratch = UnsafeMutablePointer<Float>.allocate(capacity: max(total, 1))
  scratch.initialize(repeating: 0, count: max(total, 1))
  defer { scratch.deallocate() }
  Parallel.forChunks(count: chunks, grain: 1) { range in
    for c in range {
      let lo = rows * c / chunks
      let hi = rows * (c + 1) / chunks
      body(lo..<hi, scratchWidth == 0 ? nil : scratch + c * scratchWidth)
    }
  }
  if scratchWidth > 0 {
    for c in 0..<chunks { reduce(scratch + c * scratchWidth) }
  }
}

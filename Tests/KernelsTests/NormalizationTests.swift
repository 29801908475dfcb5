import Foundation
import Kernels
import Testing

/// Seeded splitmix64 generator for reproducible inputs.
private struct SeededRandom {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in `[-1, 1) * scale + shift`.
  mutating func floats(_ n: Int, scale: Float = 1, shift: Float = 0) -> [Float] {
    (0..<n).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale + shift }
  }
}

/// Expects `|a - b| <= tolerance * (1 + |b|)` elementwise.
private func expectClose(
  _ a: [Float], _ b: [Float], tolerance: Float, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(a.count == b.count, "\(label): counts differ", sourceLocation: sourceLocation)
  var worst: Float = 0
  var at = 0
  for i in 0..<min(a.count, b.count) {
    let err = abs(a[i] - b[i]) / (1 + abs(b[i]))
    if !(err <= worst) {
      worst = err
      at = i
    }
  }
  #expect(worst <= tolerance, "\(label): error \(worst) at \(at): \(a[at]) vs \(b[at])", sourceLocation: sourceLocation)
}

/// Central finite differences of `f` at `x`.
private func numericalGradient(_ x: [Double], h: Double = 1e-5, _ f: ([Double]) -> Double) -> [Double] {
  var x = x
  var grad = [Double](repeating: 0, count: x.count)
  for i in 0..<x.count {
    let saved = x[i]
    x[i] = saved + h
    let up = f(x)
    x[i] = saved - h
    let down = f(x)
    x[i] = saved
    grad[i] = (up - down) / (2 * h)
  }
  return grad
}

private func toDouble(_ a: [Float]) -> [Double] { a.map(Double.init) }

/// Calls `body` with a pointer to `a`, or nil when `a` is nil.
private func withOptional<R>(_ a: [Float]?, _ body: (UnsafePointer<Float>?) -> R) -> R {
  guard let a else { return body(nil) }
  return a.withUnsafeBufferPointer { body($0.baseAddress!) }
}

private func withOptionalMutable<R>(_ a: inout [Float]?, _ body: (UnsafeMutablePointer<Float>?) -> R) -> R {
  guard a != nil else { return body(nil) }
  return a!.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
}

// MARK: Double forward passes used as finite-difference oracles

/// Groups of `n` contiguous values normalised, then scaled per "channel" (`channelOf(k)` for flat index k).
private func normalizeDouble(
  _ x: [Double], rows: Int, n: Int, eps: Double, centered: Bool, weight: [Double]?, bias: [Double]?,
  channelOf: (Int) -> Int
) -> [Double] {
  var y = x
  for r in 0..<rows {
    let slice = x[(r * n)..<((r + 1) * n)]
    let m = centered ? slice.reduce(0, +) / Double(n) : 0
    let v = slice.reduce(0) { $0 + ($1 - m) * ($1 - m) } / Double(n)
    let s = 1 / (v + eps).squareRoot()
    for k in 0..<n {
      let c = channelOf(r * n + k)
      y[r * n + k] = (x[r * n + k] - m) * s * (weight?[c] ?? 1) + (bias?[c] ?? 0)
    }
  }
  return y
}

private func dotProduct(_ a: [Double], _ b: [Double]) -> Double {
  zip(a, b).reduce(0) { $0 + $1.0 * $1.1 }
}

@Suite struct NormalizationTests {
  static let shapes = [(1, 1), (7, 7), (3, 15), (5, 16), (5, 17), (33, 33), (4, 100), (2, 384), (1000, 100)]

  // MARK: RMSNorm

  @Test(arguments: [true, false])
  func rmsNormMatchesReference(withWeight: Bool) {
    var rng = SeededRandom(state: 1)
    for (rows, cols) in Self.shapes {
      let x = rng.floats(rows * cols, scale: 2, shift: 0.3)
      let w = withWeight ? rng.floats(cols, shift: 1) : nil
      let dy = rng.floats(rows * cols)
      let dw0 = rng.floats(cols)
      var y = [Float](repeating: 0, count: rows * cols)
      var yRef = y
      var rstd = [Float](repeating: 0, count: rows)
      var rstdRef = rstd
      var dx = y
      var dxRef = y
      var dw = dw0
      var dwRef = dw0
      withOptional(w) { w in
        Normalization.rmsNormForward(x, weight: w, &y, rstd: &rstd, rows: rows, cols: cols, eps: 1e-5)
        Normalization.rmsNormForwardReference(x, weight: w, &yRef, rstd: &rstdRef, rows: rows, cols: cols, eps: 1e-5)
        Normalization.rmsNormBackward(
          x, weight: w, rstd: rstd, dy: dy, dx: &dx, dweight: &dw, rows: rows, cols: cols)
        Normalization.rmsNormBackwardReference(
          x, weight: w, rstd: rstd, dy: dy, dx: &dxRef, dweight: &dwRef, rows: rows, cols: cols)
      }
      let label = "rms \(rows)x\(cols) weight=\(withWeight)"
      expectClose(y, yRef, tolerance: 2e-6, "\(label) y")
      expectClose(rstd, rstdRef, tolerance: 2e-6, "\(label) rstd")
      expectClose(dx, dxRef, tolerance: 1e-5, "\(label) dx")
      expectClose(dw, dwRef, tolerance: 1e-5 * Float(rows).squareRoot(), "\(label) dweight")
    }
  }

  @Test func rmsNormWithoutWeightGradientSkipsIt() {
    var rng = SeededRandom(state: 2)
    let (rows, cols) = (5, 17)
    let x = rng.floats(rows * cols)
    let dy = rng.floats(rows * cols)
    var y = [Float](repeating: 0, count: rows * cols)
    var rstd = [Float](repeating: 0, count: rows)
    var dx = y
    var dxRef = y
    Normalization.rmsNormForward(x, weight: nil, &y, rstd: &rstd, rows: rows, cols: cols, eps: 1e-6)
    Normalization.rmsNormBackward(x, weight: nil, rstd: rstd, dy: dy, dx: &dx, dweight: nil, rows: rows, cols: cols)
    Normalization.rmsNormBackwardReference(
      x, weight: nil, rstd: rstd, dy: dy, dx: &dxRef, dweight: nil, rows: rows, cols: cols)
    expectClose(dx, dxRef, tolerance: 1e-5, "dx")
  }

  @Test func rmsNormReferenceGradientMatchesFiniteDifferences() {
    var rng = SeededRandom(state: 3)
    let (rows, cols, eps) = (3, 5, Float(1e-3))
    let x = rng.floats(rows * cols)
    let w = rng.floats(cols, shift: 1)
    let g = rng.floats(rows * cols)
    var y = [Float](repeating: 0, count: rows * cols)
    var rstd = [Float](repeating: 0, count: rows)
    var dx = y
    var dw = [Float](repeating: 0, count: cols)
    Normalization.rmsNormForwardReference(x, weight: w, &y, rstd: &rstd, rows: rows, cols: cols, eps: eps)
    Normalization.rmsNormBackwardReference(
      x, weight: w, rstd: rstd, dy: g, dx: &dx, dweight: &dw, rows: rows, cols: cols)
    func loss(_ x: [Double], _ w: [Double]) -> Double {
      let y = normalizeDouble(
        x, rows: rows, n: cols, eps: Double(eps), centered: false, weight: w, bias: nil, channelOf: { $0 % cols })
      return dotProduct(y, toDouble(g))
    }
    let numX = numericalGradient(toDouble(x)) { loss($0, toDouble(w)) }
    let numW = numericalGradient(toDouble(w)) { loss(toDouble(x), $0) }
    expectClose(dx, numX.map(Float.init), tolerance: 1e-4, "dx vs finite differences")
    expectClose(dw, numW.map(Float.init), tolerance: 1e-4, "dweight vs finite differences")
  }

  // MARK: LayerNorm

  @Test(arguments: [(true, true), (true, false), (false, true), (false, false)])
  func layerNormMatchesReference(withWeight: Bool, withBias: Bool) {
    var rng = SeededRandom(state: 4)
    for (rows, cols) in Self.shapes {
      let x = rng.floats(rows * cols, scale: 3, shift: 2)
      let w = withWeight ? rng.floats(cols, shift: 1) : nil
      let b = withBias ? rng.floats(cols) : nil
      let dy = rng.floats(rows * cols)
      var y = [Float](repeating: 0, count: rows * cols)
      var yRef = y
      var mean = [Float](repeating: 0, count: rows)
      var rstd = mean
      var meanRef = mean
      var rstdRef = mean
      var dx = y
      var dxRef = y
      var dw: [Float]? = withWeight ? rng.floats(cols) : nil
      var dwRef = dw
      var db: [Float]? = withBias ? rng.floats(cols) : nil
      var dbRef = db
      withOptional(w) { w in
        withOptional(b) { b in
          Normalization.layerNormForward(
            x, weight: w, bias: b, &y, mean: &mean, rstd: &rstd, rows: rows, cols: cols, eps: 1e-5)
          Normalization.layerNormForwardReference(
            x, weight: w, bias: b, &yRef, mean: &meanRef, rstd: &rstdRef, rows: rows, cols: cols, eps: 1e-5)
        }
        withOptionalMutable(&dw) { dw in
          withOptionalMutable(&db) { db in
            Normalization.layerNormBackward(
              x, weight: w, mean: mean, rstd: rstd, dy: dy, dx: &dx, dweight: dw, dbias: db,
              rows: rows, cols: cols)
          }
        }
        withOptionalMutable(&dwRef) { dw in
          withOptionalMutable(&dbRef) { db in
            Normalization.layerNormBackwardReference(
              x, weight: w, mean: mean, rstd: rstd, dy: dy, dx: &dxRef, dweight: dw, dbias: db,
              rows: rows, cols: cols)
          }
        }
      }
      let label = "layer \(rows)x\(cols) weight=\(withWeight) bias=\(withBias)"
      expectClose(y, yRef, tolerance: 1e-5, "\(label) y")
      expectClose(mean, meanRef, tolerance: 1e-6, "\(label) mean")
      expectClose(rstd, rstdRef, tolerance: 1e-5, "\(label) rstd")
      expectClose(dx, dxRef, tolerance: 2e-5, "\(label) dx")
      if let dw, let dwRef { expectClose(dw, dwRef, tolerance: 1e-5 * Float(rows).squareRoot(), "\(label) dw") }
      if let db, let dbRef { expectClose(db, dbRef, tolerance: 1e-5 * Float(rows).squareRoot(), "\(label) db") }
    }
  }

  @Test func layerNormReferenceGradientMatchesFiniteDifferences() {
    var rng = SeededRandom(state: 5)
    let (rows, cols, eps) = (3, 6, Float(1e-3))
    let x = rng.floats(rows * cols, shift: 0.5)
    let w = rng.floats(cols, shift: 1)
    let b = rng.floats(cols)
    let g = rng.floats(rows * cols)
    var y = [Float](repeating: 0, count: rows * cols)
    var mean = [Float](repeating: 0, count: rows)
    var rstd = mean
    var dx = y
    var dw = [Float](repeating: 0, count: cols)
    var db = dw
    Normalization.layerNormForwardReference(
      x, weight: w, bias: b, &y, mean: &mean, rstd: &rstd, rows: rows, cols: cols, eps: eps)
    Normalization.layerNormBackwardReference(
      x, weight: w, mean: mean, rstd: rstd, dy: g, dx: &dx, dweight: &dw, dbias: &db, rows: rows, cols: cols)
    func loss(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
      let y = normalizeDouble(
        x, rows: rows, n: cols, eps: Double(eps), centered: true, weight: w, bias: b, channelOf: { $0 % cols })
      return dotProduct(y, toDouble(g))
    }
    let (xd, wd, bd) = (toDouble(x), toDouble(w), toDouble(b))
    expectClose(dx, numericalGradient(xd) { loss($0, wd, bd) }.map(Float.init), tolerance: 1e-4, "dx")
    expectClose(dw, numericalGradient(wd) { loss(xd, $0, bd) }.map(Float.init), tolerance: 1e-4, "dweight")
    expectClose(db, numericalGradient(bd) { loss(xd, wd, $0) }.map(Float.init), tolerance: 1e-4, "dbias")
  }

  // MARK: GroupNorm

  /// (batch, channels, spatial, groups)
  static let groupShapes = [
    (1, 1, 1, 1), (2, 6, 5, 3), (3, 4, 17, 2), (1, 8, 33, 8), (2, 32, 7, 1), (4, 64, 100, 32), (2, 16, 1000, 4),
  ]

  @Test(arguments: [true, false])
  func groupNormMatchesReference(withAffine: Bool) {
    var rng = SeededRandom(state: 6)
    for (batch, channels, spatial, groups) in Self.groupShapes {
      let count = batch * channels * spatial
      let rows = batch * groups
      let x = rng.floats(count, scale: 2, shift: -1)
      let w = withAffine ? rng.floats(channels, shift: 1) : nil
      let b = withAffine ? rng.floats(channels) : nil
      let dy = rng.floats(count)
      var y = [Float](repeating: 0, count: count)
      var yRef = y
      var mean = [Float](repeating: 0, count: rows)
      var rstd = mean
      var meanRef = mean
      var rstdRef = mean
      var dx = y
      var dxRef = y
      var dw: [Float]? = withAffine ? rng.floats(channels) : nil
      var dwRef = dw
      var db: [Float]? = withAffine ? rng.floats(channels) : nil
      var dbRef = db
      withOptional(w) { w in
        withOptional(b) { b in
          Normalization.groupNormForward(
            x, weight: w, bias: b, &y, mean: &mean, rstd: &rstd, batch: batch, channels: channels,
            spatial: spatial, groups: groups, eps: 1e-5)
          Normalization.groupNormForwardReference(
            x, weight: w, bias: b, &yRef, mean: &meanRef, rstd: &rstdRef, batch: batch, channels: channels,
            spatial: spatial, groups: groups, eps: 1e-5)
        }
        withOptionalMutable(&dw) { dw in
          withOptionalMutable(&db) { db in
            Normalization.groupNormBackward(
              x, weight: w, mean: mean, rstd: rstd, dy: dy, dx: &dx, dweight: dw, dbias: db,
              batch: batch, channels: channels, spatial: spatial, groups: groups)
          }
        }
        withOptionalMutable(&dwRef) { dw in
          withOptionalMutable(&dbRef) { db in
            Normalization.groupNormBackwardReference(
              x, weight: w, mean: mean, rstd: rstd, dy: dy, dx: &dxRef, dweight: dw, dbias: db,
              batch: batch, channels: channels, spatial: spatial, groups: groups)
          }
        }
      }
      let label = "group \(batch)x\(channels)x\(spatial)/\(groups) affine=\(withAffine)"
      let n = Float(batch * spatial).squareRoot()
      expectClose(y, yRef, tolerance: 1e-5, "\(label) y")
      expectClose(mean, meanRef, tolerance: 1e-6, "\(label) mean")
      expectClose(rstd, rstdRef, tolerance: 1e-5, "\(label) rstd")
      expectClose(dx, dxRef, tolerance: 2e-5, "\(label) dx")
      if let dw, let dwRef { expectClose(dw, dwRef, tolerance: 1e-5 * n, "\(label) dw") }
      if let db, let dbRef { expectClose(db, dbRef, tolerance: 1e-5 * n, "\(label) db") }
    }
  }

  @Test func groupNormEqualsLayerNormWithOneGroupAndNoAffine() {
    var rng = SeededRandom(state: 7)
    let (batch, channels, spatial) = (3, 4, 5)
    let x = rng.floats(batch * channels * spatial)
    var y1 = [Float](repeating: 0, count: x.count)
    var y2 = y1
    var m = [Float](repeating: 0, count: batch)
    var s = m
    Normalization.groupNormForward(
      x, weight: nil, bias: nil, &y1, mean: &m, rstd: &s, batch: batch, channels: channels, spatial: spatial,
      groups: 1, eps: 1e-5)
    Normalization.layerNormForward(
      x, weight: nil, bias: nil, &y2, mean: &m, rstd: &s, rows: batch, cols: channels * spatial, eps: 1e-5)
    expectClose(y1, y2, tolerance: 1e-6, "group(1) vs layer")
  }

  @Test func groupNormReferenceGradientMatchesFiniteDifferences() {
    var rng = SeededRandom(state: 8)
    let (batch, channels, spatial, groups, eps) = (2, 4, 3, 2, Float(1e-3))
    let count = batch * channels * spatial
    let x = rng.floats(count, shift: 0.5)
    let w = rng.floats(channels, shift: 1)
    let b = rng.floats(channels)
    let g = rng.floats(count)
    var y = [Float](repeating: 0, count: count)
    var mean = [Float](repeating: 0, count: batch * groups)
    var rstd = mean
    var dx = y
    var dw = [Float](repeating: 0, count: channels)
    var db = dw
    Normalization.groupNormForwardReference(
      x, weight: w, bias: b, &y, mean: &mean, rstd: &rstd, batch: batch, channels: channels, spatial: spatial,
      groups: groups, eps: eps)
    Normalization.groupNormBackwardReference(
      x, weight: w, mean: mean, rstd: rstd, dy: g, dx: &dx, dweight: &dw, dbias: &db, batch: batch,
      channels: channels, spatial: spatial, groups: groups)
    func loss(_ x: [Double], _ w: [Double], _ b: [Double]) -> Double {
      let n = channels / groups * spatial
      let y = normalizeDouble(
        x, rows: batch * groups, n: n, eps: Double(eps), centered: true, weight: w, bias: b,
        channelOf: { ($0 / spatial) % channels })
      return dotProduct(y, toDouble(g))
    }
    let (xd, wd, bd) = (toDouble(x), toDouble(w), toDouble(b))
    expectClose(dx, numericalGradient(xd) { loss($0, wd, bd) }.map(Float.init), tolerance: 1e-4, "dx")
    expectClose(dw, numericalGradient(wd) { loss(xd, $0, bd) }.map(Float.init), tolerance: 1e-4, "dweight")
    expectClose(db, numericalGradient(bd) { loss(xd, wd, $0) }.map(Float.init), tolerance: 1e-4, "dbias")
  }
}

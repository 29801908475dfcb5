/// Row-wise softmax and log-softmax over the last axis of a contiguous [rows, cols] matrix, and their
/// backward passes.
///
/// Forward passes subtract the row max before exponentiating, so any finite inputs are safe. `-inf` entries
/// get probability 0 (log-probability -inf). Edge rows:
/// - a row that is entirely `-inf` gives all zeros from ``forward(_:_:rows:cols:)`` and all `-inf` from
///   ``logForward(_:_:rows:cols:)`` (PyTorch gives NaN; zeros keep fully masked attention rows harmless);
/// - a row containing NaN or `+inf` gives all NaN.
///
/// Rows run in parallel (about 16K elements per task); each row is read twice and written once or twice
/// while it sits in L2.
public enum Softmax {
  typealias V = SIMD16<Float>

  /// Elements per parallel task.
  static let grain = 16_384

  /// Calls `body(row)` for every row, in parallel when there is enough work.
  static func forRows(_ rows: Int, _ cols: Int, _ body: (Int) -> Void) {
    precondition(rows >= 0 && cols >= 0, "negative extent")
    guard rows > 0 && cols > 0 else { return }
    Parallel.forChunks(count: rows, grain: Swift.max(1, grain / cols)) { range in
      for row in range { body(row) }
    }
  }

  // MARK: - Forward

  /// Row-wise softmax; y may alias x.
  public static func forward(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int) {
    forRows(rows, cols) { row in forwardRow(x + row * cols, y + row * cols, cols) }
  }

  /// Softmax of one row of `n` floats.
  static func forwardRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = RowKernels.max(x, n, minimum: false)
    if !(m < .infinity) {
      Elementwise.fillChunk(y, .nan, 0..<n)
      return
    }
    if m == -.infinity {
      Elementwise.fillChunk(y, 0, 0..<n)
      return
    }
    let shift = V(repeating: m)
    var total = 0.0
    var start = 0
    while start < n {
      let end = Swift.min(n, start + RowKernels.block)
      var a0 = V()
      var a1 = V()
      var i = start
      while i + 32 <= end {
        let e0 = VectorMath.exp(loadVector(x + i) - shift)
        let e1 = VectorMath.exp(loadVector(x + i + 16) - shift)
        storeVector(e0, y + i)
        storeVector(e1, y + i + 16)
        a0 += e0
        a1 += e1
        i += 32
      }
      if i + 16 <= end {
        let e = VectorMath.exp(loadVector(x + i) - shift)
        storeVector(e, y + i)
        a0 += e
        i += 16
      }
      if i < end {
        let e = VectorMath.exp(loadPartial(x + i, end - i, pad: -.infinity) - shift)
        storePartial(e, y + i, end - i)
        a1 += e
      }
      total += Double((a0 + a1).sum())
      start = end
    }
    scaleRow(y, n, by: Float(1 / total))
  }

  /// y *= s over `n` floats.
  static func scaleRow(_ y: UnsafeMutablePointer<Float>, _ n: Int, by s: Float) {
    let sv = V(repeating: s)
    var i = 0
    while i + 16 <= n {
      storeVector(loadVector(y + i) * sv, y + i)
      i += 16
    }
    while i < n {
      y[i] *= s
      i += 1
    }
  }

  /// Row-wise log-softmax, y = (x - m) - log Σ e^(x - m); y may alias x.
  public static func logForward(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    forRows(rows, cols) { row in logForwardRow(x + row * cols, y + row * cols, cols) }
  }

  /// Log-softmax of one row.
  static func logForwardRow(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ n: Int) {
    let m = RowKernels.max(x, n, minimum: false)
    if !(m < .infinity) {
      Elementwise.fillChunk(y, .nan, 0..<n)
      return
    }
    if m == -.infinity {
      Elementwise.fillChunk(y, -.infinity, 0..<n)
      return
    }
    let logSum = Float(libmLogDouble(RowKernels.sumExp(x, n, shift: m)))
    let shift = V(repeating: m)
    let l = V(repeating: logSum)
    var i = 0
    while i + 16 <= n {
      storeVector((loadVector(x + i) - shift) - l, y + i)
      i += 16
    }
    while i < n {
      y[i] = (x[i] - m) - logSum
      i += 1
    }
  }

  // MARK: - Backward

  /// dx = y * (dy - Σ dy * y) per row, y the softmax output; dx may alias dy.
  public static func backward(
    y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    forRows(rows, cols) { row in
      let o = row * cols
      backwardRow(y + o, dy + o, dx + o, cols)
    }
  }

  /// Softmax backward of one row.
  static func backwardRow(
    _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    let dot = Float(RowKernels.dot(dy, y, n))
    let d = V(repeating: dot)
    var i = 0
    while i + 16 <= n {
      storeVector(loadVector(y + i) * (loadVector(dy + i) - d), dx + i)
      i += 16
    }
    while i < n {
      dx[i] = y[i] * (dy[i] - dot)
      i += 1
    }
  }

  /// dx = dy - e^y * Σ dy per row, y the log-softmax output; dx may alias dy.
  public static func logBackward(
    y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    forRows(rows, cols) { row in
      let o = row * cols
      logBackwardRow(y + o, dy + o, dx + o, cols)
    }
  }

  /// Log-softmax backward of one row.
  static func logBackwardRow(
    _ y: UnsafePointer<Float>, _ dy: UnsafePointer<Float>, _ dx: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    let total = Float(RowKernels.sum(dy, n))
    let s = V(repeating: total)
    var i = 0
    while i + 16 <= n {
      let g = loadVector(dy + i)
      storeVector(g - VectorMath.exp(loadVector(y + i)) * s, dx + i)
      i += 16
    }
    if i < n {
      let g = loadPartial(dy + i, n - i, pad: 0)
      storePartial(g - VectorMath.exp(loadPartial(y + i, n - i, pad: 0)) * s, dx + i, n - i)
    }
  }

  // MARK: - Reference twins

  /// Scalar twin of ``forward(_:_:rows:cols:)`` in Double.
  public static func forwardReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    for row in 0..<rows {
      let p = x + row * cols
      let q = y + row * cols
      let m = referenceMax(p, cols)
      if m.isNaN || m == .infinity {
        for j in 0..<cols { q[j] = .nan }
        continue
      }
      if m == -.infinity {
        for j in 0..<cols { q[j] = 0 }
        continue
      }
      var s = 0.0
      for j in 0..<cols { s += libmExpDouble(Double(p[j]) - m) }
      for j in 0..<cols { q[j] = Float(libmExpDouble(Double(p[j]) - m) / s) }
    }
  }

  /// Scalar twin of ``logForward(_:_:rows:cols:)`` in Double.
  public static func logForwardReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    for row in 0..<rows {
      let p = x + row * cols
      let q = y + row * cols
      let m = referenceMax(p, cols)
      if m.isNaN || m.isInfinite {
        for j in 0..<cols { q[j] = m.isNaN || m > 0 ? .nan : -.infinity }
        continue
      }
      var s = 0.0
      for j in 0..<cols { s += libmExpDouble(Double(p[j]) - m) }
      let l = libmLogDouble(s)
      for j in 0..<cols { q[j] = Float(Double(p[j]) - m - l) }
    }
  }

  /// Max of a row in Double, NaN if any element is NaN.
  static func referenceMax(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var m = -Double.infinity
    for j in 0..<n {
      let v = Double(p[j])
      if v.isNaN { return .nan }
      m = Swift.max(m, v)
    }
    return m
  }

  /// Scalar twin of ``backward(y:dy:dx:rows:cols:)`` in Double.
  public static func backwardReference(
    y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    for row in 0..<rows {
      let o = row * cols
      var dot = 0.0
      for j in 0..<cols { dot += Double(dy[o + j]) * Double(y[o + j]) }
      for j in 0..<cols { dx[o + j] = Float(Double(y[o + j]) * (Double(dy[o + j]) - dot)) }
    }
  }

  /// Scalar twin of ``logBackward(y:dy:dx:rows:cols:)`` in Double.
  public static func logBackwardReference(
    y: UnsafePointer<Float>, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>, rows: Int, cols: Int
  ) {
    for row in 0..<rows {
      let o = row * cols
      var s = 0.0
      for j in 0..<cols { s += Double(dy[o + j]) }
      for j in 0..<cols { dx[o + j] = Float(Double(dy[o + j]) - libmExpDouble(Double(y[o + j])) * s) }
    }
  }
}

/// Matrix products with a few rows on the left: decoding's `x · Wᵀ` and `x · B`.
///
/// With one to sixteen rows of x (decoding, speculative verification) the work is a stream over the
/// weights, so the kernels are written for bandwidth: each thread takes a contiguous block of output
/// columns, reads its part of the weights once, and keeps every row of x in registers or L1. Row-major
/// throughout.
public enum Gemv {
  /// Rows of x handled by one pass over the weights.
  public static let maximumRows = 16
  /// Weight elements per chunk of work handed to a thread (about 128 KiB).
  static let parallelGrain = 1 << 13

  typealias V = SIMD16<Float>

  /// y[i, j] = alpha · Σₚ x[i, p] · w[j, p] + beta · y[i, j] for i < m, j < n: x [m, k] times
  /// the transpose of w [n, k]. With beta = 0, y is not read. `m` must be at most ``maximumRows``.
  public static func multiplyTransposed(
    m: Int, n: Int, k: Int, alpha: Float = 1, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>,
    ldw: Int, beta: Float = 0, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    precondition(m >= 0 && m <= maximumRows, "Gemv handles at most \(maximumRows) rows, got \(m)")
    guard m > 0, n > 0 else { return }
    let px = UncheckedSendable(x)
    let pw = UncheckedSendable(w)
    let py = UncheckedSendable(y)
    // Chunks of whole 8-column blocks, several per thread so that a late thread still finds work.
    let blocks = (n + 7) / 8
    let chunks = chunkCount(weights: n * k, blocks: blocks)
    HotPool.run(chunks: chunks) { chunk in
      let lo = blocks * chunk / chunks * 8
      let hi = min(n, blocks * (chunk + 1) / chunks * 8)
      transposedColumns(
        lo..<hi, m: m, k: k, alpha: alpha, x: px.value, ldx: ldx, w: pw.value, ldw: ldw, beta: beta, y: py.value,
        ldy: ldy)
    }
  }

  /// Chunks for a product over `weights` elements split into `blocks` column blocks.
  static func chunkCount(weights: Int, blocks: Int) -> Int {
    guard Parallel.threadCount > 1 else { return 1 }
    return max(1, min(weights / parallelGrain, 8 * Parallel.threadCount, blocks))
  }

  /// One thread's share of ``multiplyTransposed(m:n:k:alpha:x:ldx:w:ldw:beta:y:ldy:)``.
  static func transposedColumns(
    _ columns: Range<Int>, m: Int, k: Int, alpha: Float, x: UnsafePointer<Float>, ldx: Int,
    w: UnsafePointer<Float>, ldw: Int, beta: Float, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let vectorEnd = k & ~15
    var j = columns.lowerBound
    if m == 1 && beta == 0 {  // whole blocks of eight columns; the loops below finish the rest
      j = singleRowBlocks(columns, k: k, alpha: alpha, x: x, w: w, ldw: ldw, y: y)
    }
    while j + 4 <= columns.upperBound {
      let (w0, w1, w2, w3) = (w + j * ldw, w + (j + 1) * ldw, w + (j + 2) * ldw, w + (j + 3) * ldw)
      for i in 0..<m {
        let xi = x + i * ldx
        var (a0, a1, a2, a3) = (V(), V(), V(), V())
        var p = 0
        while p < vectorEnd {
          let xv = load(xi + p)
          a0.addProduct(xv, load(w0 + p))
          a1.addProduct(xv, load(w1 + p))
          a2.addProduct(xv, load(w2 + p))
          a3.addProduct(xv, load(w3 + p))
          p += 16
        }
        var (s0, s1, s2, s3) = (a0.sum(), a1.sum(), a2.sum(), a3.sum())
        while p < k {
          s0 += xi[p] * w0[p]
          s1 += xi[p] * w1[p]
          s2 += xi[p] * w2[p]
          s3 += xi[p] * w3[p]
          p += 1
        }
        let yi = y + i * ldy + j
        store(s0, alpha: alpha, beta: beta, to: yi)
        store(s1, alpha: alpha, beta: beta, to: yi + 1)
        store(s2, alpha: alpha, beta: beta, to: yi + 2)
        store(s3, alpha: alpha, beta: beta, to: yi + 3)
      }
      j += 4
    }
    while j < columns.upperBound {
      let wj = w + j * ldw
      for i in 0..<m {
        let xi = x + i * ldx
        var a = V()
        var p = 0
        while p < vectorEnd {
          a.addProduct(load(xi + p), load(wj + p))
          p += 16
        }
        var s = a.sum()
        while p < k {
          s += xi[p] * wj[p]
          p += 1
        }
        store(s, alpha: alpha, beta: beta, to: y + i * ldy + j)
      }
      j += 1
    }
  }

  /// One row of x, beta = 0: eight weight rows at a time, so eight independent sums hide the FMA latency.
  /// Covers the whole blocks of eight at the start of `columns` and returns the first column left over.
  @inline(__always)
  static func singleRowBlocks(
    _ columns: Range<Int>, k: Int, alpha: Float, x: UnsafePointer<Float>, w: UnsafePointer<Float>, ldw: Int,
    y: UnsafeMutablePointer<Float>
  ) -> Int {
    let vectorEnd = k & ~15
    var j = columns.lowerBound
    while j + 8 <= columns.upperBound {
      let w0 = w + j * ldw
      var (a0, a1, a2, a3, a4, a5, a6, a7) = (V(), V(), V(), V(), V(), V(), V(), V())
      var p = 0
      while p < vectorEnd {
        let xv = load(x + p)
        let wp = w0 + p
        a0.addProduct(xv, load(wp))
        a1.addProduct(xv, load(wp + ldw))
        a2.addProduct(xv, load(wp + 2 * ldw))
        a3.addProduct(xv, load(wp + 3 * ldw))
        a4.addProduct(xv, load(wp + 4 * ldw))
        a5.addProduct(xv, load(wp + 5 * ldw))
        a6.addProduct(xv, load(wp + 6 * ldw))
        a7.addProduct(xv, load(wp + 7 * ldw))
        p += 16
      }
      var sums = SIMD8<Float>(a0.sum(), a1.sum(), a2.sum(), a3.sum(), a4.sum(), a5.sum(), a6.sum(), a7.sum())
      while p < k {
        for r in 0..<8 { sums[r] += x[p] * w0[r * ldw + p] }
        p += 1
      }
      UnsafeMutableRawPointer(y + j).storeBytes(of: SIMD8<Float>(repeating: alpha) * sums, as: SIMD8<Float>.self)
      j += 8
    }
    return j
  }

  /// y[i, j] = alpha · Σₚ x[i, p] · b[p, j] + beta · y[i, j] for i < m, j < n: x [m, k] times b [k, n].
  /// With beta = 0, y is not read. `m` must be at most ``maximumRows``.
  public static func multiply(
    m: Int, n: Int, k: Int, alpha: Float = 1, x: UnsafePointer<Float>, ldx: Int, b: UnsafePointer<Float>,
    ldb: Int, beta: Float = 0, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    precondition(m >= 0 && m <= maximumRows, "Gemv handles at most \(maximumRows) rows, got \(m)")
    guard m > 0, n > 0 else { return }
    let px = UncheckedSendable(x)
    let pb = UncheckedSendable(b)
    let py = UncheckedSendable(y)
    // Blocks of 64 output columns (four vectors of accumulators per row of x), grouped into chunks.
    let blocks = (n + 63) / 64
    let chunks = chunkCount(weights: n * k, blocks: blocks)
    HotPool.run(chunks: chunks) { chunk in
      for block in (blocks * chunk / chunks)..<(blocks * (chunk + 1) / chunks) {
        let lo = block * 64
        let width = min(64, n - lo)
        for i in 0..<m {
          plainColumns(
            lo, width: width, k: k, alpha: alpha, x: px.value + i * ldx, b: pb.value, ldb: ldb, beta: beta,
            y: py.value + i * ldy)
        }
      }
    }
  }

  /// Columns `lo ..< lo + width` (width <= 64) of one row of ``multiply(m:n:k:alpha:x:ldx:b:ldb:beta:y:ldy:)``.
  @inline(__always)
  static func plainColumns(
    _ lo: Int, width: Int, k: Int, alpha: Float, x: UnsafePointer<Float>, b: UnsafePointer<Float>, ldb: Int,
    beta: Float, y: UnsafeMutablePointer<Float>
  ) {
    if width == 64 {
      var (a0, a1, a2, a3) = (V(), V(), V(), V())
      var row = b + lo
      for p in 0..<k {
        let xv = V(repeating: x[p])
        a0.addProduct(xv, load(row))
        a1.addProduct(xv, load(row + 16))
        a2.addProduct(xv, load(row + 32))
        a3.addProduct(xv, load(row + 48))
        row += ldb
      }
      store(a0, alpha: alpha, beta: beta, to: y + lo)
      store(a1, alpha: alpha, beta: beta, to: y + lo + 16)
      store(a2, alpha: alpha, beta: beta, to: y + lo + 32)
      store(a3, alpha: alpha, beta: beta, to: y + lo + 48)
      return
    }
    for j in lo..<(lo + width) {
      var s: Float = 0
      for p in 0..<k { s += x[p] * b[p * ldb + j] }
      store(s, alpha: alpha, beta: beta, to: y + j)
    }
  }

  @inline(__always) static func load(_ p: UnsafePointer<Float>) -> V {
    UnsafeRawPointer(p).loadUnaligned(as: V.self)
  }

  @inline(__always) static func store(_ s: Float, alpha: Float, beta: Float, to p: UnsafeMutablePointer<Float>) {
    p.pointee = beta == 0 ? alpha * s : alpha * s + beta * p.pointee
  }

  @inline(__always) static func store(_ v: V, alpha: Float, beta: Float, to p: UnsafeMutablePointer<Float>) {
    let raw = UnsafeMutableRawPointer(p)
    let scaled = V(repeating: alpha) * v
    let out = beta == 0 ? scaled : scaled.addingProduct(V(repeating: beta), raw.loadUnaligned(as: V.self))
    raw.storeBytes(of: out, as: V.self)
  }

  /// The plain loop twin of ``multiplyTransposed(m:n:k:alpha:x:ldx:w:ldw:beta:y:ldy:)`` (sums in Double).
  public static func multiplyTransposedReference(
    m: Int, n: Int, k: Int, alpha: Float = 1, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>,
    ldw: Int, beta: Float = 0, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(x[i * ldx + p]) * Double(w[j * ldw + p]) }
        y[i * ldy + j] = beta == 0 ? alpha * Float(s) : alpha * Float(s) + beta * y[i * ldy + j]
      }
    }
  }

  /// The plain loop twin of ``multiply(m:n:k:alpha:x:ldx:b:ldb:beta:y:ldy:)`` (sums in Double).
  public static func multiplyReference(
    m: Int, n: Int, k: Int, alpha: Float = 1, x: UnsafePointer<Float>, ldx: Int, b: UnsafePointer<Float>,
    ldb: Int, beta: Float = 0, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k { s += Double(x[i * ldx + p]) * Double(b[p * ldb + j]) }
        y[i * ldy + j] = beta == 0 ? alpha * Float(s) : alpha * Float(s) + beta * y[i * ldy + j]
      }
    }
  }
}

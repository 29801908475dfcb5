import CPrefetch

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
  /// Weight rows ahead of its loads that ``tile(_:k:alpha:x:ldx:w:ldw:beta:y:ldy:)`` prefetches (two blocks).
  static let prefetchRows = 8

  /// Rows of x in one ``tile(_:k:alpha:x:ldx:w:ldw:beta:y:ldy:)``, as a type so that it specialises.
  protocol TileRows { static var count: Int { get } }
  enum OneRow: TileRows { static var count: Int { 1 } }
  enum TwoRows: TileRows { static var count: Int { 2 } }
  enum ThreeRows: TileRows { static var count: Int { 3 } }
  enum FourRows: TileRows { static var count: Int { 4 } }

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
      // Four weight rows against tiles of up to four rows of x: each weight vector loaded once per tile.
      let wj = w + j * ldw
      var i = 0
      @inline(__always) func tile<Rows: TileRows>(_ rows: Rows.Type) {
        Gemv.tile(
          rows, k: k, alpha: alpha, x: x + i * ldx, ldx: ldx, w: wj, ldw: ldw, beta: beta, y: y + i * ldy + j, ldy: ldy)
      }
      while i < m {
        switch m - i {
        case 1: tile(OneRow.self)
        case 2: tile(TwoRows.self)
        case 3: tile(ThreeRows.self)
        default: tile(FourRows.self)
        }
        i += 4
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

  /// `Rows.count` (1 to 4; a type, so that each specialisation folds the unused sums away) rows of x against four
  /// weight rows: y[r, c] = alpha · Σₚ x[r, p] · w[c, p] + beta · y[r, c] for r < rows, c < 4. Each weight
  /// vector is loaded once and meets every row, so a few rows cost little more than one.
  @inline(__always)
  static func tile<Rows: TileRows>(
    _: Rows.Type, k: Int, alpha: Float, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int,
    beta: Float, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let rows = Rows.count
    let vectorEnd = k & ~15
    let (w0, w1, w2, w3) = (w, w + ldw, w + 2 * ldw, w + 3 * ldw)
    let (x0, x1, x2, x3) = (x, x + ldx, x + 2 * ldx, x + 3 * ldx)
    var (a00, a01, a02, a03) = (V(), V(), V(), V())
    var (a10, a11, a12, a13) = (V(), V(), V(), V())
    var (a20, a21, a22, a23) = (V(), V(), V(), V())
    var (a30, a31, a32, a33) = (V(), V(), V(), V())
    let ahead = prefetchRows * ldw
    var p = 0
    while p < vectorEnd {
      // Four streams are too few for the hardware prefetcher to keep the weights coming; ask ahead.
      frontier_prefetch(w0 + p + ahead)
      frontier_prefetch(w1 + p + ahead)
      frontier_prefetch(w2 + p + ahead)
      frontier_prefetch(w3 + p + ahead)
      let (v0, v1, v2, v3) = (load(w0 + p), load(w1 + p), load(w2 + p), load(w3 + p))
      let u0 = load(x0 + p)
      a00.addProduct(u0, v0)
      a01.addProduct(u0, v1)
      a02.addProduct(u0, v2)
      a03.addProduct(u0, v3)
      if rows > 1 {
        let u1 = load(x1 + p)
        a10.addProduct(u1, v0)
        a11.addProduct(u1, v1)
        a12.addProduct(u1, v2)
        a13.addProduct(u1, v3)
      }
      if rows > 2 {
        let u2 = load(x2 + p)
        a20.addProduct(u2, v0)
        a21.addProduct(u2, v1)
        a22.addProduct(u2, v2)
        a23.addProduct(u2, v3)
      }
      if rows > 3 {
        let u3 = load(x3 + p)
        a30.addProduct(u3, v0)
        a31.addProduct(u3, v1)
        a32.addProduct(u3, v2)
        a33.addProduct(u3, v3)
      }
      p += 16
    }
    var sums = (
      totals(a00, a01, a02, a03), rows > 1 ? totals(a10, a11, a12, a13) : SIMD4(),
      rows > 2 ? totals(a20, a21, a22, a23) : SIMD4(), rows > 3 ? totals(a30, a31, a32, a33) : SIMD4()
    )
    while p < k {
      let column = SIMD4(w0[p], w1[p], w2[p], w3[p])
      sums.0.addProduct(SIMD4(repeating: x0[p]), column)
      if rows > 1 { sums.1.addProduct(SIMD4(repeating: x1[p]), column) }
      if rows > 2 { sums.2.addProduct(SIMD4(repeating: x2[p]), column) }
      if rows > 3 { sums.3.addProduct(SIMD4(repeating: x3[p]), column) }
      p += 1
    }
    store4(sums.0, alpha: alpha, beta: beta, to: y)
    if rows > 1 { store4(sums.1, alpha: alpha, beta: beta, to: y + ldy) }
    if rows > 2 { store4(sums.2, alpha: alpha, beta: beta, to: y + 2 * ldy) }
    if rows > 3 { store4(sums.3, alpha: alpha, beta: beta, to: y + 3 * ldy) }
  }

  /// The lane sums of four vectors, by halving (the generic `sum()` is a call per vector).
  @inline(__always) static func totals(_ a: V, _ b: V, _ c: V, _ d: V) -> SIMD4<Float> {
    let (a8, b8, c8, d8) = (
      a.lowHalf + a.highHalf, b.lowHalf + b.highHalf, c.lowHalf + c.highHalf, d.lowHalf + d.highHalf
    )
    let ab = SIMD8(lowHalf: a8.lowHalf + a8.highHalf, highHalf: b8.lowHalf + b8.highHalf)
    let cd = SIMD8(lowHalf: c8.lowHalf + c8.highHalf, highHalf: d8.lowHalf + d8.highHalf)
    // ab = (a0..a3, b0..b3): pairwise sums twice leave (Σa, Σb, Σc, Σd).
    let pairs = SIMD8(
      ab[0] + ab[1], ab[2] + ab[3], ab[4] + ab[5], ab[6] + ab[7], cd[0] + cd[1], cd[2] + cd[3], cd[4] + cd[5],
      cd[6] + cd[7])
    return SIMD4(pairs[0] + pairs[1], pairs[2] + pairs[3], pairs[4] + pairs[5], pairs[6] + pairs[7])
  }

  @inline(__always) static func store4(
    _ v: SIMD4<Float>, alpha: Float, beta: Float, to p: UnsafeMutablePointer<Float>
  ) {
    for c in 0..<4 { store(v[c], alpha: alpha, beta: beta, to: p + c) }
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

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
    if m == 1 {  // whole blocks of four columns; the loop at the end finishes the rest
      j = singleRowBlocks(columns, k: k, alpha: alpha, x: x, w: w, ldw: ldw, beta: beta, y: y)
    } else if !wideRegisters {  // pairs of columns; the loop at the end finishes the rest
      while j + 2 <= columns.upperBound {
        let wj = w + j * ldw
        var i = 0
        @inline(__always) func tile<Rows: TileRows>(_ rows: Rows.Type) {
          Gemv.narrowTile(
            rows, k: k, alpha: alpha, x: x + i * ldx, ldx: ldx, w: wj, ldw: ldw, beta: beta, y: y + i * ldy + j,
            ldy: ldy)
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
        j += 2
      }
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

  /// Whether the target has 32 vector registers (AVX-512), which the four-by-four ``tile(_:k:alpha:x:ldx:w:ldw:beta:y:ldy:)``
  /// fills with its sixteen 16-lane sums; with 16 (AVX2) those sums spill to the stack on every step, and
  /// ``narrowTile(_:k:alpha:x:ldx:w:ldw:beta:y:ldy:)`` runs instead.
  static var wideRegisters: Bool { frontier_vector_registers() >= 32 }

  /// `Rows.count` (1 to 4) rows of x against two weight rows with 8-lane sums: eight accumulators, two weight
  /// vectors and one x vector fit AVX2's sixteen registers. y[r, c] = alpha · Σₚ x[r, p] · w[c, p] +
  /// beta · y[r, c] for r < rows, c < 2.
  @inline(__always)
  static func narrowTile<Rows: TileRows>(
    _: Rows.Type, k: Int, alpha: Float, x: UnsafePointer<Float>, ldx: Int, w: UnsafePointer<Float>, ldw: Int,
    beta: Float, y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let rows = Rows.count
    let vectorEnd = k & ~7
    let (w0, w1) = (w, w + ldw)
    let (x0, x1, x2, x3) = (x, x + ldx, x + 2 * ldx, x + 3 * ldx)
    var (a00, a01, a10, a11) = (V8(), V8(), V8(), V8())
    var (a20, a21, a30, a31) = (V8(), V8(), V8(), V8())
    @inline(__always) func load8(_ p: UnsafePointer<Float>) -> V8 { UnsafeRawPointer(p).loadUnaligned(as: V8.self) }
    let ahead = prefetchRows * ldw
    var p = 0
    while p < vectorEnd {
      // Two interleaved streams stall on every line without this (the hardware prefetcher follows one
      // stream far better than two): ask for the lines of the rows eight ahead, once per 64-byte line.
      if p & 15 == 0 {
        frontier_prefetch(w0 + p + ahead)
        frontier_prefetch(w1 + p + ahead)
      }
      let (v0, v1) = (load8(w0 + p), load8(w1 + p))
      let u0 = load8(x0 + p)
      a00.addProduct(u0, v0)
      a01.addProduct(u0, v1)
      if rows > 1 {
        let u1 = load8(x1 + p)
        a10.addProduct(u1, v0)
        a11.addProduct(u1, v1)
      }
      if rows > 2 {
        let u2 = load8(x2 + p)
        a20.addProduct(u2, v0)
        a21.addProduct(u2, v1)
      }
      if rows > 3 {
        let u3 = load8(x3 + p)
        a30.addProduct(u3, v0)
        a31.addProduct(u3, v1)
      }
      p += 8
    }
    // (row 0 column 0, row 0 column 1, row 1 column 0, row 1 column 1), then rows 2 and 3.
    var low = frontier_sums_of_four8(a00, a01, a10, a11)
    var high = rows > 2 ? frontier_sums_of_four8(a20, a21, a30, a31) : SIMD4()
    while p < k {
      let (c0, c1) = (w0[p], w1[p])
      low.addProduct(SIMD4(x0[p], x0[p], rows > 1 ? x1[p] : 0, rows > 1 ? x1[p] : 0), SIMD4(c0, c1, c0, c1))
      if rows > 2 {
        high.addProduct(SIMD4(x2[p], x2[p], rows > 3 ? x3[p] : 0, rows > 3 ? x3[p] : 0), SIMD4(c0, c1, c0, c1))
      }
      p += 1
    }
    let outputs = (low, high)
    for r in 0..<rows {
      let sums = r < 2 ? outputs.0 : outputs.1
      let lane = 2 * (r & 1)
      store(sums[lane], alpha: alpha, beta: beta, to: y + r * ldy)
      store(sums[lane + 1], alpha: alpha, beta: beta, to: y + r * ldy + 1)
    }
  }

  /// The lane sums of four vectors (see `frontier_sums_of_four16`: the generic `sum()` is a call per vector,
  /// and halving in Swift leaves calls inside large kernels).
  @inline(__always) static func totals(_ a: V, _ b: V, _ c: V, _ d: V) -> SIMD4<Float> {
    frontier_sums_of_four16(a, b, c, d)
  }

  @inline(__always) static func store4(
    _ v: SIMD4<Float>, alpha: Float, beta: Float, to p: UnsafeMutablePointer<Float>
  ) {
    for c in 0..<4 { store(v[c], alpha: alpha, beta: beta, to: p + c) }
  }

  /// One row of x: the weight rows one after another, four at a time, each row's dot product in two
  /// vector sums that are reduced together for the four rows. Reading one row to its end before the next
  /// keeps a single forward stream, which the hardware prefetcher follows at nearly the speed of a plain
  /// read (interleaving eight rows ran at 60% of it on an AMD EPYC with AVX2). Covers the whole blocks of
  /// four at the start of `columns` and returns the first column left over.
  @inline(__always)
  static func singleRowBlocks(
    _ columns: Range<Int>, k: Int, alpha: Float, x: UnsafePointer<Float>, w: UnsafePointer<Float>, ldw: Int,
    beta: Float, y: UnsafeMutablePointer<Float>
  ) -> Int {
    let vectorEnd = k & ~15
    /// One row's dot product over the whole vectors, and the last k mod 16 products as a scalar sum.
    @inline(__always) func dot(_ row: UnsafePointer<Float>) -> (V, Float) {
      var (a0, a1) = (V(), V())
      var p = 0
      while p + 32 <= vectorEnd {
        a0.addProduct(load(x + p), load(row + p))
        a1.addProduct(load(x + p + 16), load(row + p + 16))
        p += 32
      }
      if p < vectorEnd {
        a0.addProduct(load(x + p), load(row + p))
        p += 16
      }
      var tail: Float = 0
      while p < k {
        tail += x[p] * row[p]
        p += 1
      }
      return (a0 + a1, tail)
    }
    var j = columns.lowerBound
    while j + 4 <= columns.upperBound {
      let w0 = w + j * ldw
      let (d0, d1, d2, d3) = (dot(w0), dot(w0 + ldw), dot(w0 + 2 * ldw), dot(w0 + 3 * ldw))
      let sums = totals(d0.0, d1.0, d2.0, d3.0) + SIMD4(d0.1, d1.1, d2.1, d3.1)
      store4(sums, alpha: alpha, beta: beta, to: y + j)
      j += 4
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

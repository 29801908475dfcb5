import CBLAS

/// Single-precision matrix products through OpenBLAS.
///
/// Row-major throughout. Products with at most ``Gemv/maximumRows`` output rows go to ``Gemv``'s
/// multi-threaded streaming kernels (Debian's OpenBLAS runs SGEMM with M = 1 about 4x slower than
/// GEMV, and its GEMV is single-threaded here; see toolchain-notes.md).
public enum Gemm {
  /// C = alpha * op(A) * op(B) + beta * C, where op(A) is M x K and op(B) is K x N.
  public static func multiply(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    guard m > 0, n > 0 else { return }
    if k == 0 {
      for i in 0..<m {
        for j in 0..<n { c[i * ldc + j] = beta == 0 ? 0 : beta * c[i * ldc + j] }
      }
      return
    }
    if m <= Gemv.maximumRows && (!transposeA || m == 1) {
      // A few rows: a bandwidth-bound stream over B, split between threads by output columns.
      func run(_ x: UnsafePointer<Float>, _ ldx: Int) {
        if transposeB {
          Gemv.multiplyTransposed(
            m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, w: b, ldw: ldb, beta: beta, y: c, ldy: ldc)
        } else {
          Gemv.multiply(m: m, n: n, k: k, alpha: alpha, x: x, ldx: ldx, b: b, ldb: ldb, beta: beta, y: c, ldy: ldc)
        }
      }
      if transposeA && lda != 1 {
        // The single row of op(A) is a strided column of A: gather it first.
        let row = (0..<k).map { a[$0 * lda] }
        row.withUnsafeBufferPointer { run($0.baseAddress!, k) }
      } else {
        run(a, lda)
      }
      return
    }
    // Split the output between our threads: rows when there are many, else columns.
    let threads = Parallel.threadCount
    let work = Double(m) * Double(n) * Double(k)
    guard threads > 1, work >= 4e6 else {
      sgemm(transposeA, transposeB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc)
      return
    }
    let pa = UncheckedSendable(a)
    let pb = UncheckedSendable(b)
    let pc = UncheckedSendable(c)
    if m >= n || m >= 64 * threads {
      let pieces = min(threads, max(1, m / 16))
      Parallel.forEach(count: pieces) { t in
        let lo = m * t / pieces / 8 * 8
        let hi = t == pieces - 1 ? m : m * (t + 1) / pieces / 8 * 8
        guard hi > lo else { return }
        let aStart = transposeA ? pa.value + lo : pa.value + lo * lda
        sgemm(transposeA, transposeB, hi - lo, n, k, alpha, aStart, lda, pb.value, ldb, beta, pc.value + lo * ldc, ldc)
      }
    } else {
      let pieces = min(threads, max(1, n / 16))
      Parallel.forEach(count: pieces) { t in
        let lo = n * t / pieces / 16 * 16
        let hi = t == pieces - 1 ? n : n * (t + 1) / pieces / 16 * 16
        guard hi > lo else { return }
        let bStart = transposeB ? pb.value + lo * ldb : pb.value + lo
        sgemm(transposeA, transposeB, m, hi - lo, k, alpha, pa.value, lda, bStart, ldb, beta, pc.value + lo, ldc)
      }
    }
  }

  /// One single-threaded BLAS call.
  @inline(__always)
  static func sgemm(
    _ transposeA: Bool, _ transposeB: Bool, _ m: Int, _ n: Int, _ k: Int, _ alpha: Float, _ a: UnsafePointer<Float>,
    _ lda: Int, _ b: UnsafePointer<Float>, _ ldb: Int, _ beta: Float, _ c: UnsafeMutablePointer<Float>, _ ldc: Int
  ) {
    cblas_sgemm(
      CblasRowMajor, transposeA ? CblasTrans : CblasNoTrans, transposeB ? CblasTrans : CblasNoTrans,
      Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
  }

  /// The plain triple loop twin of ``multiply(transposeA:transposeB:m:n:k:alpha:a:lda:b:ldb:beta:c:ldc:)``.
  public static func multiplyReference(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int, alpha: Float = 1,
    a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int, beta: Float = 0,
    c: UnsafeMutablePointer<Float>, ldc: Int
  ) {
    for i in 0..<m {
      for j in 0..<n {
        var s = 0.0
        for p in 0..<k {
          let x = transposeA ? a[p * lda + i] : a[i * lda + p]
          let y = transposeB ? b[j * ldb + p] : b[p * ldb + j]
          s += Double(x) * Double(y)
        }
        let old = beta == 0 ? 0 : beta * c[i * ldc + j]
        c[i * ldc + j] = alpha * Float(s) + old
      }
    }
  }
}

extension Gemm {
  /// Runs one product per batch entry: operand i starts at `aOffsets[i]` / `bOffsets[i]` elements,
  /// output i at `i * m * n` (contiguous output).
  public static func multiplyBatched(
    transposeA: Bool, transposeB: Bool, m: Int, n: Int, k: Int,
    a: UnsafePointer<Float>, lda: Int, aOffsets: [Int], b: UnsafePointer<Float>, ldb: Int, bOffsets: [Int],
    c: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<aOffsets.count {
      multiply(
        transposeA: transposeA, transposeB: transposeB, m: m, n: n, k: k, a: a + aOffsets[i], lda: lda,
        b: b + bOffsets[i], ldb: ldb, c: c + i * m * n, ldc: n)
    }
  }

  /// Fills each of `rows` rows of `c` (row stride `ldc`) with `vector` (length `cols`), e.g. a bias before a GEMM with beta 1.
  public static func broadcastRows(
    _ vector: UnsafePointer<Float>, into c: UnsafeMutablePointer<Float>, rows: Int, cols: Int, ldc: Int
  ) {
    let pv = UncheckedSendable(vector)
    let pc = UncheckedSendable(c)
    Parallel.forChunks(count: rows, grain: Swift.max(1, 16384 / Swift.max(cols, 1))) { range in
      for r in range { (pc.value + r * ldc).update(from: pv.value, count: cols) }
    }
  }
}

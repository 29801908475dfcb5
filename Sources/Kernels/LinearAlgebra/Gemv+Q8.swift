import CQuant

extension Gemv {
  /// Output columns `columns` of y [m, n] = x · wᵀ for q8_0 weights w [n, k] and x [m, k] quantised with
  /// the same group size (values row stride k, scales row stride k / groupSize); added to y when
  /// `accumulate` is set. `level` picks the kernel (a `FRONTIER_Q8_…` constant the CPU supports).
  static func q8Columns(
    _ columns: Range<Int>, m: Int, x: UnsafePointer<Int8>, xScales: UnsafePointer<Float>, w: Q8_0.Matrix,
    y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool, level: Int32
  ) {
    let (k, group) = (w.layout.columns, w.layout.groupSize)
    #if arch(x86_64)
      let (lo, hi, flag) = (Int64(columns.lowerBound), Int64(columns.upperBound), Int32(accumulate ? 1 : 0))
      switch level {
      case FRONTIER_Q8_VNNI:
        frontier_q8_columns_vnni(
          Int64(m), Int64(k), Int64(group), x, xScales, w.values, w.scales, lo, hi, y, Int64(ldy), flag)
        return
      case FRONTIER_Q8_AVX2:
        frontier_q8_columns_avx2(
          Int64(m), Int64(k), Int64(group), x, xScales, w.values, w.scales, lo, hi, y, Int64(ldy), flag)
        return
      default:
        break
      }
    #endif
    q8ColumnsPortable(columns, m: m, x: x, xScales: xScales, w: w, y: y, ldy: ldy, accumulate: accumulate)
  }

  /// ``q8Columns(_:m:x:xScales:w:y:ldy:accumulate:level:)`` without intrinsics: each block's products summed
  /// in Int32 (a loop LLVM vectorises), then scaled and summed in Float.
  static func q8ColumnsPortable(
    _ columns: Range<Int>, m: Int, x: UnsafePointer<Int8>, xScales: UnsafePointer<Float>, w: Q8_0.Matrix,
    y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
  ) {
    let (k, group, blocks) = (w.layout.columns, w.layout.groupSize, w.layout.blocksPerRow)
    for j in columns {
      let (wj, sj) = (w.values + j * k, w.scales + j * blocks)
      for i in 0..<m {
        let (xi, si) = (x + i * k, xScales + i * blocks)
        var s: Float = 0
        for b in 0..<blocks {
          var dot: Int32 = 0
          for p in (b * group)..<((b + 1) * group) { dot &+= Int32(xi[p]) &* Int32(wj[p]) }
          s += Float(dot) * (sj[b] * si[b])
        }
        let out = y + i * ldy + j
        out.pointee = accumulate ? out.pointee + s : s
      }
    }
  }
}

extension Gemv {
  /// The q8_0 kernel levels, as Swift constants (tests cannot import CQuant).
  static let q8Portable = FRONTIER_Q8_PORTABLE
  /// AVX2 + FMA.
  static let q8AVX2 = FRONTIER_Q8_AVX2
  /// AVX-512 VNNI.
  static let q8VNNI = FRONTIER_Q8_VNNI
}

/// A shape, group size or value that a quantised format cannot hold.
public struct QuantizationError: Error, CustomStringConvertible, Sendable {
  /// What is wrong, in one line.
  public let reason: String

  /// An error with the given one-line reason.
  public init(reason: String) { self.reason = reason }

  /// The reason.
  public var description: String { reason }
}

/// The q8_0 format (GGML's name): int8 values with one float scale per block of consecutive values.
///
/// A matrix W [rows, columns] (rows are output features, columns input features) is stored row-major as
/// `rows * columns` Int8 values plus `rows * columns / groupSize` Float32 scales, one per block of
/// `groupSize` consecutive values of a row, in the same order. Element `(r, c)` is
/// `Float(values[r * columns + c]) * scales[(r * columns + c) / groupSize]`.
///
/// Quantising a block: `scale = max|x| / 127` (in Float), `q = x / scale` rounded to the nearest integer
/// (ties to even) and clamped to [-127, 127]; a block of zeros has scale 0 and values 0. Values are always
/// in [-127, 127]: the kernels' sign trick relies on it, so data from elsewhere should pass
/// ``validate(values:count:)``. GGML uses groups of 32; llama2.c's version-2 export uses 64; any positive
/// size that divides `columns` works. Non-finite inputs quantise without trapping to unspecified values.
public enum Q8_0 {
  /// The largest magnitude of a quantised value.
  public static let maximumMagnitude: Int8 = 127

  /// The shape of a q8_0 matrix, checked on creation.
  public struct Layout: Hashable, Sendable {
    /// Rows (output features).
    public let rows: Int
    /// Values per row (input features).
    public let columns: Int
    /// Consecutive values of a row that share one scale.
    public let groupSize: Int

    /// A layout, or an error when a count is negative or `groupSize` is not a positive divisor of `columns`.
    public init(rows: Int, columns: Int, groupSize: Int) throws(QuantizationError) {
      try Self.validate(rows: rows, columns: columns, groupSize: groupSize)
      (self.rows, self.columns, self.groupSize) = (rows, columns, groupSize)
    }

    /// A layout already known to be valid (a part of a valid one).
    init(checkedRows rows: Int, columns: Int, groupSize: Int) {
      (self.rows, self.columns, self.groupSize) = (rows, columns, groupSize)
    }

    /// Throws unless `rows` and `columns` are non-negative and `groupSize` is a positive divisor of `columns`.
    public static func validate(rows: Int, columns: Int, groupSize: Int) throws(QuantizationError) {
      guard rows >= 0, columns >= 0 else {
        throw QuantizationError(reason: "q8_0 matrix shape [\(rows), \(columns)] has a negative dimension")
      }
      guard groupSize > 0 else {
        throw QuantizationError(reason: "q8_0 group size must be positive, got \(groupSize)")
      }
      guard columns % groupSize == 0 else {
        throw QuantizationError(
          reason: "q8_0 group size \(groupSize) does not divide the row width \(columns)")
      }
    }

    /// Scales per row.
    public var blocksPerRow: Int { columns / groupSize }
    /// Int8 values in the matrix.
    public var valueCount: Int { rows * columns }
    /// Float scales in the matrix.
    public var scaleCount: Int { rows * blocksPerRow }
  }

  /// A read-only view of a q8_0 matrix's storage.
  public struct Matrix {
    /// The values, `layout.valueCount` of them, row-major.
    public var values: UnsafePointer<Int8>
    /// The scales, `layout.scaleCount` of them, row-major.
    public var scales: UnsafePointer<Float>
    /// The shape and group size.
    public var layout: Layout

    /// A view of storage laid out as `layout` describes.
    public init(values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, layout: Layout) {
      (self.values, self.scales, self.layout) = (values, scales, layout)
    }

    /// The view of rows `range` (a fused projection's part, say); `range` must lie within the rows.
    public func rows(_ range: Range<Int>) -> Matrix {
      precondition(range.lowerBound >= 0 && range.upperBound <= layout.rows, "rows \(range) out of range")
      let part = Layout(checkedRows: range.count, columns: layout.columns, groupSize: layout.groupSize)
      return Matrix(
        values: values + range.lowerBound * layout.columns, scales: scales + range.lowerBound * layout.blocksPerRow,
        layout: part)
    }
  }

  /// Throws if any of the `count` values is -128, which no quantiser produces and the kernels mishandle.
  public static func validate(values: UnsafePointer<Int8>, count: Int) throws(QuantizationError) {
    var bad = false
    for i in 0..<count { bad = bad || values[i] == .min }
    if bad { throw QuantizationError(reason: "q8_0 values must lie in [-127, 127]; found -128") }
  }

  /// Quantises x [rows, columns] (row-major, contiguous) into `values` and `scales`, parallel over rows.
  public static func quantize(
    _ x: UnsafePointer<Float>, layout: Layout, values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>
  ) {
    let (columns, blocks) = (layout.columns, layout.blocksPerRow)
    let px = UncheckedSendable(x)
    let pq = UncheckedSendable(values)
    let ps = UncheckedSendable(scales)
    Parallel.forChunks(count: layout.rows, grain: max(1, 65_536 / max(columns, 1))) { rows in
      for r in rows {
        quantizeRow(
          px.value + r * columns, count: columns, groupSize: layout.groupSize, values: pq.value + r * columns,
          scales: ps.value + r * blocks)
      }
    }
  }

  /// Quantises one row of `count` values (a multiple of `groupSize`).
  @inline(__always)
  static func quantizeRow(
    _ x: UnsafePointer<Float>, count: Int, groupSize: Int, values: UnsafeMutablePointer<Int8>,
    scales: UnsafeMutablePointer<Float>
  ) {
    var block = 0
    var start = 0
    while start < count {
      let scale = absoluteMaximum(x + start, count: groupSize) / 127
      scales[block] = scale
      quantizeBlock(x + start, count: groupSize, scale: scale, values: values + start)
      start += groupSize
      block += 1
    }
  }

  /// The largest |x| of `count` values, NaNs ignored (SIMD compare-and-replace: `pointwiseMax` and the
  /// generic `max()` do not vectorise, see toolchain-notes.md).
  @inline(__always)
  static func absoluteMaximum(_ x: UnsafePointer<Float>, count: Int) -> Float {
    var p = 0
    var result: Float = 0
    if count >= 16 {
      var m = SIMD16<Float>()
      while p + 16 <= count {
        let bits = UnsafeRawPointer(x + p).loadUnaligned(as: SIMD16<UInt32>.self) & 0x7FFF_FFFF
        let v = unsafeBitCast(bits, to: SIMD16<Float>.self)
        m.replace(with: v, where: v .> m)
        p += 16
      }
      var m8 = m.lowHalf
      m8.replace(with: m.highHalf, where: m.highHalf .> m8)
      var m4 = m8.lowHalf
      m4.replace(with: m8.highHalf, where: m8.highHalf .> m4)
      for lane in 0..<4 where m4[lane] > result { result = m4[lane] }
    }
    while p < count {
      let a = x[p].magnitude
      if a > result { result = a }
      p += 1
    }
    return result
  }

  /// 1.5 · 2^23: adding it to a float of magnitude below 2^22 leaves that float rounded to an integer
  /// (ties to even) in the low bits of the sum's significand.
  static let roundingMagic: Float = 12_582_912

  /// q = x / scale rounded to nearest (ties to even), clamped to [-127, 127]; NaN gives 0 (a loop that
  /// LLVM vectorises: no conversion that could trap).
  @inline(__always)
  static func quantizeBlock(_ x: UnsafePointer<Float>, count: Int, scale: Float, values: UnsafeMutablePointer<Int8>) {
    let divisor = scale == 0 ? 1 : scale
    let magic = roundingMagic
    let offset = Int32(bitPattern: magic.bitPattern)
    for p in 0..<count {
      let t = x[p] / divisor
      let n = Int32(bitPattern: (t + magic).bitPattern) &- offset
      let clamped = min(max(n, -127), 127)
      values[p] = t.isNaN ? 0 : Int8(truncatingIfNeeded: clamped)
    }
  }

  /// Scalar twin of ``quantize(_:layout:values:scales:)``, by the definition.
  public static func quantizeReference(
    _ x: UnsafePointer<Float>, layout: Layout, values: UnsafeMutablePointer<Int8>, scales: UnsafeMutablePointer<Float>
  ) {
    let group = layout.groupSize
    for block in 0..<layout.scaleCount {
      let start = block * group
      var amax: Float = 0
      for p in start..<(start + group) where x[p].magnitude > amax { amax = x[p].magnitude }
      let scale = amax / 127
      scales[block] = scale
      for p in start..<(start + group) {
        let r = scale == 0 ? 0 : (x[p] / scale).rounded(.toNearestOrEven)
        values[p] = r.isNaN ? 0 : Int8(Swift.max(-127, Swift.min(127, r)))
      }
    }
  }

  /// y = the float values of a q8_0 matrix, `Float(q) * scale` (exactly one rounding), parallel over rows.
  public static func dequantize(
    values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, layout: Layout, into y: UnsafeMutablePointer<Float>
  ) {
    let (columns, blocks, group) = (layout.columns, layout.blocksPerRow, layout.groupSize)
    let pq = UncheckedSendable(values)
    let ps = UncheckedSendable(scales)
    let py = UncheckedSendable(y)
    Parallel.forChunks(count: layout.rows, grain: max(1, 65_536 / max(columns, 1))) { rows in
      for r in rows {
        for b in 0..<blocks {
          let start = r * columns + b * group
          let (q, out, scale) = (pq.value + start, py.value + start, ps.value[r * blocks + b])
          for p in 0..<group { out[p] = Float(q[p]) * scale }
        }
      }
    }
  }

  /// Scalar twin of ``dequantize(values:scales:layout:into:)``, through Double (the product of an int8 and a
  /// float is exact there, so one rounding to Float remains).
  public static func dequantizeReference(
    values: UnsafePointer<Int8>, scales: UnsafePointer<Float>, layout: Layout, into y: UnsafeMutablePointer<Float>
  ) {
    for i in 0..<layout.valueCount {
      y[i] = Float(Double(values[i]) * Double(scales[i / layout.groupSize]))
    }
  }
}

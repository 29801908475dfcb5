/// Element type conversions between float32, float16, bfloat16 (as `UInt16` bits), int32 and int64.
///
/// All conversions are memory-bound loops (SIMD16 or auto-vectorised), parallel over chunks of 64K
/// elements. Float16 uses the hardware F16C/AVX-512-FP16 conversions (round to nearest even).
public enum Conversion {
  typealias V = SIMD16<Float>

  /// Elements per parallel chunk.
  static let grain = 65_536

  /// Runs `body` over chunks of `0..<count`.
  @inline(__always)
  static func chunks(_ count: Int, _ body: (Int, Int) -> Void) {
    Parallel.forChunks(count: count, grain: grain) { range in body(range.lowerBound, range.upperBound) }
  }

  // MARK: - Float16

  /// float32 → float16, round to nearest even (overflow to ±inf, NaN stays NaN).
  public static func floatToHalf(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float16>, count: Int) {
    chunks(count) { lo, hi in floatToHalfChunk(x, y, lo, hi) }
  }

  /// One chunk of ``floatToHalf(_:_:count:)``.
  static func floatToHalfChunk(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float16>, _ lo: Int, _ hi: Int) {
    var i = lo
    while i + 16 <= hi {
      UnsafeMutableRawPointer(y + i).storeBytes(of: SIMD16<Float16>(loadVector(x + i)), as: SIMD16<Float16>.self)
      i += 16
    }
    while i < hi {
      y[i] = Float16(x[i])
      i += 1
    }
  }

  /// float16 → float32 (exact).
  public static func halfToFloat(_ x: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    chunks(count) { lo, hi in halfToFloatChunk(x, y, lo, hi) }
  }

  /// One chunk of ``halfToFloat(_:_:count:)``.
  static func halfToFloatChunk(_ x: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    var i = lo
    while i + 16 <= hi {
      let h = UnsafeRawPointer(x + i).loadUnaligned(as: SIMD16<Float16>.self)
      storeVector(V(h), y + i)
      i += 16
    }
    while i < hi {
      y[i] = Float(x[i])
      i += 1
    }
  }

  /// Scalar twin of ``floatToHalf(_:_:count:)``: rounds by the definition (in Double) instead of the
  /// hardware instruction.
  public static func floatToHalfReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float16>, count: Int
  ) {
    for i in 0..<count { y[i] = Float16(bitPattern: halfBits(x[i])) }
  }

  /// The float16 bit pattern nearest to `x` (ties to even).
  static func halfBits(_ x: Float) -> UInt16 {
    let sign: UInt16 = x.sign == .minus ? 0x8000 : 0
    if x.isNaN { return 0x7E00 }
    let a = Double(x.magnitude)
    if a >= 65_520 { return sign | 0x7C00 }  // halfway between 65504 and 2^16 rounds up to inf
    if a < 0x1p-14 {
      // Subnormal: a multiple of 2^-24; n == 1024 lands exactly on the smallest normal.
      return sign | UInt16((a * 0x1p24).rounded(.toNearestOrEven))
    }
    var e = Int(a.exponent)
    let fraction = a / Double(sign: .plus, exponent: e, significand: 1) - 1
    var n = Int((fraction * 1024).rounded(.toNearestOrEven))
    if n == 1024 {
      n = 0
      e += 1
    }
    return sign | UInt16((e + 15) << 10) | UInt16(n)
  }

  /// Scalar twin of ``halfToFloat(_:_:count:)``: decodes the bits by the definition.
  public static func halfToFloatReference(
    _ x: UnsafePointer<Float16>, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count {
      let b = x[i].bitPattern
      let e = Int((b >> 10) & 0x1F)
      let n = Double(b & 0x3FF)
      let magnitude: Double
      switch e {
      case 0: magnitude = n * 0x1p-24
      case 31: magnitude = n == 0 ? .infinity : .nan
      default: magnitude = (1 + n / 1024) * Double(sign: .plus, exponent: e - 15, significand: 1)
      }
      y[i] = Float(b & 0x8000 != 0 ? -magnitude : magnitude)
    }
  }

  // MARK: - bfloat16

  /// float32 → bfloat16 bits, round to nearest even; NaN becomes the quiet NaN 0x7FC0.
  public static func floatToBFloat16(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int) {
    chunks(count) { lo, hi in floatToBFloat16Chunk(x, y, lo, hi) }
  }

  /// One chunk of ``floatToBFloat16(_:_:count:)`` (a scalar loop that LLVM vectorises; the SIMD16 widening
  /// and narrowing initialisers are out-of-line calls).
  static func floatToBFloat16Chunk(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, _ lo: Int, _ hi: Int) {
    for i in lo..<hi {
      let v = x[i]
      let b = v.bitPattern
      let rounded = UInt16(truncatingIfNeeded: (b &+ 0x7FFF &+ ((b >> 16) & 1)) >> 16)
      y[i] = v.isNaN ? 0x7FC0 : rounded
    }
  }

  /// bfloat16 bits → float32 (exact).
  public static func bfloat16ToFloat(_ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    chunks(count) { lo, hi in bfloat16ToFloatChunk(x, y, lo, hi) }
  }

  /// One chunk of ``bfloat16ToFloat(_:_:count:)``.
  static func bfloat16ToFloatChunk(_ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    for i in lo..<hi { y[i] = Float(bitPattern: UInt32(x[i]) << 16) }
  }

  /// Scalar twin of ``floatToBFloat16(_:_:count:)``: compares the dropped half against one half ulp.
  public static func floatToBFloat16Reference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<UInt16>, count: Int
  ) {
    for i in 0..<count {
      let v = x[i]
      if v.isNaN {
        y[i] = 0x7FC0
        continue
      }
      let bits = v.bitPattern
      var upper = UInt16(bits >> 16)
      let lower = bits & 0xFFFF
      if lower > 0x8000 || (lower == 0x8000 && upper & 1 == 1) { upper += 1 }
      y[i] = upper
    }
  }

  /// Scalar twin of ``bfloat16ToFloat(_:_:count:)``.
  public static func bfloat16ToFloatReference(
    _ x: UnsafePointer<UInt16>, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { y[i] = Float(bitPattern: UInt32(x[i]) * 65_536) }
  }

  // MARK: - Integers

  /// int32 → float32 (nearest).
  public static func int32ToFloat(_ x: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    chunks(count) { lo, hi in int32ToFloatChunk(x, y, lo, hi) }
  }

  /// One chunk of ``int32ToFloat(_:_:count:)``.
  static func int32ToFloatChunk(_ x: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    for i in lo..<hi { y[i] = Float(x[i]) }
  }

  /// int64 → float32 (nearest).
  public static func int64ToFloat(_ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    chunks(count) { lo, hi in int64ToFloatChunk(x, y, lo, hi) }
  }

  /// One chunk of ``int64ToFloat(_:_:count:)``.
  static func int64ToFloatChunk(_ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Float>, _ lo: Int, _ hi: Int) {
    for i in lo..<hi { y[i] = Float(x[i]) }
  }

  /// float32 → int32, truncating toward zero; NaN gives 0 and out-of-range values saturate.
  public static func floatToInt32(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int32>, count: Int) {
    chunks(count) { lo, hi in floatToInt32Chunk(x, y, lo, hi) }
  }

  /// One chunk of ``floatToInt32(_:_:count:)``.
  static func floatToInt32Chunk(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int32>, _ lo: Int, _ hi: Int) {
    for i in lo..<hi { y[i] = saturatingInt32(x[i]) }
  }

  /// Truncates toward zero; NaN → 0; saturates outside Int32.
  @inline(__always)
  static func saturatingInt32(_ v: Float) -> Int32 {
    if v.isNaN { return 0 }
    if v >= 2_147_483_648 { return .max }
    if v <= -2_147_483_648 { return .min }
    return Int32(v)
  }

  /// int32 → int64.
  public static func int32ToInt64(_ x: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Int64>, count: Int) {
    chunks(count) { lo, hi in
      for i in lo..<hi { y[i] = Int64(x[i]) }
    }
  }

  /// int64 → int32, keeping the low 32 bits (wraps like a C cast or PyTorch's `.to(torch.int32)`).
  public static func int64ToInt32(_ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Int32>, count: Int) {
    chunks(count) { lo, hi in
      for i in lo..<hi { y[i] = Int32(truncatingIfNeeded: x[i]) }
    }
  }

  /// Scalar twin of ``int32ToFloat(_:_:count:)``.
  public static func int32ToFloatReference(_ x: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = Float(Double(x[i])) }
  }

  /// Scalar twin of ``int64ToFloat(_:_:count:)`` (via Double would double-round, so through Float directly).
  public static func int64ToFloatReference(_ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { y[i] = Float(x[i]) }
  }

  /// Scalar twin of ``floatToInt32(_:_:count:)`` through Double.
  public static func floatToInt32Reference(_ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Int32>, count: Int) {
    for i in 0..<count {
      let d = Double(x[i])
      y[i] = d.isNaN ? 0 : Int32(Swift.max(-2_147_483_648, Swift.min(2_147_483_647, d.rounded(.towardZero))))
    }
  }

  /// Scalar twin of ``int32ToInt64(_:_:count:)``.
  public static func int32ToInt64Reference(_ x: UnsafePointer<Int32>, _ y: UnsafeMutablePointer<Int64>, count: Int) {
    for i in 0..<count { y[i] = Int64(x[i]) }
  }

  /// Scalar twin of ``int64ToInt32(_:_:count:)``.
  public static func int64ToInt32Reference(_ x: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Int32>, count: Int) {
    for i in 0..<count { y[i] = Int32(truncatingIfNeeded: x[i] & 0xFFFF_FFFF) }
  }
}

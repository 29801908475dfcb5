#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// More vectorised functions on `SIMD16<Float>`: logarithms, hyperbolic and logistic functions, the error
/// function, trigonometric functions and softplus.
///
/// Every function here is branch-free over the sixteen lanes (apart from a rare scalar fallback for huge
/// trigonometric arguments), handles NaN, ±infinity and zero the way libm does unless its comment says
/// otherwise, and stays within about 1e-6 relative error of the exact result over the float range.
extension VectorMath {
  /// Sixteen 32-bit integers, the lane-wise companion of ``V``.
  public typealias VInt = SIMD16<Int32>

  /// ln(x). Negative inputs and -inf give NaN, ±0 gives -inf, +inf gives +inf, NaN stays NaN.
  ///
  /// Subnormal inputs are handled exactly. Relative error below about 2e-7.
  @inlinable @inline(__always)
  public static func log(_ x: V) -> V {
    let (e, lnm) = logParts(x)
    var result = lnm.addingProduct(e, V(repeating: 1.428_606_765_330_187e-06))
    result = result.addingProduct(e, V(repeating: 0.693_145_751_953_125))
    result.replace(with: V(repeating: -.infinity), where: x .== V(repeating: 0))
    result.replace(with: V(repeating: .nan), where: x .< V(repeating: 0))
    result.replace(with: x, where: (x .== V(repeating: .infinity)) .| (x .!= x))
    return result
  }

  /// Splits x > 0 as 2^e * m with m in [sqrt(1/2), sqrt(2)) and returns (e, ln m); subnormals are exact.
  @inlinable @inline(__always)
  static func logParts(_ x: V) -> (V, V) {
    // Lift subnormals into the normal range so that the exponent field means what it says.
    let tiny = x .< V(repeating: Float.leastNormalMagnitude)
    var xs = x
    xs.replace(with: x * V(repeating: 8_388_608.0), where: tiny)  // * 2^23
    var bias = VInt(repeating: 127)
    bias.replace(with: VInt(repeating: 127 + 23), where: tiny)
    let bits = unsafeBitCast(xs, to: VInt.self)
    var e = (bits &>> 23) &- bias
    var m = unsafeBitCast((bits & 0x007F_FFFF) | 0x3F80_0000, to: V.self)  // m in [1, 2)
    // Centre the mantissa on 1.
    let high = m .> V(repeating: 1.414_213_5)
    m.replace(with: m * V(repeating: 0.5), where: high)
    e.replace(with: e &+ 1, where: high)
    // ln m = 2 atanh(s) with s = (m - 1) / (m + 1), |s| <= 0.1716.
    let f = m - V(repeating: 1)
    let s = f / (f + V(repeating: 2))
    let z = s * s
    var p = V(repeating: 1.0 / 7.0).addingProduct(V(repeating: 1.0 / 9.0), z)
    p = V(repeating: 1.0 / 5.0).addingProduct(p, z)
    p = V(repeating: 1.0 / 3.0).addingProduct(p, z)
    let s2 = s + s
    return (float(e), s2.addingProduct(s2 * z, p))
  }

  /// ln(1 + u) for u in [0, 1], accurate to a few ulp even for tiny u (used by ``softplus(_:)``).
  @inlinable @inline(__always)
  static func log1pUnit(_ u: V) -> V {
    // ln(1 + u) = 2 atanh(s), s = u / (2 + u) <= 1/3.
    let s = u / (u + V(repeating: 2))
    let z = s * s
    var p = V(repeating: 1.0 / 13.0).addingProduct(V(repeating: 1.0 / 15.0), z)
    p = V(repeating: 1.0 / 11.0).addingProduct(p, z)
    p = V(repeating: 1.0 / 9.0).addingProduct(p, z)
    p = V(repeating: 1.0 / 7.0).addingProduct(p, z)
    p = V(repeating: 1.0 / 5.0).addingProduct(p, z)
    p = V(repeating: 1.0 / 3.0).addingProduct(p, z)
    let s2 = s + s
    return s2.addingProduct(s2 * z, p)
  }

  /// |x|, by clearing the sign bit (NaN stays NaN).
  @inlinable @inline(__always)
  public static func abs(_ x: V) -> V {
    unsafeBitCast(unsafeBitCast(x, to: SIMD16<UInt32>.self) & 0x7FFF_FFFF, to: V.self)
  }

  /// √x, correctly rounded; NaN for x < 0, -0 stays -0.
  ///
  /// `SIMD16<Float>.squareRoot()` compiles to sixteen scalar `vsqrtss` each guarded by a `sqrtf` libcall
  /// (errno semantics on Linux); taking the root of |x| first lets LLVM emit `vsqrtps`.
  @inlinable @inline(__always)
  public static func sqrt(_ x: V) -> V {
    var r = abs(x).squareRoot()
    r.replace(with: V(repeating: .nan), where: x .< V(repeating: 0))
    r.replace(with: x, where: x .== V(repeating: 0))
    return r
  }

  /// Converts integers of magnitude below 2^22 to floats (`V(SIMD16<Int32>)` is an out-of-line call).
  @inlinable @inline(__always)
  static func float(_ n: VInt) -> V {
    let magic = V(repeating: 12_582_912.0)  // 1.5 * 2^23
    return unsafeBitCast(n &+ unsafeBitCast(magic, to: VInt.self), to: V.self) - magic
  }

  /// Converts integral floats of magnitude below 2^22 to integers.
  @inlinable @inline(__always)
  static func integer(_ x: V) -> VInt {
    let magic = V(repeating: 12_582_912.0)
    return unsafeBitCast(x + magic, to: VInt.self) &- unsafeBitCast(magic, to: VInt.self)
  }

  /// Gives `magnitude` (assumed non-negative) the sign bit of `sign`.
  @inlinable @inline(__always)
  static func copySign(_ magnitude: V, _ sign: V) -> V {
    let s = unsafeBitCast(sign, to: SIMD16<UInt32>.self) & 0x8000_0000
    return unsafeBitCast(unsafeBitCast(magnitude, to: SIMD16<UInt32>.self) | s, to: V.self)
  }

  /// e^x like ``exp(_:)-swift.type.method``, but exact to libm's behaviour at the ends of the float range:
  /// it overflows to +inf above ln(Float.greatestFiniteMagnitude) and returns subnormals down to e^-103.9
  /// (the plain version saturates at e^88.7 and flushes below e^-87.3).
  @inlinable @inline(__always)
  public static func expOverflowing(_ x: V) -> V {
    // Shift the argument by an exactly representable amount and undo it with one multiplication.
    let big = x .> V(repeating: 88)
    let small = x .< V(repeating: -87)
    var xs = x
    xs.replace(with: x - V(repeating: 1), where: big)
    xs.replace(with: x + V(repeating: 16), where: small)
    var r = exp(xs)
    r.replace(with: r * V(repeating: 2.718_281_828_459_045), where: big)  // e
    r.replace(with: r * V(repeating: 1.125_351_747_192_591_1e-7), where: small)  // e^-16
    // 88.72283 is the largest float whose e^x is finite.
    r.replace(with: V(repeating: .infinity), where: x .> V(repeating: 88.722_83))
    return r
  }

  /// tanh(x), odd, exactly ±1 for |x| >= 9. Absolute and relative error below about 5e-7.
  @inlinable @inline(__always)
  public static func tanh(_ x: V) -> V {
    let a = abs(x)
    // Large |x|: 1 - 2 / (e^(2|x|) + 1), no cancellation once |x| >= 0.5.
    let big = V(repeating: 1) - V(repeating: 2) / (exp(a + a) + V(repeating: 1))
    // Small |x|: Taylor series of tanh to degree 13.
    let z = a * a
    var p = V(repeating: 21_844.0 / 6_081_075.0).addingProduct(V(repeating: -929_569.0 / 638_512_875.0), z)
    p = V(repeating: -1_382.0 / 155_925.0).addingProduct(p, z)
    p = V(repeating: 62.0 / 2_835.0).addingProduct(p, z)
    p = V(repeating: -17.0 / 315.0).addingProduct(p, z)
    p = V(repeating: 2.0 / 15.0).addingProduct(p, z)
    p = V(repeating: -1.0 / 3.0).addingProduct(p, z)
    var r = a.addingProduct(a * z, p)
    r.replace(with: big, where: a .>= V(repeating: 0.5))
    r.replace(with: a, where: a .!= a)
    return copySign(r, x)
  }

  /// The logistic function 1 / (1 + e^-x), computed without overflow for any x.
  ///
  /// Results below about 1.2e-38 (x < -87.3) flush to zero. Relative error below about 5e-7.
  @inlinable @inline(__always)
  public static func sigmoid(_ x: V) -> V {
    let e = exp(-abs(x))  // in (0, 1]
    let s = V(repeating: 1) / (V(repeating: 1) + e)
    var r = s
    r.replace(with: e * s, where: x .< V(repeating: 0))
    return r
  }

  /// The complementary error function erfc(x) = 1 - erf(x), with relative error below about 6e-7 for x
  /// up to 9 (where it underflows to 0); erfc(-x) = 2 - erfc(x).
  @inlinable @inline(__always)
  public static func erfc(_ x: V) -> V {
    let z = abs(x)
    let hi = z * z
    var r = erfcPositive(z, squareHigh: hi, squareLow: (-hi).addingProduct(z, z))
    r.replace(with: V(repeating: 2) - r, where: x .< V(repeating: 0))
    return r
  }

  /// erfc(z) for z >= 0 given z^2 = squareHigh + squareLow (the split keeps the tail relatively accurate).
  @inlinable @inline(__always)
  static func erfcPositive(_ z: V, squareHigh hi: V, squareLow lo: V) -> V {
    // Chebyshev-fitted form erfc(z) = t exp(-z^2 + P(t)), t = 1 / (1 + z/2) (Numerical Recipes, sec. 6.2).
    let t = V(repeating: 1) / V(repeating: 1).addingProduct(z, V(repeating: 0.5))
    var p = V(repeating: -0.822_152_23).addingProduct(t, V(repeating: 0.170_872_77))
    p = V(repeating: 1.488_515_87).addingProduct(p, t)
    p = V(repeating: -1.135_203_98).addingProduct(p, t)
    p = V(repeating: 0.278_868_07).addingProduct(p, t)
    p = V(repeating: -0.186_288_06).addingProduct(p, t)
    p = V(repeating: 0.096_784_18).addingProduct(p, t)
    p = V(repeating: 0.374_091_96).addingProduct(p, t)
    p = V(repeating: 1.000_023_68).addingProduct(p, t)
    p = V(repeating: -1.265_512_23).addingProduct(p, t)
    // e^(-hi - lo + p) = e^p * e^-hi * (1 - lo). Two exponentials keep the rounding of p - hi
    // (up to 4e-6 relative in the tail) out of the result.
    var r = t * exp(p) * exp(-hi)
    r = r.addingProduct(-r, lo)
    r.replace(with: V(repeating: 0), where: z .> V(repeating: 10))
    return r
  }

  /// The error function erf(x), odd, with absolute error below about 2e-7 and relative error below about
  /// 5e-7 (a Taylor series near zero keeps tiny inputs accurate).
  @inlinable @inline(__always)
  public static func erf(_ x: V) -> V {
    let a = abs(x)
    let z = a * a
    // 2/sqrt(pi) * sum (-1)^n a^(2n+1) / (n! (2n+1)), n <= 6, for |x| < 0.5.
    var q = V(repeating: -1.0 / 1_320.0).addingProduct(V(repeating: 1.0 / 9_360.0), z)
    q = V(repeating: 1.0 / 216.0).addingProduct(q, z)
    q = V(repeating: -1.0 / 42.0).addingProduct(q, z)
    q = V(repeating: 1.0 / 10.0).addingProduct(q, z)
    q = V(repeating: -1.0 / 3.0).addingProduct(q, z)
    let ca = a * V(repeating: 1.128_379_167_095_512_6)
    var r = ca.addingProduct(ca * z, q)
    r.replace(with: V(repeating: 1) - erfc(a), where: a .>= V(repeating: 0.5))
    r.replace(with: a, where: a .!= a)
    return copySign(r, x)
  }

  /// The standard normal CDF Phi(x) = (1 + erf(x / sqrt 2)) / 2, computed from erfc so that the lower tail
  /// keeps its relative accuracy.
  @inlinable @inline(__always)
  public static func normalCDF(_ x: V) -> V {
    // erfc(|x| / sqrt 2) with (|x| / sqrt 2)^2 = x^2 / 2 split exactly, so the tail keeps its accuracy.
    let a = abs(x)
    let hi = a * a
    let lo = (-hi).addingProduct(a, a)
    let c = erfcPositive(
      a * V(repeating: 0.707_106_781_186_547_5), squareHigh: hi * V(repeating: 0.5), squareLow: lo * V(repeating: 0.5))
    let half = V(repeating: 0.5) * c
    var r = V(repeating: 1) - half
    r.replace(with: half, where: x .< V(repeating: 0))
    r.replace(with: x, where: x .!= x)
    return r
  }

  /// softplus(x) = ln(1 + e^x), evaluated as max(x, 0) + ln(1 + e^-|x|); exactly x for x > 20.
  @inlinable @inline(__always)
  public static func softplus(_ x: V) -> V {
    var pos = x
    pos.replace(with: V(repeating: 0), where: x .< V(repeating: 0))
    var r = pos + log1pUnit(exp(-abs(x)))
    r.replace(with: x, where: (x .> V(repeating: 20)) .| (x .!= x))
    return r
  }

  /// sin(x), Cody-Waite reduced by pi/2 (lanes with |x| > 65536 fall back to scalar libm).
  ///
  /// Absolute error below about 1e-7 for the vector path.
  @inlinable @inline(__always)
  public static func sin(_ x: V) -> V {
    sinCos(x, quadrantShift: 0)
  }

  /// cos(x), Cody-Waite reduced by pi/2 (lanes with |x| > 65536 fall back to scalar libm).
  @inlinable @inline(__always)
  public static func cos(_ x: V) -> V {
    sinCos(x, quadrantShift: 1)
  }

  /// sin(x + shift * pi/2).
  @inlinable @inline(__always)
  static func sinCos(_ x: V, quadrantShift: Int32) -> V {
    let magic = V(repeating: 12_582_912.0)  // 1.5 * 2^23
    let t = magic.addingProduct(x, V(repeating: 0.636_619_772_367_581_3))  // x * 2/pi rounded in low bits
    let k = t - magic
    let q = (unsafeBitCast(t, to: VInt.self) &- unsafeBitCast(magic, to: VInt.self) &+ quadrantShift) & 3
    // r = x - k pi/2 with pi/2 split into 8-bit, 11-bit and full-precision parts.
    var r = x.addingProduct(k, V(repeating: -1.570_312_5))
    r = r.addingProduct(k, V(repeating: -4.837_512_969_970_703_125e-4))
    r = r.addingProduct(k, V(repeating: -7.549_789_954_891_882_16e-8))
    let z = r * r
    // Minimax polynomials on |r| <= pi/4 (Cephes sinf/cosf coefficients).
    var sp = V(repeating: 8.332_160_873_6e-3).addingProduct(z, V(repeating: -1.951_529_589_1e-4))
    sp = V(repeating: -1.666_665_461_1e-1).addingProduct(sp, z)
    let sinR = r.addingProduct(r * z, sp)
    var cp = V(repeating: -1.388_731_625_493_765e-3).addingProduct(z, V(repeating: 2.443_315_711_809_948e-5))
    cp = V(repeating: 4.166_664_568_298_827e-2).addingProduct(cp, z)
    let cosR = V(repeating: 1).addingProduct(z, V(repeating: -0.5)).addingProduct(z * z, cp)
    var r2 = sinR
    // (Integer comparisons against a scalar literal are scalarised; compare with vectors.)
    let zero = VInt(repeating: 0)
    r2.replace(with: cosR, where: (q & VInt(repeating: 1)) .!= zero)
    r2.replace(with: -r2, where: (q & VInt(repeating: 2)) .!= zero)
    let huge = abs(x) .> V(repeating: 65_536)
    if any(huge) {
      for lane in 0..<16 where huge[lane] {
        let d = Double(x[lane])
        r2[lane] = Float(quadrantShift == 0 ? libmSin(d) : libmCos(d))
      }
    }
    return r2
  }
}

/// Scalar libm sine, reachable from inlinable vector code.
@usableFromInline func libmSin(_ x: Double) -> Double { sin(x) }

/// Scalar libm cosine, reachable from inlinable vector code.
@usableFromInline func libmCos(_ x: Double) -> Double { cos(x) }

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A seeded, splittable pseudo-random number generator: xoshiro256** (Blackman and Vigna, 2018).
///
/// The 256-bit state is filled from the seed with SplitMix64, so nearby seeds give unrelated streams.
/// ``split()`` draws four outputs, passes each through the SplitMix64 finaliser and uses them as the state of
/// the child; parent and child then continue as independent streams (overlap is astronomically unlikely).
/// The generator is a value: copying it copies the stream. ``state`` and ``init(state:)`` save and restore
/// it exactly, so a resumed training run draws the same numbers as an uninterrupted one.
///
/// Floats use the top 24 bits of an output: `nextFloat()` is a multiple of 2^-24 in `[0, 1)`.
/// Normal variates come from the Box-Muller transform, two per 64-bit output.
public struct RandomGenerator: Sendable, Codable {
  private var s0: UInt64
  private var s1: UInt64
  private var s2: UInt64
  private var s3: UInt64

  /// Creates a generator whose stream is fully determined by `seed`.
  public init(seed: UInt64) {
    var z = seed
    s0 = Self.splitMix(&z)
    s1 = Self.splitMix(&z)
    s2 = Self.splitMix(&z)
    s3 = Self.splitMix(&z)
  }

  /// Restores a generator from ``state``; the state must hold four words, not all zero.
  public init(state: [UInt64]) {
    precondition(state.count == 4, "RandomGenerator state has 4 words, got \(state.count)")
    precondition(state.contains { $0 != 0 }, "RandomGenerator state must not be all zero")
    s0 = state[0]
    s1 = state[1]
    s2 = state[2]
    s3 = state[3]
  }

  /// The four state words, for checkpoints.
  public var state: [UInt64] { [s0, s1, s2, s3] }

  /// Decodes the state as an array of four words.
  public init(from decoder: any Decoder) throws {
    let words = try decoder.singleValueContainer().decode([UInt64].self)
    guard words.count == 4, words.contains(where: { $0 != 0 }) else {
      throw DecodingError.dataCorrupted(
        .init(codingPath: decoder.codingPath, debugDescription: "RandomGenerator state must be 4 words, not all 0"))
    }
    self.init(state: words)
  }

  /// Encodes the state as an array of four words.
  public func encode(to encoder: any Encoder) throws {
    var container = encoder.singleValueContainer()
    try container.encode(state)
  }

  @inline(__always)
  private static func splitMix(_ z: inout UInt64) -> UInt64 {
    z &+= 0x9E37_79B9_7F4A_7C15
    return mix(z)
  }

  @inline(__always)
  private static func mix(_ value: UInt64) -> UInt64 {
    var x = value
    x = (x ^ (x >> 30)) &* 0xBF58_476D_1CE4_E5B9
    x = (x ^ (x >> 27)) &* 0x94D0_49BB_1331_11EB
    return x ^ (x >> 31)
  }

  @inline(__always)
  private static func rotate(_ x: UInt64, _ k: UInt64) -> UInt64 {
    (x << k) | (x >> (64 - k))
  }

  /// The next 64 random bits.
  @inline(__always)
  public mutating func next() -> UInt64 {
    let result = Self.rotate(s1 &* 5, 7) &* 9
    let t = s1 << 17
    s2 ^= s0
    s3 ^= s1
    s1 ^= s2
    s0 ^= s3
    s2 ^= t
    s3 = Self.rotate(s3, 45)
    return result
  }

  /// A uniform float in `[0, 1)` (a multiple of 2^-24).
  @inline(__always)
  public mutating func nextFloat() -> Float {
    Float(next() >> 40) * 0x1p-24
  }

  /// An independent generator; this one advances by four outputs.
  public mutating func split() -> RandomGenerator {
    var child = self
    child.s0 = Self.mix(next() ^ 0x6A09_E667_F3BC_C908)
    child.s1 = Self.mix(next() ^ 0xBB67_AE85_84CA_A73B)
    child.s2 = Self.mix(next() ^ 0x3C6E_F372_FE94_F82B)
    child.s3 = Self.mix(next() ^ 0xA54F_F53A_5F1D_36F1)
    if child.s0 | child.s1 | child.s2 | child.s3 == 0 { child.s0 = 1 }
    return child
  }

  /// Fills `y` with `count` uniform floats in `[low, high)`, one output each: `low + (high - low) * nextFloat()`.
  public mutating func fillUniform(_ y: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
    let width = high - low
    for i in 0..<count { y[i] = low + width * nextFloat() }
  }

  /// Scalar oracle for ``fillUniform(_:count:low:high:)``, computing the affine map in Double.
  public mutating func fillUniformReference(_ y: UnsafeMutablePointer<Float>, count: Int, low: Float, high: Float) {
    for i in 0..<count {
      let u = Double(next() >> 40) / 16_777_216
      y[i] = Float(Double(low) + (Double(high) - Double(low)) * u)
    }
  }

  /// Fills `y` with `count` normal floats by the Box-Muller transform.
  ///
  /// Each 64-bit output yields a pair: `u1 = (hi32 + 1) / 2^32` in `(0, 1]` and `u2 = lo32 / 2^32`, then
  /// `r = sqrt(-2 ln u1)` and the pair `r cos(2 pi u2)`, `r sin(2 pi u2)`. Tails reach about 6.7 sigma.
  /// Blocks of 32 outputs take 16 draws and hold the 16 cosine values followed by the 16 sine values
  /// (computed with SIMD16 polynomials); the remaining `count % 32` outputs take one draw per pair, cosine
  /// then sine, and for odd `count` the last sine value is dropped.
  public mutating func fillNormal(_ y: UnsafeMutablePointer<Float>, count: Int, mean: Float, std: Float) {
    typealias V = SIMD16<Float>
    var i = 0
    var u1 = V()
    var u2 = V()
    while i + 32 <= count {
      for lane in 0..<16 {
        let bits = next()
        u1[lane] = Float(UInt64(bits >> 32) + 1) * 0x1p-32
        u2[lane] = Float(bits & 0xFFFF_FFFF) * 0x1p-32
      }
      let r = V(repeating: std) * (V(repeating: -2) * Self.logarithm(u1)).squareRoot()
      let (c, s) = Self.cosineAndSineOfTurns(u2)
      UnsafeMutableRawPointer(y + i).storeBytes(of: V(repeating: mean).addingProduct(r, c), as: V.self)
      UnsafeMutableRawPointer(y + i + 16).storeBytes(of: V(repeating: mean).addingProduct(r, s), as: V.self)
      i += 32
    }
    while i < count {
      let bits = next()
      let u1 = Float(UInt64(bits >> 32) + 1) * 0x1p-32
      let angle = Float(bits & 0xFFFF_FFFF) * (0x1p-32 * 2 * Float.pi)
      let r = std * sqrtf(-2 * logf(u1))
      y[i] = mean + r * cosf(angle)
      if i + 1 < count { y[i + 1] = mean + r * sinf(angle) }
      i += 2
    }
  }

  /// Scalar oracle for ``fillNormal(_:count:mean:std:)``: the same draws and output order, transformed in Double.
  public mutating func fillNormalReference(_ y: UnsafeMutablePointer<Float>, count: Int, mean: Float, std: Float) {
    func pair(_ bits: UInt64) -> (Float, Float) {
      let u1 = Double(UInt64(bits >> 32) + 1) * 0x1p-32
      let angle = Double(bits & 0xFFFF_FFFF) * 0x1p-32 * 2 * Double.pi
      let r = Double(std) * (-2 * log(u1)).squareRoot()
      return (Float(Double(mean) + r * cos(angle)), Float(Double(mean) + r * sin(angle)))
    }
    var i = 0
    while i + 32 <= count {
      for lane in 0..<16 { (y[i + lane], y[i + 16 + lane]) = pair(next()) }
      i += 32
    }
    while i < count {
      let (c, s) = pair(next())
      y[i] = c
      if i + 1 < count { y[i + 1] = s }
      i += 2
    }
  }

  /// Natural logarithm for positive normal floats: `x = m 2^e` with `m` in `[sqrt(1/2), sqrt(2))`, then
  /// `ln m = 2 atanh(f / (2 + f))` by its odd series (relative error about 1e-7).
  @inline(__always)
  static func logarithm(_ x: SIMD16<Float>) -> SIMD16<Float> {
    typealias V = SIMD16<Float>
    let bits = unsafeBitCast(x, to: SIMD16<Int32>.self)
    // Subtracting the bits of sqrt(1/2) puts the mantissa range [sqrt(1/2), sqrt(2)) at exponent 0.
    let shifted = bits &- 0x3F35_04F3
    let e = shifted &>> 23
    let m = unsafeBitCast((shifted & 0x007F_FFFF) &+ 0x3F35_04F3, to: V.self)
    let f = m - 1
    let s = f / (f + 2)
    let s2 = s * s
    var p = V(repeating: 1.0 / 9).addingProduct(s2, V(repeating: 1.0 / 11))
    p = V(repeating: 1.0 / 7).addingProduct(p, s2)
    p = V(repeating: 1.0 / 5).addingProduct(p, s2)
    p = V(repeating: 1.0 / 3).addingProduct(p, s2)
    p = V(repeating: 1).addingProduct(p, s2)
    return (2 * s * p).addingProduct(V(e), V(repeating: 0.693_147_180_559_945_3))
  }

  /// `(cos 2 pi t, sin 2 pi t)` for `t` in `[0, 1]`: quadrant reduction to `|r| <= pi/4`, then Taylor
  /// polynomials (error below 1e-9 before rounding).
  @inline(__always)
  static func cosineAndSineOfTurns(_ t: SIMD16<Float>) -> (SIMD16<Float>, SIMD16<Float>) {
    typealias V = SIMD16<Float>
    // Round to the nearest quarter turn with the 1.5 * 2^23 trick; the integer q sits in the low mantissa bits.
    // (Float-to-Int32 SIMD conversion and Int32 lane masks are scalarised by the compiler; this avoids both.)
    let quarter = t * 4
    let magic = V(repeating: 12_582_912)
    let shifted = quarter + magic
    let q = unsafeBitCast(shifted, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let r = (quarter - (shifted - magic)) * (Float.pi / 2)
    let r2 = r * r
    var sp = V(repeating: -1.0 / 5040).addingProduct(r2, V(repeating: 1.0 / 362_880))
    sp = V(repeating: 1.0 / 120).addingProduct(sp, r2)
    sp = V(repeating: -1.0 / 6).addingProduct(sp, r2)
    sp = V(repeating: 1).addingProduct(sp, r2)
    let sine = r * sp
    var cp = V(repeating: 1.0 / 40320).addingProduct(r2, V(repeating: -1.0 / 3_628_800))
    cp = V(repeating: -1.0 / 720).addingProduct(cp, r2)
    cp = V(repeating: 1.0 / 24).addingProduct(cp, r2)
    cp = V(repeating: -0.5).addingProduct(cp, r2)
    let cosine = V(repeating: 1).addingProduct(cp, r2)
    // Rotate by q quarter turns: q = 1 -> (-s, c), q = 2 -> (-c, -s), q = 3 -> (s, -c); signs by XOR.
    let odd = V(q & 1) .> 0.5
    var c = cosine
    var s = sine
    c.replace(with: sine, where: odd)
    s.replace(with: cosine, where: odd)
    let signC = ((q &+ 1) & 2) &<< 30
    let signS = (q & 2) &<< 30
    c = unsafeBitCast(unsafeBitCast(c, to: SIMD16<Int32>.self) ^ signC, to: V.self)
    s = unsafeBitCast(unsafeBitCast(s, to: SIMD16<Int32>.self) ^ signS, to: V.self)
    return (c, s)
  }

  /// Dropout mask: `y[i] = 1 / (1 - p)` where a uniform draw `u >= p` (kept), else 0.
  ///
  /// Each 64-bit output gives two 24-bit uniforms (bits 40..63 and 8..31), so `u` is a multiple of 2^-24.
  /// `p = 0` keeps everything; `p >= 1` drops everything.
  public mutating func fillDropoutMask(_ y: UnsafeMutablePointer<Float>, count: Int, probability p: Float) {
    let scale: Float = p < 1 ? 1 / (1 - p) : 0
    var i = 0
    while i < count {
      let bits = next()
      let u0 = Float(bits >> 40) * 0x1p-24
      y[i] = u0 >= p ? scale : 0
      if i + 1 < count {
        let u1 = Float((bits >> 8) & 0xFF_FFFF) * 0x1p-24
        y[i + 1] = u1 >= p ? scale : 0
      }
      i += 2
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Unary float functions with a known derivative.
public enum UnaryOp: String, Sendable, CaseIterable {
  /// -x
  case neg
  /// e^x (overflows to +inf above about 88.72, flushes to 0 below about -87.3)
  case exp
  /// ln x (NaN for x < 0, -inf at 0)
  case log
  /// √x (NaN for x < 0)
  case sqrt
  /// 1 / √x
  case rsqrt
  /// |x|
  case abs
  /// tanh x
  case tanh
  /// 1 / (1 + e^-x)
  case sigmoid
  /// max(x, 0)
  case relu
  /// 0.5 x (1 + tanh(√(2/π) (x + 0.044715 x³)))
  case geluTanh
  /// 0.5 x (1 + erf(x / √2))
  case geluErf
  /// x · sigmoid(x)
  case silu
  /// ln(1 + e^x), exactly x for x > 20
  case softplus
  /// sin x
  case sin
  /// cos x
  case cos
  /// x²
  case square
  /// 1 / x
  case reciprocal
}

/// Elementwise float kernels: unary functions and their derivatives, powers, affine maps, fills and
/// gradient accumulation.
///
/// Every kernel runs SIMD16 over chunks of about 16K elements spread across ``Parallel/threadCount``
/// threads; tails go through the same vector code on a zero-padded copy, so results do not depend on
/// where a chunk boundary falls. Outputs may alias inputs.
public enum Elementwise {
  /// Sixteen floats.
  @usableFromInline typealias V = SIMD16<Float>

  /// Elements per parallel chunk.
  @usableFromInline static let grain = 16_384

  /// The constant √(2/π) of the tanh form of GELU.
  @usableFromInline static let geluK: Float = 0.797_884_560_802_865_4
  /// The cubic coefficient of the tanh form of GELU.
  @usableFromInline static let geluC: Float = 0.044_715

  // MARK: - Drivers
  //
  // Each op is a small struct whose `apply` the generic chunk loops specialise and inline. Closures (or one
  // big switch) carrying this much vector math are not inlined by the SIL optimiser; out of line, SIMD16
  // arguments travel in four xmm registers and LLVM then splits the whole body into 128-bit pieces
  // (2-4x slower).

  /// out[i] = k(a[i]) over `count` elements, in parallel.
  @inlinable
  static func map<K: LaneMap>(
    _ k: K, _ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    Parallel.forChunks(count: count, grain: grain) { range in
      mapChunk(k, a, out, range)
    }
  }

  /// One chunk of ``map(_:_:_:count:)``; the tail runs through the same vector code on padded lanes.
  @inlinable @inline(never)
  static func mapChunk<K: LaneMap>(
    _ k: K, _ a: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, _ range: Range<Int>
  ) {
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
      let v = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
      UnsafeMutableRawPointer(out + i).storeBytes(of: k.apply(v), as: V.self)
      i += 16
    }
    if i < end {
      var v = V()
      for j in 0..<(end - i) { v[j] = a[i + j] }
      let r = k.apply(v)
      for j in 0..<(end - i) { out[i + j] = r[j] }
    }
  }

  /// out[i] = k(a[i], b[i]) over `count` elements, in parallel.
  @inlinable
  static func map2<K: LaneMap2>(
    _ k: K, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    Parallel.forChunks(count: count, grain: grain) { range in
      map2Chunk(k, a, b, out, range)
    }
  }

  /// One chunk of ``map2(_:_:_:_:count:)``.
  @inlinable @inline(never)
  static func map2Chunk<K: LaneMap2>(
    _ k: K, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>,
    _ range: Range<Int>
  ) {
    var i = range.lowerBound
    let end = range.upperBound
    while i + 16 <= end {
      let u = UnsafeRawPointer(a + i).loadUnaligned(as: V.self)
      let v = UnsafeRawPointer(b + i).loadUnaligned(as: V.self)
      UnsafeMutableRawPointer(out + i).storeBytes(of: k.apply(u, v), as: V.self)
      i += 16
    }
    if i < end {
      var u = V()
      var v = V()
      for j in 0..<(end - i) {
        u[j] = a[i + j]
        v[j] = b[i + j]
      }
      let r = k.apply(u, v)
      for j in 0..<(end - i) { out[i + j] = r[j] }
    }
  }

  // MARK: - Unary forward

  /// y[i] = op(x[i]); y may alias x.
  public static func unary(
    _ op: UnaryOp, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    typealias F = ForwardOps
    switch op {
    case .neg: map(F.Neg(), x, y, count: count)
    case .exp: map(F.Exp(), x, y, count: count)
    case .log: map(F.Log(), x, y, count: count)
    case .sqrt: map(F.Sqrt(), x, y, count: count)
    case .rsqrt: map(F.Rsqrt(), x, y, count: count)
    case .abs: map(F.Abs(), x, y, count: count)
    case .tanh: map(F.Tanh(), x, y, count: count)
    case .sigmoid: map(F.Sigmoid(), x, y, count: count)
    case .relu: map(F.Relu(), x, y, count: count)
    case .geluTanh: map(F.GeluTanh(), x, y, count: count)
    case .geluErf: map(F.GeluErf(), x, y, count: count)
    case .silu: map(F.Silu(), x, y, count: count)
    case .softplus: map(F.Softplus(), x, y, count: count)
    case .sin: map(F.Sin(), x, y, count: count)
    case .cos: map(F.Cos(), x, y, count: count)
    case .square: map(F.Square(), x, y, count: count)
    case .reciprocal: map(F.Reciprocal(), x, y, count: count)
    }
  }

  /// Scalar twin of ``unary(_:_:_:count:)``: the textbook formula in Double through libm, one element at
  /// a time.
  public static func unaryReference(
    _ op: UnaryOp, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count {
      y[i] = Float(referenceValue(op, Double(x[i])))
    }
  }

  /// op(x) in Double.
  static func referenceValue(_ op: UnaryOp, _ x: Double) -> Double {
    switch op {
    case .neg: return -x
    case .exp: return exp(x)
    case .log: return log(x)
    case .sqrt: return x.squareRoot()
    case .rsqrt: return 1 / x.squareRoot()
    case .abs: return Swift.abs(x)
    case .tanh: return tanh(x)
    case .sigmoid: return 1 / (1 + exp(-x))
    case .relu: return x < 0 ? 0 : x
    case .geluTanh:
      return 0.5 * x * (1 + tanh(Double(geluK) * (x + Double(geluC) * x * x * x)))
    case .geluErf: return 0.5 * x * (1 + erf(x / 2.0.squareRoot()))
    case .silu: return x / (1 + exp(-x))
    case .softplus: return x > 20 ? x : log1p(exp(x))
    case .sin: return sin(x)
    case .cos: return cos(x)
    case .square: return x * x
    case .reciprocal: return 1 / x
    }
  }

  // MARK: - Unary backward

  /// dx[i] = dy[i] * op'(x[i]); `y` is op(x) (passed so that ops like exp, sigmoid and tanh can reuse it).
  /// dx may alias dy.
  public static func unaryBackward(
    _ op: UnaryOp, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, count: Int
  ) {
    typealias B = BackwardOps
    switch op {
    case .neg: map(ForwardOps.Neg(), dy, dx, count: count)
    case .exp: map2(B.Exp(), y, dy, dx, count: count)
    case .log: map2(B.Log(), x, dy, dx, count: count)
    case .sqrt: map2(B.Sqrt(), y, dy, dx, count: count)
    case .rsqrt: map2(B.Rsqrt(), y, dy, dx, count: count)
    case .abs: map2(B.Abs(), x, dy, dx, count: count)
    case .tanh: map2(B.Tanh(), y, dy, dx, count: count)
    case .sigmoid: map2(B.Sigmoid(), y, dy, dx, count: count)
    case .relu: map2(B.Relu(), x, dy, dx, count: count)
    case .geluTanh: map2(B.GeluTanh(), x, dy, dx, count: count)
    case .geluErf: map2(B.GeluErf(), x, dy, dx, count: count)
    case .silu: map2(B.Silu(), x, dy, dx, count: count)
    case .softplus: map2(B.Softplus(), x, dy, dx, count: count)
    case .sin: map2(B.Sin(), x, dy, dx, count: count)
    case .cos: map2(B.Cos(), x, dy, dx, count: count)
    case .square: map2(B.Square(), x, dy, dx, count: count)
    case .reciprocal: map2(B.Reciprocal(), y, dy, dx, count: count)
    }
  }

  /// Scalar twin of ``unaryBackward(_:x:y:dy:dx:count:)``: the derivative formula in Double from `x`
  /// alone (`y` is ignored).
  public static func unaryBackwardReference(
    _ op: UnaryOp, x: UnsafePointer<Float>, y: UnsafePointer<Float>, dy: UnsafePointer<Float>,
    dx: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count {
      dx[i] = Float(Double(dy[i]) * referenceDerivative(op, Double(x[i])))
    }
  }

  /// op'(x) in Double.
  static func referenceDerivative(_ op: UnaryOp, _ x: Double) -> Double {
    switch op {
    case .neg: return -1
    case .exp: return exp(x)
    case .log: return 1 / x
    case .sqrt: return 0.5 / x.squareRoot()
    case .rsqrt: return -0.5 / (x * x.squareRoot())
    case .abs: return x > 0 ? 1 : (x < 0 ? -1 : (x == 0 ? 0 : .nan))
    case .tanh:
      let t = tanh(x)
      return 1 - t * t
    case .sigmoid:
      let s = 1 / (1 + exp(-x))
      return s * (1 - s)
    case .relu: return x > 0 ? 1 : 0
    case .geluTanh:
      let k = Double(geluK)
      let c = Double(geluC)
      let t = tanh(k * (x + c * x * x * x))
      return 0.5 * (1 + t) + 0.5 * x * (1 - t * t) * k * (1 + 3 * c * x * x)
    case .geluErf:
      return 0.5 * (1 + erf(x / 2.0.squareRoot())) + x * exp(-0.5 * x * x) / (2 * Double.pi).squareRoot()
    case .silu:
      let s = 1 / (1 + exp(-x))
      return s * (1 + x * (1 - s))
    case .softplus: return 1 / (1 + exp(-x))
    case .sin: return cos(x)
    case .cos: return -sin(x)
    case .square: return 2 * x
    case .reciprocal: return -1 / (x * x)
    }
  }

  // MARK: - Power

  /// y = x^p elementwise (p scalar), with libm `pow` semantics for zeros, infinities and negative bases
  /// (NaN unless p is an integer). Relative error about (1 + |p|) * 1e-7. y may alias x.
  public static func pow(
    _ x: UnsafePointer<Float>, exponent p: Float, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    typealias F = ForwardOps
    switch p {
    case 0: fill(y, value: 1, count: count)
    case 1: map(F.Identity(), x, y, count: count)
    case 2: map(F.Square(), x, y, count: count)
    case -1: map(F.Reciprocal(), x, y, count: count)
    case 0.5: map(F.PowHalf(), x, y, count: count)
    default: map(F.Pow(exponent: p), x, y, count: count)
    }
  }

  /// Scalar twin of ``pow(_:exponent:_:count:)`` through Double libm `pow`.
  public static func powReference(
    _ x: UnsafePointer<Float>, exponent p: Float, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { y[i] = Float(libmPow(Double(x[i]), Double(p))) }
  }

  /// dx = dy * p * x^(p-1) (zero everywhere when p == 0). dx may alias dy.
  public static func powBackward(
    x: UnsafePointer<Float>, exponent p: Float, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    switch p {
    case 0: fill(dx, value: 0, count: count)
    case 1: map(ForwardOps.Identity(), dy, dx, count: count)
    case 2: map2(BackwardOps.Square(), x, dy, dx, count: count)
    default: map2(BackwardOps.Pow(exponent: p), x, dy, dx, count: count)
    }
  }

  /// Scalar twin of ``powBackward(x:exponent:dy:dx:count:)`` in Double.
  public static func powBackwardReference(
    x: UnsafePointer<Float>, exponent p: Float, dy: UnsafePointer<Float>, dx: UnsafeMutablePointer<Float>,
    count: Int
  ) {
    for i in 0..<count {
      dx[i] = p == 0 ? 0 : Float(Double(dy[i]) * Double(p) * libmPow(Double(x[i]), Double(p) - 1))
    }
  }

  // MARK: - Affine, fill, accumulate

  /// y = a*x + b (scalars a, b), one fused multiply-add per element. y may alias x.
  public static func affine(
    _ x: UnsafePointer<Float>, scale a: Float, shift b: Float, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    map(ForwardOps.Affine(scale: V(repeating: a), shift: V(repeating: b)), x, y, count: count)
  }

  /// Scalar twin of ``affine(_:scale:shift:_:count:)``.
  public static func affineReference(
    _ x: UnsafePointer<Float>, scale a: Float, shift b: Float, _ y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { y[i] = b.addingProduct(a, x[i]) }
  }

  /// Sets `count` floats at `y` to `value`.
  public static func fill(_ y: UnsafeMutablePointer<Float>, value: Float, count: Int) {
    Parallel.forChunks(count: count, grain: grain * 4) { range in
      fillChunk(y, value, range)
    }
  }

  /// One chunk of ``fill(_:value:count:)``.
  @usableFromInline static func fillChunk(_ y: UnsafeMutablePointer<Float>, _ value: Float, _ range: Range<Int>) {
    let v = V(repeating: value)
    var i = range.lowerBound
    while i + 16 <= range.upperBound {
      UnsafeMutableRawPointer(y + i).storeBytes(of: v, as: V.self)
      i += 16
    }
    while i < range.upperBound {
      y[i] = value
      i += 1
    }
  }

  /// Scalar twin of ``fill(_:value:count:)``.
  public static func fillReference(_ y: UnsafeMutablePointer<Float>, value: Float, count: Int) {
    for i in 0..<count { y[i] = value }
  }

  /// y[i] += x[i] (gradient accumulation).
  public static func accumulate(_ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int) {
    map2(BackwardOps.Add(), x, y, y, count: count)
  }

  /// Scalar twin of ``accumulate(_:into:count:)``.
  public static func accumulateReference(
    _ x: UnsafePointer<Float>, into y: UnsafeMutablePointer<Float>, count: Int
  ) {
    for i in 0..<count { y[i] += x[i] }
  }

  /// 2u = 2 √(2/π) (x + 0.044715 x³), the sigmoid argument of the tanh-form GELU.
  @inlinable @inline(__always)
  static func geluTanhArgument(_ v: V) -> V {
    let x2 = v * v
    let inner = V(repeating: 1).addingProduct(x2, V(repeating: geluC))
    return v * inner * V(repeating: 2 * geluK)
  }
}

/// A lane-wise function of one vector.
@usableFromInline protocol LaneMap {
  /// The function on sixteen lanes.
  func apply(_ v: SIMD16<Float>) -> SIMD16<Float>
}

/// A lane-wise function of two vectors.
@usableFromInline protocol LaneMap2 {
  /// The function on sixteen lanes of each argument.
  func apply(_ a: SIMD16<Float>, _ b: SIMD16<Float>) -> SIMD16<Float>
}

/// Forward kernels of the unary ops (and a few helpers), one struct each.
@usableFromInline enum ForwardOps {
  @usableFromInline typealias V = SIMD16<Float>

  @usableFromInline struct Identity: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { v }
  }
  @usableFromInline struct Neg: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { -v }
  }
  @usableFromInline struct Exp: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.expOverflowing(v) }
  }
  @usableFromInline struct Log: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.log(v) }
  }
  @usableFromInline struct Sqrt: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.sqrt(v) }
  }
  @usableFromInline struct Rsqrt: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { V(repeating: 1) / VectorMath.sqrt(v) }
  }
  @usableFromInline struct Abs: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.abs(v) }
  }
  @usableFromInline struct Tanh: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.tanh(v) }
  }
  @usableFromInline struct Sigmoid: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.sigmoid(v) }
  }
  @usableFromInline struct Relu: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V {
      var r = v
      r.replace(with: V(repeating: 0), where: v .< V(repeating: 0))
      return r
    }
  }
  /// 0.5 x (1 + tanh u) = x sigmoid(2u): no cancellation in the negative tail.
  @usableFromInline struct GeluTanh: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V {
      v * VectorMath.sigmoid(Elementwise.geluTanhArgument(v))
    }
  }
  @usableFromInline struct GeluErf: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { v * VectorMath.normalCDF(v) }
  }
  @usableFromInline struct Silu: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { v * VectorMath.sigmoid(v) }
  }
  @usableFromInline struct Softplus: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.softplus(v) }
  }
  @usableFromInline struct Sin: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.sin(v) }
  }
  @usableFromInline struct Cos: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { VectorMath.cos(v) }
  }
  @usableFromInline struct Square: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { v * v }
  }
  @usableFromInline struct Reciprocal: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V { V(repeating: 1) / v }
  }
  @usableFromInline struct Affine: LaneMap {
    @usableFromInline let scale: V
    @usableFromInline let shift: V
    @inlinable init(scale: V, shift: V) {
      self.scale = scale
      self.shift = shift
    }
    @inlinable @inline(__always) func apply(_ v: V) -> V { shift.addingProduct(scale, v) }
  }
  /// x^0.5 with pow's rules: +0 for ±0 and +inf for -inf (sqrt gives -0 and NaN there).
  @usableFromInline struct PowHalf: LaneMap {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ v: V) -> V {
      var r = VectorMath.sqrt(v)
      r.replace(with: V(repeating: 0), where: v .== V(repeating: 0))
      r.replace(with: V(repeating: .infinity), where: v .== V(repeating: -.infinity))
      return r
    }
  }
  /// x^p for a general scalar p.
  @usableFromInline struct Pow: LaneMap {
    @usableFromInline let p: Float
    @usableFromInline let isInteger: Bool
    @usableFromInline let isOddInteger: Bool

    @inlinable init(exponent p: Float) {
      self.p = p
      isInteger = p.rounded(.towardZero) == p
      isOddInteger = isInteger && Swift.abs(p) < 16_777_216 && Int64(p) % 2 != 0
    }

    /// |x|^p as 2^(n + f) with the exponent product split exactly, then libm's sign and special-value rules.
    @inlinable @inline(__always) func apply(_ x: V) -> V {
      let pv = V(repeating: p)
      let ax = VectorMath.abs(x)
      // log2|x| = e + log2(m) with m in [sqrt(1/2), sqrt(2)).
      let (e, lnm) = VectorMath.logParts(ax)
      let log2m = lnm * V(repeating: 1.442_695_040_888_963_4)
      let a = pv * e
      let aError = (-a).addingProduct(pv, e)  // exact: p e = a + aError
      let b = pv * log2m
      let magic = V(repeating: 12_582_912.0)
      let n = ((a + b) + magic) - magic  // round to an integer (beyond 2^22 the result is 0 or inf anyway)
      let f = ((a - n) + b) + aError
      let frac = VectorMath.exp(f * V(repeating: 0.693_147_180_559_945_3))
      // Multiply by 2^n in two steps of at most 2^±100 (|n| > 200 over- or underflows anyway).
      var nc = n
      nc.replace(with: V(repeating: 200), where: n .> V(repeating: 200))
      nc.replace(with: V(repeating: -200), where: n .< V(repeating: -200))
      let ni = VectorMath.integer(nc)
      let n1 = ni &>> 1
      let n2 = ni &- n1
      let s1 = unsafeBitCast((n1 &+ 127) &<< 23, to: V.self)
      let s2 = unsafeBitCast((n2 &+ 127) &<< 23, to: V.self)
      var r = frac * s1 * s2
      // Zero and infinite bases.
      let zero = ax .== V(repeating: 0)
      let inf = ax .== V(repeating: .infinity)
      if p > 0 {
        r.replace(with: V(repeating: 0), where: zero)
        r.replace(with: V(repeating: .infinity), where: inf)
      } else {
        r.replace(with: V(repeating: .infinity), where: zero)
        r.replace(with: V(repeating: 0), where: inf)
      }
      // Negative bases: odd integer powers keep the sign, non-integer powers are NaN.
      if isOddInteger {
        r = VectorMath.copySign(r, x)
      } else if !isInteger {
        r.replace(with: V(repeating: .nan), where: (x .< V(repeating: 0)) .& .!inf)
      }
      r.replace(with: x, where: x .!= x)
      if !p.isFinite || Swift.abs(p) >= 16_777_216 {
        // Huge or infinite exponents: rare, leave them to libm.
        for lane in 0..<16 { r[lane] = Float(libmPow(Double(x[lane]), Double(p))) }
      }
      return r
    }
  }
}

/// Backward kernels: `apply(a, g)` = g * op'(x), where `a` is y = op(x) for exp, sqrt, rsqrt, tanh,
/// sigmoid and reciprocal and x otherwise.
@usableFromInline enum BackwardOps {
  @usableFromInline typealias V = SIMD16<Float>

  @usableFromInline struct Add: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ a: V, _ g: V) -> V { a + g }
  }
  @usableFromInline struct Exp: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { g * y }
  }
  @usableFromInline struct Log: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { g / x }
  }
  @usableFromInline struct Sqrt: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { (g * V(repeating: 0.5)) / y }
  }
  @usableFromInline struct Rsqrt: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { g * V(repeating: -0.5) * y * y * y }
  }
  /// sign(x) with sign(0) = 0.
  @usableFromInline struct Abs: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V {
      var sign = VectorMath.copySign(V(repeating: 1), x)
      sign.replace(with: V(repeating: 0), where: x .== V(repeating: 0))
      sign.replace(with: x, where: x .!= x)
      return g * sign
    }
  }
  @usableFromInline struct Tanh: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { g * (V(repeating: 1) - y * y) }
  }
  @usableFromInline struct Sigmoid: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { g * y * (V(repeating: 1) - y) }
  }
  @usableFromInline struct Relu: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V {
      var r = g
      r.replace(with: V(repeating: 0), where: .!(x .> V(repeating: 0)))
      return r
    }
  }
  /// d/dx [x s(2u)] = s + x 2s(1 - s) u', u' = k (1 + 3c x²).
  @usableFromInline struct GeluTanh: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V {
      let s = VectorMath.sigmoid(Elementwise.geluTanhArgument(x))
      let one = V(repeating: 1)
      let du = V(repeating: 2 * Elementwise.geluK) * one.addingProduct(x * x, V(repeating: 3 * Elementwise.geluC))
      return g * s.addingProduct(x * s * (one - s), du)
    }
  }
  /// Phi(x) + x phi(x).
  @usableFromInline struct GeluErf: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V {
      let pdf = VectorMath.exp(x * x * V(repeating: -0.5)) * V(repeating: 0.398_942_280_401_432_7)
      return g * VectorMath.normalCDF(x).addingProduct(x, pdf)
    }
  }
  /// s (1 + x (1 - s)).
  @usableFromInline struct Silu: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V {
      let s = VectorMath.sigmoid(x)
      let one = V(repeating: 1)
      return g * s * one.addingProduct(x, one - s)
    }
  }
  @usableFromInline struct Softplus: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { g * VectorMath.sigmoid(x) }
  }
  @usableFromInline struct Sin: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { g * VectorMath.cos(x) }
  }
  @usableFromInline struct Cos: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { -(g * VectorMath.sin(x)) }
  }
  @usableFromInline struct Square: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { g * (x + x) }
  }
  @usableFromInline struct Reciprocal: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ y: V, _ g: V) -> V { -(g * y * y) }
  }
  /// g p x^(p-1).
  @usableFromInline struct Pow: LaneMap2 {
    @usableFromInline let power: ForwardOps.Pow
    @usableFromInline let p: V
    @inlinable init(exponent p: Float) {
      power = ForwardOps.Pow(exponent: p - 1)
      self.p = V(repeating: p)
    }
    @inlinable @inline(__always) func apply(_ x: V, _ g: V) -> V { g * p * power.apply(x) }
  }
}

/// Double libm `pow`, reachable from inlinable code (the enum's own `pow` shadows it there).
@usableFromInline func libmPow(_ x: Double, _ y: Double) -> Double { pow(x, y) }

extension Elementwise {
  /// out[i] = silu(gate[i]) · up[i]: the gated MLP's hidden activation (SwiGLU). `out` may alias either input.
  public static func siluGated(
    _ gate: UnsafePointer<Float>, _ up: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Float>, count: Int
  ) {
    map2(ForwardOps.SiluGated(), gate, up, out, count: count)
  }
}

extension ForwardOps {
  /// silu(a) · b.
  @usableFromInline struct SiluGated: LaneMap2 {
    @inlinable init() {}
    @inlinable @inline(__always) func apply(_ a: V, _ b: V) -> V { a * VectorMath.sigmoid(a) * b }
  }
}

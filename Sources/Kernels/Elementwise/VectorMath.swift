/// Vectorised transcendental functions on `SIMD16<Float>`.
///
/// These avoid scalar libm calls inside hot loops. Accuracy is a few ulp over the float range
/// that matters for ML (softmax inputs, activations); inputs far outside it saturate cleanly.
public enum VectorMath {
  /// Sixteen floats, the natural AVX-512 vector.
  public typealias V = SIMD16<Float>

  /// e^x, with inputs clamped to [-87.3, 88.7] so that the result stays finite and normal (x = -inf gives 0).
  @inlinable @inline(__always)
  public static func exp(_ x: V) -> V {
    var x = x
    x.replace(with: V(repeating: 88.7), where: x .> V(repeating: 88.7))
    let tooSmall = x .< V(repeating: -87.3)
    x.replace(with: V(repeating: -87.3), where: tooSmall)
    let magic = V(repeating: 12_582_912.0)  // 1.5 * 2^23: rounds to an integer in the low mantissa bits
    let t = magic.addingProduct(x, V(repeating: 1.442_695_040_888_963_4))
    let n = t - magic
    var r = x.addingProduct(n, V(repeating: -0.693_145_751_953_125))
    r = r.addingProduct(n, V(repeating: -1.428_606_765_330_187e-06))
    // Horner form of the Taylor series of e^r on |r| <= ln2/2, degree 6.
    var p = V(repeating: 1.0 / 120.0).addingProduct(V(repeating: 1.0 / 720.0), r)
    p = V(repeating: 1.0 / 24.0).addingProduct(p, r)
    p = V(repeating: 1.0 / 6.0).addingProduct(p, r)
    p = V(repeating: 0.5).addingProduct(p, r)
    p = V(repeating: 1.0).addingProduct(p, r)
    p = V(repeating: 1.0).addingProduct(p, r)
    let bits = unsafeBitCast(t, to: SIMD16<Int32>.self) &- unsafeBitCast(magic, to: SIMD16<Int32>.self)
    let scale = unsafeBitCast((bits &+ 127) &<< 23, to: V.self)
    var result = p * scale
    result.replace(with: V(repeating: 0), where: tooSmall)
    return result
  }

  /// e^x for one float, by the same polynomial as the vector form.
  @inlinable @inline(__always)
  public static func exp(_ x: Float) -> Float {
    exp(V(repeating: x))[0]
  }
}

extension VectorMath {
  /// e^((x − shift) · scale) for every element, and their sum: the unnormalised softmax of a logit row
  /// (shift its maximum, scale the inverse temperature), vectorised.
  public static func exponentials(of x: [Float], minus shift: Float, times scale: Float) -> (
    values: [Float], sum: Float
  ) {
    var total = V()
    var tail: Float = 0
    let values = [Float](unsafeUninitializedCapacity: x.count) { out, initialized in
      x.withUnsafeBufferPointer { input in
        guard let source = input.baseAddress, let target = out.baseAddress else { return }
        let (s, k) = (V(repeating: shift), V(repeating: scale))
        var i = 0
        while i + 16 <= x.count {
          let e = exp((UnsafeRawPointer(source + i).loadUnaligned(as: V.self) - s) * k)
          UnsafeMutableRawPointer(target + i).storeBytes(of: e, as: V.self)
          total += e
          i += 16
        }
        while i < x.count {
          target[i] = exp((source[i] - shift) * scale)
          tail += target[i]
          i += 1
        }
      }
      initialized = x.count
    }
    return (values, total.sum() + tail)
  }
}

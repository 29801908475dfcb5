extension KernelBenchmarks {
  /// Best times of one few-row ``Gemv`` over an n x k weight matrix stored as float32, bfloat16 and q8_0
  /// (one scale per `groupSize` values), measured in alternation with `inputRows` rows of x. Throws when
  /// `groupSize` does not divide k. Weight bytes over these times give each format's effective bandwidth.
  public static func quantizedGemvSeconds(
    rows n: Int, columns k: Int, groupSize: Int, inputRows m: Int = 1, repeats: Int
  ) throws(QuantizationError) -> (float32: Double, bfloat16: Double, q8_0: Double) {
    let layout = try Q8_0.Layout(rows: n, columns: k, groupSize: groupSize)
    let dense = Buffer(byteCount: n * k * 4)
    let halves = Buffer(byteCount: n * k * 2)
    let values = Buffer(byteCount: n * k)
    let scales = Buffer(byteCount: layout.scaleCount * 4)
    let x = Buffer(byteCount: m * k * 4)
    let y = Buffer(byteCount: m * n * 4)
    let w = dense.pointer(as: Float.self)
    var state: UInt64 = 0x2545_F491_4F6C_DD1D
    for i in 0..<(n * k) {
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      w[i] = Float(Int32(truncatingIfNeeded: state >> 32)) * (0.01 / Float(Int32.max))
    }
    Elementwise.fill(x.pointer(as: Float.self), value: 0.5, count: m * k)
    Conversion.floatToBFloat16(w, halves.pointer(as: UInt16.self), count: n * k)
    Q8_0.quantize(w, layout: layout, values: values.pointer(as: Int8.self), scales: scales.pointer(as: Float.self))
    let formats: [Gemv.Weights] = [
      .float32(w, rowStride: k), .bfloat16(halves.pointer(as: UInt16.self), rowStride: k),
      .q8_0(Q8_0.Matrix(values: values.pointer(as: Int8.self), scales: scales.pointer(as: Float.self), layout: layout)),
    ]
    var best = [Double](repeating: .infinity, count: formats.count)
    for _ in 0..<3 {
      for (index, weights) in formats.enumerated() {
        let product = Gemv.MixedProduct(weights: weights, columns: n, y: y.pointer(as: Float.self), ldy: n)
        best[index] = min(
          best[index],
          bestTime(repeats: repeats) {
            Gemv.multiplyTransposed(m: m, k: k, x: x.pointer(as: Float.self), ldx: k, products: [product])
          })
      }
    }
    return (best[0], best[1], best[2])
  }
}

import Foundation
import Testing

@testable import Kernels

/// Deterministic uniform numbers in [-1, 1).
private func quantRandom(_ count: Int, seed: UInt64) -> [Float] {
  var state = seed &* 0x9E37_79B9_7F4A_7C15 | 1
  return (0..<count).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    return Float(state >> 40) / Float(1 << 23) - 1
  }
}

/// Quantises `x` [rows, columns] with the fast kernel.
private func quantized(_ x: [Float], rows: Int, columns: Int, group: Int) -> (values: [Int8], scales: [Float]) {
  let layout = try! Q8_0.Layout(rows: rows, columns: columns, groupSize: group)
  var values = [Int8](repeating: 0, count: layout.valueCount)
  var scales = [Float](repeating: 0, count: layout.scaleCount)
  Q8_0.quantize(x, layout: layout, values: &values, scales: &scales)
  return (values, scales)
}

/// The q8_0 kernel levels this CPU can run (the portable loops always).
private let levels: [Int32] = {
  let best = Gemv.q8Level
  return [Gemv.q8Portable, Gemv.q8AVX2, Gemv.q8VNNI].filter { $0 <= best }
}()

/// Runs the fast mixed-format Gemv (at `level`) and its reference on the same products; returns both outputs.
private func runBoth(
  m: Int, k: Int, x: [Float], ldx: Int, widths: [Int], start: [[Float]], level: Int32,
  _ weights: (Int) -> Gemv.Weights, accumulate: (Int) -> Bool = { _ in false }
) -> (fast: [[Float]], slow: [[Float]]) {
  var fast = start
  var slow = start
  for pass in 0..<2 {
    var outputs = pass == 0 ? fast : slow
    let pointers = outputs.map { row -> UnsafeMutablePointer<Float> in
      let p = UnsafeMutablePointer<Float>.allocate(capacity: max(row.count, 1))
      p.initialize(from: row, count: row.count)
      return p
    }
    let products = widths.indices.map { i in
      Gemv.MixedProduct(
        weights: weights(i), columns: widths[i], y: pointers[i], ldy: widths[i], accumulate: accumulate(i))
    }
    if pass == 0 {
      Gemv.multiplyTransposed(m: m, k: k, x: x, ldx: ldx, products: products, q8Level: level)
    } else {
      Gemv.multiplyTransposedReference(m: m, k: k, x: x, ldx: ldx, products: products)
    }
    for i in outputs.indices {
      outputs[i] = Array(UnsafeBufferPointer(start: pointers[i], count: outputs[i].count))
      pointers[i].deallocate()
    }
    if pass == 0 { fast = outputs } else { slow = outputs }
  }
  return (fast, slow)
}

/// The stated bound of the q8_0 kernel against its reference for output (i, j):
/// (k / group + 5) · 2⁻²⁴ · Σ_b |x scale · w scale| · Σ_{p in b} |qx · qw|.
private func q8Bound(
  i: Int, j: Int, k: Int, group: Int, x: (values: [Int8], scales: [Float]), w: (values: [Int8], scales: [Float])
) -> Float {
  let blocks = k / group
  var total = 0.0
  for b in 0..<blocks {
    var magnitude = 0
    for p in (b * group)..<((b + 1) * group) { magnitude += abs(Int(x.values[i * k + p]) * Int(w.values[j * k + p])) }
    total += Double(magnitude) * abs(Double(x.scales[i * blocks + b]) * Double(w.scales[j * blocks + b]))
  }
  return Float(Double(blocks + 5) * 0x1p-24 * total) + Float.leastNormalMagnitude
}

@Suite struct QuantizationTests {
  /// (rows, columns, group): GGML's 32, llama2.c's 64, a non-power-of-two 48, and odd groups down to 1.
  static let shapes: [(Int, Int, Int)] = [
    (3, 64, 32), (5, 288, 32), (2, 768, 64), (4, 288, 48), (1, 96, 48), (7, 21, 7), (2, 10, 1), (33, 1024, 64),
  ]

  @Test(arguments: 0..<shapes.count)
  func quantizeMatchesReference(_ index: Int) throws {
    let (rows, columns, group) = Self.shapes[index]
    let layout = try Q8_0.Layout(rows: rows, columns: columns, groupSize: group)
    var x = quantRandom(rows * columns, seed: UInt64(index)).map { $0 * 3 }
    // A block of zeros (scale 0), an exact tie (2.5 steps) in a block of scale 1, and a huge value.
    let ties = group >= 2 && layout.scaleCount >= 3
    for p in 0..<group { x[p] = 0 }
    if ties {
      x[group] = 127
      x[group + 1] = 2.5
    }
    x[x.count - 1] = 1e30
    var (fastValues, slowValues) = ([Int8](repeating: 9, count: x.count), [Int8](repeating: 7, count: x.count))
    var (fastScales, slowScales) = (
      [Float](repeating: 9, count: layout.scaleCount), [Float](repeating: 7, count: layout.scaleCount)
    )
    Q8_0.quantize(x, layout: layout, values: &fastValues, scales: &fastScales)
    Q8_0.quantizeReference(x, layout: layout, values: &slowValues, scales: &slowScales)
    #expect(fastValues == slowValues)
    #expect(fastScales.map(\.bitPattern) == slowScales.map(\.bitPattern))
    #expect(fastScales[0] == 0 && fastValues[0..<group].allSatisfy { $0 == 0 })
    if ties {
      #expect(fastScales[1] == 1 && fastValues[group] == 127 && fastValues[group + 1] == 2, "ties go to even")
    }
    #expect(fastValues.allSatisfy { $0 >= -127 && $0 <= 127 })
    try Q8_0.validate(values: fastValues, count: fastValues.count)
  }

  /// Dequantising equals the reference bit for bit, and each value is within half a step of the input:
  /// |dequantize(quantize(x)) - x| <= scale / 2 (plus the rounding of the division and of q · scale).
  @Test(arguments: 0..<shapes.count)
  func roundTripIsWithinHalfAStep(_ index: Int) throws {
    let (rows, columns, group) = Self.shapes[index]
    let layout = try Q8_0.Layout(rows: rows, columns: columns, groupSize: group)
    let x = quantRandom(rows * columns, seed: UInt64(100 + index))
    let (values, scales) = quantized(x, rows: rows, columns: columns, group: group)
    var fast = [Float](repeating: .nan, count: x.count)
    var slow = [Float](repeating: .nan, count: x.count)
    Q8_0.dequantize(values: values, scales: scales, layout: layout, into: &fast)
    Q8_0.dequantizeReference(values: values, scales: scales, layout: layout, into: &slow)
    #expect(fast.map(\.bitPattern) == slow.map(\.bitPattern))
    var worst: Float = 0
    for p in x.indices {
      let scale = scales[p / group]
      worst = max(worst, abs(fast[p] - x[p]) / (scale * (0.5 + 1e-5) + 1e-30))
    }
    #expect(worst <= 1, "largest error \(worst) half-steps")
    // The block maximum itself comes back to within one rounding.
    let block = Array(x[0..<group])
    let peak = block.indices.max { abs(block[$0]) < abs(block[$1]) }!
    #expect(abs(fast[peak] - x[peak]) <= abs(x[peak]) * 0x1p-22)
  }

  @Test func layoutValidationRejectsBadShapes() throws {
    #expect(throws: QuantizationError.self) { try Q8_0.Layout(rows: 4, columns: 100, groupSize: 32) }
    #expect(throws: QuantizationError.self) { try Q8_0.Layout(rows: 4, columns: 64, groupSize: 0) }
    #expect(throws: QuantizationError.self) { try Q8_0.Layout(rows: -1, columns: 64, groupSize: 32) }
    do {
      try Q8_0.Layout.validate(rows: 288, columns: 288, groupSize: 64)
      Issue.record("288 is not a multiple of 64")
    } catch {
      #expect(error.description == "q8_0 group size 64 does not divide the row width 288")
    }
    let layout = try Q8_0.Layout(rows: 288, columns: 288, groupSize: 48)
    #expect(layout.blocksPerRow == 6 && layout.scaleCount == 288 * 6 && layout.valueCount == 288 * 288)
    let bad: [Int8] = [1, -127, 127, -128, 0]
    #expect(throws: QuantizationError.self) { try Q8_0.validate(values: bad, count: bad.count) }
    try Q8_0.validate(values: bad, count: 3)
  }

  /// A view of some rows reads the same values and scales as the whole matrix.
  @Test func rowViewsPointIntoTheMatrix() throws {
    let layout = try Q8_0.Layout(rows: 10, columns: 96, groupSize: 32)
    let (values, scales) = quantized(quantRandom(960, seed: 5), rows: 10, columns: 96, group: 32)
    values.withUnsafeBufferPointer { v in
      scales.withUnsafeBufferPointer { s in
        let part = Q8_0.Matrix(values: v.baseAddress!, scales: s.baseAddress!, layout: layout).rows(3..<7)
        #expect(part.layout.rows == 4 && part.values[0] == values[3 * 96] && part.scales[0] == scales[3 * 3])
      }
    }
  }
}

@Suite struct QuantizedGemvTests {
  /// (n output features, k, group): odd widths hit the four-column tail; groups of 32, 64 and 48 (which take
  /// the 32 + 16 path) and 96 (the generic path of whole 32s); k from stories15M's 288 and 768 up to 1024.
  static let shapes: [(Int, Int, Int)] = [
    (33, 64, 32), (97, 288, 32), (8, 288, 96), (40, 288, 48), (33, 768, 64), (35, 1024, 32), (9, 1024, 64),
    (13, 768, 48), (5, 24, 8), (3, 7, 7),
  ]

  @Test(arguments: [1, 2, 3, 4, 7, 16])
  func q8MatchesReference(_ m: Int) {
    for (index, (n, k, group)) in Self.shapes.enumerated() {
      let ldx = k + 3
      let x = quantRandom(m * ldx, seed: UInt64(index * 31 + m))
      let dense = quantRandom(n * k, seed: UInt64(index + 500))
      let w = quantized(dense, rows: n, columns: k, group: group)
      let xq = quantized((0..<m).flatMap { Array(x[($0 * ldx)..<($0 * ldx + k)]) }, rows: m, columns: k, group: group)
      let layout = try! Q8_0.Layout(rows: n, columns: k, groupSize: group)
      let start = [quantRandom(m * n, seed: 9)]
      for level in levels {
        for accumulate in [false, true] {
          let (fast, slow) = w.values.withUnsafeBufferPointer { v in
            w.scales.withUnsafeBufferPointer { s in
              runBoth(m: m, k: k, x: x, ldx: ldx, widths: [n], start: start, level: level) { _ in
                .q8_0(Q8_0.Matrix(values: v.baseAddress!, scales: s.baseAddress!, layout: layout))
              } accumulate: { _ in
                accumulate
              }
            }
          }
          var worst: Float = 0
          for i in 0..<m {
            for j in 0..<n {
              // Accumulating adds one rounding of the sum into y on both sides.
              let rounding = accumulate ? abs(slow[0][i * n + j]) * 0x1p-23 : 0
              let bound = q8Bound(i: i, j: j, k: k, group: group, x: xq, w: w) + rounding
              worst = max(worst, abs(fast[0][i * n + j] - slow[0][i * n + j]) / bound)
            }
          }
          #expect(worst <= 1, "m \(m) n \(n) k \(k) group \(group) level \(level) accumulate \(accumulate): \(worst)")
        }
      }
    }
  }

  /// With power-of-two scales every term is an integer multiple of the smallest scale product; when the sum of
  /// their magnitudes in those units stays below 2^24 (checked), every float partial sum is exact in any order,
  /// so the kernels must equal the reference bit for bit: their integer block sums are exact (the sign trick
  /// with values of ±127 included).
  @Test(arguments: [1, 2, 5, 16])
  func q8IntegerSumsAreExact(_ m: Int) {
    for (n, k, group) in [(13, 512, 32), (6, 96, 48), (9, 192, 64), (5, 21, 7)] {
      // Values in [-127, 127] and weight scales 2^e; x built so that each block's scale is 2^e exactly.
      var state: UInt64 = UInt64(n * k + m)
      func next(_ bound: Int) -> Int {
        state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
        return Int(state >> 33) % bound
      }
      let values = (0..<(n * k)).map { _ in Int8(next(255) - 127) }
      let scales = (0..<(n * k / group)).map { _ in Float(sign: .plus, exponent: -next(2), significand: 1) }
      var x = [Float](repeating: 0, count: m * k)
      for block in 0..<(m * k / group) {
        let e = -2 - next(2)
        for p in 0..<group {
          x[block * group + p] = Float(next(255) - 127) * Float(sign: .plus, exponent: e, significand: 1)
        }
        x[block * group + next(group)] = 127 * Float(sign: .plus, exponent: e, significand: 1)
      }
      let layout = try! Q8_0.Layout(rows: n, columns: k, groupSize: group)
      // Scale products lie in [2^-4, 2^-2]: magnitudes in units of 2^-4 are Σ |qx qw| · 2^(e + 4).
      let xq = quantized(x, rows: m, columns: k, group: group)
      for i in 0..<m {
        for j in 0..<n {
          var units = 0.0
          for p in 0..<k {
            let d = Double(xq.scales[(i * k + p) / group]) * Double(scales[(j * k + p) / group])
            units += abs(Double(xq.values[i * k + p]) * Double(values[j * k + p])) * d * 16
          }
          #expect(units < 0x1p24, "the exactness argument needs fewer units: \(units)")
        }
      }
      for level in levels {
        let (fast, slow) = values.withUnsafeBufferPointer { v in
          scales.withUnsafeBufferPointer { s in
            runBoth(m: m, k: k, x: x, ldx: k, widths: [n], start: [[Float](repeating: 0, count: m * n)], level: level) {
              _ in .q8_0(Q8_0.Matrix(values: v.baseAddress!, scales: s.baseAddress!, layout: layout))
            }
          }
        }
        #expect(fast[0] == slow[0], "n \(n) k \(k) group \(group) level \(level)")
      }
    }
  }

  /// The acceptance check: a q8_0 Gemv equals the float32 Gemv over the dequantised weights and the
  /// dequantised quantised input (what the kernel multiplies) within 1e-5 relative, per output relative to
  /// Σₚ |ŵ x̂| and over all outputs in the max norm. Against the unquantised x the difference is the input's
  /// quantisation itself, so it is only bounded loosely here: for these uniform data it measured 1.5e-3 to
  /// 4.7e-3 of the max norm (k 288 group 48 to k 768 group 64), and 3e-3 to 8e-3 against the float32 Gemv
  /// over the original weights and x.
  @Test(arguments: [1, 3, 16])
  func q8EqualsFloatGemvOverDequantisedOperands(_ m: Int) throws {
    for (n, k, group) in [(97, 288, 32), (64, 768, 64), (31, 288, 48), (40, 1024, 32)] {
      let x = quantRandom(m * k, seed: UInt64(m * 7 + k))
      let w = quantRandom(n * k, seed: UInt64(n))
      let layout = try Q8_0.Layout(rows: n, columns: k, groupSize: group)
      let wq = quantized(w, rows: n, columns: k, group: group)
      let xq = quantized(x, rows: m, columns: k, group: group)
      var wHat = [Float](repeating: 0, count: n * k)
      var xHat = [Float](repeating: 0, count: m * k)
      Q8_0.dequantize(values: wq.values, scales: wq.scales, layout: layout, into: &wHat)
      Q8_0.dequantize(
        values: xq.values, scales: xq.scales, layout: try Q8_0.Layout(rows: m, columns: k, groupSize: group),
        into: &xHat)
      var float = [Float](repeating: 0, count: m * n)
      var unquantised = [Float](repeating: 0, count: m * n)
      Gemv.multiplyTransposed(m: m, n: n, k: k, x: xHat, ldx: k, w: wHat, ldw: k, y: &float, ldy: n)
      Gemv.multiplyTransposed(m: m, n: n, k: k, x: x, ldx: k, w: wHat, ldw: k, y: &unquantised, ldy: n)
      for level in levels {
        let (fast, _) = wq.values.withUnsafeBufferPointer { v in
          wq.scales.withUnsafeBufferPointer { s in
            runBoth(m: m, k: k, x: x, ldx: k, widths: [n], start: [float], level: level) { _ in
              .q8_0(Q8_0.Matrix(values: v.baseAddress!, scales: s.baseAddress!, layout: layout))
            }
          }
        }
        let q8 = fast[0]
        var worst: Float = 0
        for i in 0..<m {
          for j in 0..<n {
            var magnitude: Float = 0
            for p in 0..<k { magnitude += abs(wHat[j * k + p] * xHat[i * k + p]) }
            worst = max(worst, abs(q8[i * n + j] - float[i * n + j]) / magnitude)
          }
        }
        let norm = float.map(abs).max()!
        let maxNorm = zip(q8, float).map { abs($0 - $1) }.max()! / norm
        let inputError = zip(q8, unquantised).map { abs($0 - $1) }.max()! / norm
        #expect(worst <= 1e-5 && maxNorm <= 1e-5, "n \(n) k \(k) group \(group): \(worst), \(maxNorm)")
        #expect(inputError < 2e-2, "error against the unquantised x: \(inputError)")
      }
    }
  }

  @Test(arguments: [1, 2, 3, 4, 7, 16])
  func bfloat16MatchesReference(_ m: Int) {
    for (index, (n, k)) in [(33, 64), (97, 288), (13, 768), (9, 1024), (5, 31), (6, 45)].enumerated() {
      let (ldx, ldw) = (k + 1, k + 5)
      let x = quantRandom(m * ldx, seed: UInt64(index + m * 13))
      var w = [UInt16](repeating: 0, count: n * ldw)
      Conversion.floatToBFloat16(quantRandom(n * ldw, seed: UInt64(index)), &w, count: n * ldw)
      let start = [quantRandom(m * n, seed: 3)]
      for accumulate in [false, true] {
        let (fast, slow) = w.withUnsafeBufferPointer { pw in
          runBoth(m: m, k: k, x: x, ldx: ldx, widths: [n], start: start, level: Gemv.q8Level) { _ in
            .bfloat16(pw.baseAddress!, rowStride: ldw)
          } accumulate: { _ in
            accumulate
          }
        }
        let tolerance = 2e-6 * Float(max(k, 16))
        #expect(zip(fast[0], slow[0]).allSatisfy { abs($0 - $1) <= tolerance }, "m \(m) n \(n) k \(k)")
      }
    }
  }

  /// float32, bfloat16 and q8_0 products of two group sizes (ragged widths, one accumulating, one empty) in one
  /// call each equal their reference.
  @Test(arguments: [1, 4, 16])
  func mixedGroupMatchesReference(_ m: Int) throws {
    let k = 192
    let widths = [37, 0, 130, 8, 259]
    let x = quantRandom(m * k, seed: 77)
    let dense = widths.enumerated().map { quantRandom($0.element * k, seed: UInt64(40 + $0.offset)) }
    var bf16 = [UInt16](repeating: 0, count: widths[2] * k)
    Conversion.floatToBFloat16(dense[2], &bf16, count: bf16.count)
    let q32 = quantized(dense[3], rows: widths[3], columns: k, group: 32)
    let q64 = quantized(dense[4], rows: widths[4], columns: k, group: 64)
    let layouts = [
      try Q8_0.Layout(rows: widths[3], columns: k, groupSize: 32),
      try Q8_0.Layout(rows: widths[4], columns: k, groupSize: 64),
    ]
    let starts = widths.enumerated().map { quantRandom(m * $0.element, seed: UInt64(60 + $0.offset)) }
    for level in levels {
      let (fast, slow) = dense[0].withUnsafeBufferPointer { f in
        bf16.withUnsafeBufferPointer { b in
          q32.values.withUnsafeBufferPointer { v32 in
            q32.scales.withUnsafeBufferPointer { s32 in
              q64.values.withUnsafeBufferPointer { v64 in
                q64.scales.withUnsafeBufferPointer { s64 in
                  runBoth(m: m, k: k, x: x, ldx: k, widths: widths, start: starts, level: level) { i -> Gemv.Weights in
                    switch i {
                    case 0, 1: .float32(f.baseAddress!, rowStride: k)
                    case 2: .bfloat16(b.baseAddress!, rowStride: k)
                    case 3: .q8_0(Q8_0.Matrix(values: v32.baseAddress!, scales: s32.baseAddress!, layout: layouts[0]))
                    default: .q8_0(Q8_0.Matrix(values: v64.baseAddress!, scales: s64.baseAddress!, layout: layouts[1]))
                    }
                  } accumulate: {
                    $0 == 2 || $0 == 4
                  }
                }
              }
            }
          }
        }
      }
      for i in widths.indices {
        #expect(
          zip(fast[i], slow[i]).allSatisfy { abs($0 - $1) <= 2e-6 * Float(k) }, "product \(i) m \(m) level \(level)")
      }
    }
  }

  /// The run-time dispatch never picks the AVX-512 VNNI kernel on a CPU that lacks it.
  @Test func dispatchMatchesTheCPU() throws {
    #if os(Linux) && arch(x86_64)
      let info = try String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8)
      let flags = Set(info.split(separator: "\n").first { $0.hasPrefix("flags") }?.split(separator: " ") ?? [])
      if !flags.contains("avx512_vnni") || !flags.contains("avx512vl") { #expect(Gemv.q8Level < Gemv.q8VNNI) }
      if flags.contains("avx2") && flags.contains("fma") { #expect(Gemv.q8Level >= Gemv.q8AVX2) }
    #endif
  }
}

import Foundation
import Testing

@testable import Kernels

/// Deterministic floats spread over many binades, with both signs.
private func spreadFloats(_ n: Int, seed: UInt64) -> [Float] {
  var state = seed &* 2_862_933_555_777_941_757 &+ 7
  return (0..<n).map { _ in
    state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
    let u = Float(state >> 40) / Float(1 << 24)
    let e = Float((state >> 20) & 63) - 40  // 2^-40 ... 2^23
    return ((state >> 10) & 1 == 1 ? -1 : 1) * (1 + u) * Foundation.pow(2, e)
  }
}

private let sizes = [1, 7, 15, 16, 17, 33, 100, 70_000]

private let specials: [Float] = [
  0, -0.0, 1, -1, .infinity, -.infinity, .nan, 65_504, 65_519.99, 65_520, 70_000, -70_000, 0x1p-14, 0x1p-24,
  0x1p-25, 0x1.8p-25, 0x1p-26, 6e-8, 1.00048828125, 1.00146484375, 3.4028235e38, -3.4028235e38,
  Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001),
  Float(bitPattern: 0x7F7F_FFFF), Float(bitPattern: 0x0000_0001), Float(bitPattern: 0xFFC0_0001),
]

@Suite struct ConversionTests {
  @Test func halfMatchesReference() {
    for n in sizes {
      let x = spreadFloats(n, seed: UInt64(n)) + specials
      var fast = [Float16](repeating: 0, count: x.count)
      var reference = fast
      Conversion.floatToHalf(x, &fast, count: x.count)
      Conversion.floatToHalfReference(x, &reference, count: x.count)
      for i in 0..<x.count {
        #expect(
          fast[i].bitPattern == reference[i].bitPattern || (fast[i].isNaN && reference[i].isNaN),
          "\(x[i]) -> \(fast[i]) vs \(reference[i])")
      }
      var back = [Float](repeating: 0, count: x.count)
      var backReference = back
      Conversion.halfToFloat(fast, &back, count: x.count)
      Conversion.halfToFloatReference(fast, &backReference, count: x.count)
      for i in 0..<x.count {
        #expect(back[i] == backReference[i] || (back[i].isNaN && backReference[i].isNaN))
      }
    }
  }

  @Test func allHalfBitPatternsRoundTrip() {
    let halves = (0...UInt16.max).map { Float16(bitPattern: $0) }
    var floats = [Float](repeating: 0, count: halves.count)
    var again = halves
    Conversion.halfToFloat(halves, &floats, count: halves.count)
    Conversion.floatToHalf(floats, &again, count: halves.count)
    for i in 0..<halves.count where !halves[i].isNaN {
      #expect(again[i].bitPattern == halves[i].bitPattern)
    }
  }

  @Test func bfloat16RoundsToNearestEven() {
    for n in sizes {
      let x = spreadFloats(n, seed: UInt64(n) + 1) + specials
      var fast = [UInt16](repeating: 0, count: x.count)
      var reference = fast
      Conversion.floatToBFloat16(x, &fast, count: x.count)
      Conversion.floatToBFloat16Reference(x, &reference, count: x.count)
      #expect(fast == reference)
      var back = [Float](repeating: 0, count: x.count)
      var backReference = back
      Conversion.bfloat16ToFloat(fast, &back, count: x.count)
      Conversion.bfloat16ToFloatReference(fast, &backReference, count: x.count)
      #expect(back.elementsEqual(backReference) { $0 == $1 || ($0.isNaN && $1.isNaN) })
    }
    var out = [UInt16](repeating: 0, count: 5)
    let ties: [Float] = [
      Float(bitPattern: 0x3F80_8000), Float(bitPattern: 0x3F81_8000), Float(bitPattern: 0x3F80_8001), .nan,
      Float(bitPattern: 0x7F7F_FFFF),
    ]
    Conversion.floatToBFloat16(ties, &out, count: 5)
    #expect(out == [0x3F80, 0x3F82, 0x3F81, 0x7FC0, 0x7F80])  // even, up to even, above half, NaN, overflow
  }

  @Test func integerConversions() {
    for n in sizes {
      let x = spreadFloats(n, seed: 3) + [.nan, 3e9, -3e9, 2_147_483_520, -2_147_483_648, -0.7, 0.7, 1.5]
      var fast = [Int32](repeating: 0, count: x.count)
      var reference = fast
      Conversion.floatToInt32(x, &fast, count: x.count)
      Conversion.floatToInt32Reference(x, &reference, count: x.count)
      #expect(fast == reference)
      var floats = [Float](repeating: 0, count: x.count)
      var floatsReference = floats
      Conversion.int32ToFloat(fast, &floats, count: x.count)
      Conversion.int32ToFloatReference(fast, &floatsReference, count: x.count)
      #expect(floats == floatsReference)
      var wide = [Int64](repeating: 0, count: x.count)
      var wideReference = wide
      Conversion.int32ToInt64(fast, &wide, count: x.count)
      Conversion.int32ToInt64Reference(fast, &wideReference, count: x.count)
      #expect(wide == wideReference)
      let big = wide.map { $0 &* 4_294_967_311 &+ 5 }
      Conversion.int64ToFloat(big, &floats, count: x.count)
      Conversion.int64ToFloatReference(big, &floatsReference, count: x.count)
      #expect(floats == floatsReference)
      Conversion.int64ToInt32(big, &fast, count: x.count)
      Conversion.int64ToInt32Reference(big, &reference, count: x.count)
      #expect(fast == reference)
    }
    var out = [Int32](repeating: 7, count: 4)
    Conversion.floatToInt32([.nan, 1e10, -1e10, -2.9], &out, count: 4)
    #expect(out == [0, .max, .min, -2])
  }
}

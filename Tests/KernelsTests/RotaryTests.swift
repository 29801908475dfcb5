import Dispatch
import Foundation
import Kernels
import Testing

/// Seeded splitmix64 generator for reproducible inputs.
private struct SeededRandom {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in `[-1, 1)`.
  mutating func floats(_ n: Int) -> [Float] {
    (0..<n).map { _ in Float(next() >> 40) / Float(1 << 24) * 2 - 1 }
  }
}

/// One rotary configuration.
private struct Config: CustomStringConvertible {
  var outer = 1
  var seq = 1
  var heads = 1
  var headDim = 2
  var rotaryDim = 2
  var base: Float = 10_000
  var offset = 0
  var positions: [Int32]? = nil
  var interleaved = false
  var inverse = false

  var count: Int { outer * seq * heads * headDim }

  var description: String {
    "outer \(outer) seq \(seq) heads \(heads) dim \(headDim)/\(rotaryDim) offset \(offset) "
      + "positions \(positions != nil) interleaved \(interleaved) inverse \(inverse)"
  }
}

private func rotate(_ x: [Float], _ c: Config, reference: Bool = false) -> [Float] {
  var y = [Float](repeating: .nan, count: x.count)
  let call = reference ? Rotary.applyReference : Rotary.apply
  if let p = c.positions {
    p.withUnsafeBufferPointer { p in
      call(
        x, &y, c.outer, c.seq, c.heads, c.headDim, c.rotaryDim, c.base, c.offset, p.baseAddress!, c.interleaved,
        c.inverse)
    }
  } else {
    call(x, &y, c.outer, c.seq, c.heads, c.headDim, c.rotaryDim, c.base, c.offset, nil, c.interleaved, c.inverse)
  }
  return y
}

private func maxDifference(_ a: [Float], _ b: [Float]) -> Float {
  zip(a, b).reduce(0) { max($0, abs($1.0 - $1.1)) }
}

@Suite struct RotaryTests {
  private static func configs() -> [Config] {
    var all = [Config]()
    for (headDim, rotaryDim) in [(2, 2), (8, 8), (34, 34), (64, 64), (100, 100), (64, 32), (100, 34), (7, 0)] {
      for interleaved in [false, true] {
        for inverse in [false, true] {
          var c = Config(headDim: headDim, rotaryDim: rotaryDim, interleaved: interleaved, inverse: inverse)
          c.outer = 2
          c.seq = 17
          c.heads = 3
          all.append(c)
          c.offset = 100
          c.seq = 1
          all.append(c)
          c.seq = 7
          c.positions = [0, 5, 3, 1000, 7, 7, 2]
          all.append(c)
        }
      }
    }
    return all
  }

  @Test func fastMatchesReference() {
    var rng = SeededRandom(state: 21)
    for c in Self.configs() {
      let x = rng.floats(c.count)
      let d = maxDifference(rotate(x, c), rotate(x, c, reference: true))
      #expect(d <= 1e-6, "\(c): difference \(d)")
    }
  }

  @Test func inPlaceMatchesOutOfPlace() {
    var rng = SeededRandom(state: 22)
    for c in Self.configs() {
      let x = rng.floats(c.count)
      var y = x
      y.withUnsafeMutableBufferPointer { y in
        let p = y.baseAddress!
        Rotary.apply(
          p, p, outer: c.outer, seq: c.seq, heads: c.heads, headDim: c.headDim, rotaryDim: c.rotaryDim,
          base: c.base, positionOffset: c.offset, positions: nil, interleaved: c.interleaved, inverse: c.inverse)
      }
      var c2 = c
      c2.positions = nil
      #expect(y == rotate(x, c2), "\(c)")
    }
  }

  @Test func inverseUndoesRotationAndIsTheAdjoint() {
    var rng = SeededRandom(state: 23)
    for c in Self.configs() where !c.inverse {
      let x = rng.floats(c.count)
      let g = rng.floats(c.count)
      var back = c
      back.inverse = true
      let y = rotate(x, c)
      #expect(maxDifference(rotate(y, back), x) <= 1e-5, "\(c)")
      // <R x, g> == <x, R^T g>: the inverse rotation is the backward pass.
      let lhs = zip(y, g).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      let rhs = zip(x, rotate(g, back)).reduce(0.0) { $0 + Double($1.0) * Double($1.1) }
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "\(c): \(lhs) vs \(rhs)")
    }
  }

  @Test func positionZeroAndPassThroughDimensionsAreUnchanged() {
    var rng = SeededRandom(state: 24)
    let c = Config(seq: 1, heads: 2, headDim: 10, rotaryDim: 6)
    let x = rng.floats(c.count)
    #expect(rotate(x, c) == x)
    var later = c
    later.offset = 9
    let y = rotate(x, later)
    for h in 0..<2 {
      #expect(y[(h * 10 + 6)..<(h * 10 + 10)] == x[(h * 10 + 6)..<(h * 10 + 10)])
    }
  }

  @Test func knownAngles() {
    // headDim 4, base 10000: inv_freq = [1, 0.01]; position 3 gives angles 3 and 0.03.
    let x: [Float] = [1, 2, 3, 4]
    for interleaved in [false, true] {
      let c = Config(headDim: 4, rotaryDim: 4, offset: 3, interleaved: interleaved)
      let y = rotate(x, c)
      let pairs = interleaved ? [(0, 1, 3.0), (2, 3, 0.03)] : [(0, 2, 3.0), (1, 3, 0.03)]
      for (a, b, angle) in pairs {
        let x1 = Double(x[a])
        let x2 = Double(x[b])
        #expect(abs(Double(y[a]) - (x1 * cos(angle) - x2 * sin(angle))) < 1e-6)
        #expect(abs(Double(y[b]) - (x2 * cos(angle) + x1 * sin(angle))) < 1e-6)
      }
    }
  }

  @Test func interleavedIsAPermutationOfRotateHalf() {
    var rng = SeededRandom(state: 25)
    let (d, half) = (16, 8)
    let x = rng.floats(5 * d)
    // Move pair (2i, 2i+1) to (i, i + half).
    var permuted = x
    for r in 0..<5 {
      for i in 0..<half {
        permuted[r * d + i] = x[r * d + 2 * i]
        permuted[r * d + half + i] = x[r * d + 2 * i + 1]
      }
    }
    let a = rotate(x, Config(seq: 5, headDim: d, rotaryDim: d, offset: 11, interleaved: true))
    let b = rotate(permuted, Config(seq: 5, headDim: d, rotaryDim: d, offset: 11, interleaved: false))
    for r in 0..<5 {
      for i in 0..<half {
        #expect(a[r * d + 2 * i] == b[r * d + i])
        #expect(a[r * d + 2 * i + 1] == b[r * d + half + i])
      }
    }
  }

  @Test func explicitPositionsMatchOffsetsAndUncachedPositions() {
    var rng = SeededRandom(state: 26)
    var c = Config(outer: 2, seq: 9, heads: 2, headDim: 32, rotaryDim: 32, offset: 40)
    let x = rng.floats(c.count)
    let viaOffset = rotate(x, c)
    c.positions = (0..<9).map { Int32(40 + $0) }
    #expect(rotate(x, c) == viaOffset)
    // Negative and very large positions take the per-call table; they must still match the formula.
    c.positions = [-3, 0, 1, 2_000_000, 5, 6, 7, 8, 9]
    #expect(maxDifference(rotate(x, c), rotate(x, c, reference: true)) <= 1e-6)
  }

  @Test func concurrentCallsShareTheCacheSafely() {
    var rng = SeededRandom(state: 27)
    let x = rng.floats(4 * 64)
    let failures = UnsafeMutablePointer<Int>.allocate(capacity: 16)
    failures.initialize(repeating: 0, count: 16)
    defer { failures.deallocate() }
    nonisolated(unsafe) let f = failures
    DispatchQueue.concurrentPerform(iterations: 16) { k in
      // Growing offsets force the cache to rebuild while other threads read it.
      let c = Config(seq: 4, headDim: 64, rotaryDim: 64, base: 500_000, offset: k * 3000)
      if rotate(x, c) != rotate(x, c, reference: true) { f[k] += 1 }
    }
    #expect((0..<16).allSatisfy { failures[$0] == 0 })
  }
}

@Suite struct RotaryTableTests {
  /// A decoding step past the end of the cached angle table rotates with angles it computes itself (the
  /// table only grows for calls of many positions); both must give the same bits for the same position.
  @Test func decodingPastTheCachedTableMatchesAGrownTable() {
    var rng = SeededRandom(state: 31)
    // A base no other test uses, so this test controls how far its table reaches.
    let long = Config(seq: 300, heads: 2, headDim: 16, rotaryDim: 16, base: 12_345)
    var step = long
    step.seq = 3
    step.offset = 297
    let x = rng.floats(long.count)
    let tail = Array(x[(297 * 2 * 16)...])
    let beforeGrowth = rotate(tail, step)  // the cache has no table for this base yet
    let grown = rotate(x, long)  // 300 positions: builds the cached table
    let afterGrowth = rotate(tail, step)
    #expect(beforeGrowth == Array(grown[(297 * 2 * 16)...]))
    #expect(afterGrowth == beforeGrowth)
  }
}

import Kernels
import Testing

/// Uniform floats in [-1, 1) from a fixed seed.
private func randomFloats(_ count: Int, seed: UInt64) -> [Float] {
  var rng = RandomGenerator(seed: seed)
  var a = [Float](repeating: 0, count: count)
  a.withUnsafeMutableBufferPointer { rng.fillUniform($0.baseAddress!, count: count, low: -1, high: 1) }
  return a
}

/// Uniform indices in 0..<bound from a fixed seed.
private func randomIndices(_ count: Int, bound: Int, seed: UInt64) -> [Int64] {
  var rng = RandomGenerator(seed: seed)
  return (0..<count).map { _ in Int64(rng.next() % UInt64(bound)) }
}

private func maxError(_ a: [Float], _ b: [Float]) -> Float {
  precondition(a.count == b.count)
  var e: Float = 0
  for i in 0..<a.count { e = max(e, abs(a[i] - b[i]) / (1 + abs(b[i]))) }
  return e
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
  var s = 0.0
  for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
  return s
}

/// Runs a kernel on a copy of `start` and returns the copy and the kernel's result.
private func apply(_ start: [Float], _ body: (UnsafeMutablePointer<Float>) -> Bool) -> ([Float], Bool) {
  var y = start
  let ok = y.withUnsafeMutableBufferPointer { body($0.baseAddress!) }
  return (y, ok)
}

/// (outer, axisSize, indexCount, inner) with awkward sizes; the last ones are big enough to run in parallel.
private let shapes: [(outer: Int, axis: Int, count: Int, inner: Int)] = [
  (1, 1, 1, 1), (1, 7, 15, 1), (3, 17, 5, 7), (2, 5, 33, 17), (7, 100, 3, 1), (1, 33, 100, 300),
  (40, 50, 60, 16),
]

@Suite struct IndexingTests {
  @Test func gatherAndScatterAddMatchReferenceAndAreAdjoint() {
    for (n, s) in shapes.enumerated() {
      let x = randomFloats(s.outer * s.axis * s.inner, seed: UInt64(n))
      let index = randomIndices(s.outer * s.count * s.inner, bound: s.axis, seed: 10 + UInt64(n))
      let outCount = s.outer * s.count * s.inner
      let (fast, ok) = apply([Float](repeating: 0, count: outCount)) {
        Indexing.gather(x, index: index, $0, outer: s.outer, axisSize: s.axis, indexCount: s.count, inner: s.inner)
      }
      let (slow, okRef) = apply([Float](repeating: 0, count: outCount)) {
        Indexing.gatherReference(
          x, index: index, $0, outer: s.outer, axisSize: s.axis, indexCount: s.count, inner: s.inner)
      }
      #expect(ok && okRef)
      #expect(firstMismatch(fast, slow) == nil, "shape \(n) gather")

      let dy = randomFloats(outCount, seed: 20 + UInt64(n))
      let start = randomFloats(x.count, seed: 30 + UInt64(n))
      let (scattered, ok2) = apply(start) {
        Indexing.scatterAdd(
          dy, index: index, into: $0, outer: s.outer, axisSize: s.axis, indexCount: s.count, inner: s.inner)
      }
      let (scatteredRef, ok3) = apply(start) {
        Indexing.scatterAddReference(
          dy, index: index, into: $0, outer: s.outer, axisSize: s.axis, indexCount: s.count, inner: s.inner)
      }
      #expect(ok2 && ok3)
      #expect(maxError(scattered, scatteredRef) < 1e-6, "shape \(n) scatterAdd")

      let (aty, _) = apply([Float](repeating: 0, count: x.count)) {
        Indexing.scatterAdd(
          dy, index: index, into: $0, outer: s.outer, axisSize: s.axis, indexCount: s.count, inner: s.inner)
      }
      let lhs = dot(fast, dy)
      let rhs = dot(x, aty)
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "shape \(n) adjoint \(lhs) vs \(rhs)")
    }
  }

  @Test func outOfRangeIndicesAreRejectedWithoutWriting() {
    let x = randomFloats(2 * 5 * 3, seed: 1)
    for bad: Int64 in [-1, 5, .max, .min] {
      var index = randomIndices(2 * 4 * 3, bound: 5, seed: 2)
      index[17] = bad
      let untouched = [Float](repeating: 7, count: 2 * 5 * 3)
      let (y, ok) = apply(untouched) {
        Indexing.scatterAdd(x, index: index, into: $0, outer: 2, axisSize: 5, indexCount: 4, inner: 3)
      }
      #expect(!ok && y == untouched)
      let (_, okGather) = apply([Float](repeating: 0, count: 24)) {
        Indexing.gather(x, index: index, $0, outer: 2, axisSize: 5, indexCount: 4, inner: 3)
      }
      #expect(!okGather)
      let list: [Int64] = [0, 4, bad]
      let (selected, okSelect) = apply([Float](repeating: 7, count: 2 * 3 * 3)) {
        Indexing.indexSelect(x, index: list, count: 3, $0, outer: 2, axisSize: 5, inner: 3)
      }
      #expect(!okSelect && selected.allSatisfy { $0 == 7 })
      let (added, okAdd) = apply(untouched) {
        Indexing.indexAdd(x, index: list, count: 3, into: $0, outer: 2, axisSize: 5, inner: 3)
      }
      #expect(!okAdd && added == untouched)
      let (hot, okHot) = apply([Float](repeating: 7, count: 15)) {
        Indexing.oneHot(list, count: 3, classes: 5, $0)
      }
      #expect(!okHot && hot.allSatisfy { $0 == 7 })
    }
  }

  @Test func indexSelectAndIndexAddMatchReferenceAndAreAdjoint() {
    for (n, s) in shapes.enumerated() {
      let x = randomFloats(s.outer * s.axis * s.inner, seed: UInt64(n))
      // Few distinct indices, so duplicates are common.
      let index = randomIndices(s.count, bound: min(s.axis, 3), seed: 40 + UInt64(n))
      let outCount = s.outer * s.count * s.inner
      let (fast, ok) = apply([Float](repeating: 0, count: outCount)) {
        Indexing.indexSelect(x, index: index, count: s.count, $0, outer: s.outer, axisSize: s.axis, inner: s.inner)
      }
      let (slow, okRef) = apply([Float](repeating: 0, count: outCount)) {
        Indexing.indexSelectReference(
          x, index: index, count: s.count, $0, outer: s.outer, axisSize: s.axis, inner: s.inner)
      }
      #expect(ok && okRef)
      #expect(firstMismatch(fast, slow) == nil, "shape \(n) indexSelect")

      let dy = randomFloats(outCount, seed: 50 + UInt64(n))
      let start = randomFloats(x.count, seed: 60 + UInt64(n))
      let (added, ok2) = apply(start) {
        Indexing.indexAdd(dy, index: index, count: s.count, into: $0, outer: s.outer, axisSize: s.axis, inner: s.inner)
      }
      let (addedRef, ok3) = apply(start) {
        Indexing.indexAddReference(
          dy, index: index, count: s.count, into: $0, outer: s.outer, axisSize: s.axis, inner: s.inner)
      }
      #expect(ok2 && ok3)
      #expect(maxError(added, addedRef) < 1e-6, "shape \(n) indexAdd")

      let (aty, _) = apply([Float](repeating: 0, count: x.count)) {
        Indexing.indexAdd(dy, index: index, count: s.count, into: $0, outer: s.outer, axisSize: s.axis, inner: s.inner)
      }
      let lhs = dot(fast, dy)
      let rhs = dot(x, aty)
      #expect(abs(lhs - rhs) <= 1e-5 * (1 + abs(lhs)), "shape \(n) adjoint \(lhs) vs \(rhs)")
    }
  }

  @Test func cumsumMatchesReferenceInPlaceAndIsAdjoint() {
    for (n, s) in shapes.enumerated() {
      let count = s.outer * s.axis * s.inner
      let x = randomFloats(count, seed: UInt64(n))
      for reverse in [false, true] {
        let (fast, _) = apply([Float](repeating: 0, count: count)) {
          Indexing.cumsum(x, $0, outer: s.outer, axisSize: s.axis, inner: s.inner, reverse: reverse)
          return true
        }
        let (slow, _) = apply([Float](repeating: 0, count: count)) {
          Indexing.cumsumReference(x, $0, outer: s.outer, axisSize: s.axis, inner: s.inner, reverse: reverse)
          return true
        }
        #expect(maxError(fast, slow) < 1e-5, "shape \(n) reverse \(reverse)")
        let (inPlace, _) = apply(x) {
          Indexing.cumsum($0, $0, outer: s.outer, axisSize: s.axis, inner: s.inner, reverse: reverse)
          return true
        }
        #expect(firstMismatch(inPlace, fast) == nil, "shape \(n) in place")
      }
      // The reverse cumsum is the adjoint of the forward one.
      let y = randomFloats(count, seed: 70 + UInt64(n))
      let (ax, _) = apply(x) {
        Indexing.cumsum(x, $0, outer: s.outer, axisSize: s.axis, inner: s.inner, reverse: false)
        return true
      }
      let (aty, _) = apply(y) {
        Indexing.cumsum(y, $0, outer: s.outer, axisSize: s.axis, inner: s.inner, reverse: true)
        return true
      }
      let lhs = dot(ax, y)
      let rhs = dot(x, aty)
      #expect(abs(lhs - rhs) <= 1e-4 * (1 + abs(lhs)), "shape \(n) adjoint \(lhs) vs \(rhs)")
    }
  }

  @Test func oneHotMatchesReference() {
    for (count, classes) in [(1, 1), (7, 3), (17, 33), (100, 1000)] {
      let index = randomIndices(count, bound: classes, seed: UInt64(count))
      let (fast, ok) = apply([Float](repeating: .nan, count: count * classes)) {
        Indexing.oneHot(index, count: count, classes: classes, $0)
      }
      let (slow, okRef) = apply([Float](repeating: .nan, count: count * classes)) {
        Indexing.oneHotReference(index, count: count, classes: classes, $0)
      }
      #expect(ok && okRef && fast == slow)
      #expect(fast.reduce(0, +) == Float(count))
    }
  }
}

/// The first index where the arrays differ (or the shorter count), nil if they are equal.
private func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
  if a.count != b.count { return min(a.count, b.count) }
  return a.indices.first { a[$0] != b[$0] }
}

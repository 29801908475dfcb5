import Kernels
import Testing

/// Floats 0, 1, 2, … so that every element is distinguishable.
private func iota(_ count: Int) -> [Float] { (0..<count).map { Float($0) } }

private func contiguousStrides(_ shape: [Int]) -> [Int] {
  var strides = [Int](repeating: 1, count: shape.count)
  for k in stride(from: shape.count - 2, through: 0, by: -1) { strides[k] = strides[k + 1] * shape[k + 1] }
  return strides
}

private func dot(_ a: [Float], _ b: [Float]) -> Double {
  var s = 0.0
  for i in 0..<a.count { s += Double(a[i]) * Double(b[i]) }
  return s
}

/// A view: source element count, view shape and strides.
private struct View {
  var sourceCount: Int
  var shape: [Int]
  var strides: [Int]

  /// `base` (contiguous) with its dimensions reordered by `permutation`.
  static func permuted(_ base: [Int], _ permutation: [Int]) -> View {
    let strides = contiguousStrides(base)
    return View(
      sourceCount: base.reduce(1, *), shape: permutation.map { base[$0] }, strides: permutation.map { strides[$0] })
  }
}

private let views: [View] = [
  View(sourceCount: 1, shape: [], strides: []),
  View(sourceCount: 5, shape: [0, 3], strides: [3, 1]),
  .permuted([1], [0]),
  .permuted([17], [0]),
  .permuted([7, 1], [1, 0]),
  .permuted([1, 7], [1, 0]),
  .permuted([17, 33], [1, 0]),
  .permuted([100, 15], [1, 0]),
  .permuted([257, 130], [1, 0]),
  .permuted([3, 17, 33], [0, 2, 1]),
  .permuted([3, 17, 33], [2, 1, 0]),
  .permuted([3, 17, 33], [1, 0, 2]),
  .permuted([2, 7, 3, 16], [0, 2, 1, 3]),
  .permuted([2, 15, 4, 33], [0, 2, 3, 1]),
  .permuted([5, 3, 4, 7, 2], [4, 1, 3, 0, 2]),
  .permuted([64, 100, 33], [2, 0, 1]),
  // Broadcasts (stride 0) and strided slices.
  View(sourceCount: 17, shape: [15, 17], strides: [0, 1]),
  View(sourceCount: 15, shape: [15, 17], strides: [1, 0]),
  View(sourceCount: 1, shape: [7, 33], strides: [0, 0]),
  View(sourceCount: 300, shape: [10, 7], strides: [30, 2]),
  View(sourceCount: 300, shape: [7, 10], strides: [2, 30]),
  View(sourceCount: 3 * 40 * 50, shape: [3, 17, 33], strides: [2000, 50, 1]),
  View(sourceCount: 100 * 100, shape: [33, 100], strides: [1, 100]),
]

@Suite struct LayoutTests {
  @Test func copyMatchesReference() {
    for (n, v) in views.enumerated() {
      let src = iota(v.sourceCount)
      let count = v.shape.reduce(1, *)
      var fast = [Float](repeating: -1, count: count)
      var slow = [Float](repeating: -2, count: count)
      fast.withUnsafeMutableBufferPointer { Layout.copy(src, shape: v.shape, strides: v.strides, $0.baseAddress!) }
      slow.withUnsafeMutableBufferPointer {
        Layout.copyReference(src, shape: v.shape, strides: v.strides, $0.baseAddress!)
      }
      #expect(firstMismatch(fast, slow) == nil, "view \(n): \(v.shape) \(v.strides)")
    }
  }

  @Test func copyBytesMatchesFloatCopyForEveryElementSize() {
    for (n, v) in views.enumerated() {
      let count = v.shape.reduce(1, *)
      for size in [1, 2, 3, 4, 8, 12] {
        // Element e of the source has bytes (e * 7 + b) & 0xFF, b = 0..<size.
        let src = (0..<(v.sourceCount * size)).map { UInt8(truncatingIfNeeded: ($0 / size) * 7 + $0 % size) }
        var dst = [UInt8](repeating: 0xEE, count: count * size)
        src.withUnsafeBytes { s in
          dst.withUnsafeMutableBytes { d in
            Layout.copyBytes(s.baseAddress!, elementSize: size, shape: v.shape, strides: v.strides, d.baseAddress!)
          }
        }
        // The float reference copy of the element numbers says which element lands where.
        var order = [Float](repeating: 0, count: count)
        order.withUnsafeMutableBufferPointer {
          Layout.copyReference(iota(v.sourceCount), shape: v.shape, strides: v.strides, $0.baseAddress!)
        }
        let expected = order.flatMap { e in (0..<size).map { src[Int(e) * size + $0] } }
        #expect(firstMismatch(dst, expected) == nil, "view \(n), element size \(size)")
      }
    }
  }

  @Test func padAndSliceMatchReferenceAndAreAdjoint() {
    for (outer, axis, inner, before, after) in [
      (1, 1, 1, 0, 0), (3, 7, 1, 2, 5), (2, 15, 17, 0, 3), (5, 33, 7, 4, 0), (100, 17, 16, 1, 1),
    ] {
      let padded = before + axis + after
      let x = iota(outer * axis * inner)
      var fast = [Float](repeating: .nan, count: outer * padded * inner)
      var slow = fast
      fast.withUnsafeMutableBufferPointer {
        Layout.pad(
          x, $0.baseAddress!, outer: outer, axisSize: axis, inner: inner, before: before, after: after, value: -3)
      }
      slow.withUnsafeMutableBufferPointer {
        Layout.padReference(
          x, $0.baseAddress!, outer: outer, axisSize: axis, inner: inner, before: before, after: after, value: -3)
      }
      #expect(fast == slow)

      let y = (0..<fast.count).map { Float(($0 * 37) % 11) - 5 }
      var sliced = [Float](repeating: .nan, count: x.count)
      var slicedRef = sliced
      sliced.withUnsafeMutableBufferPointer {
        Layout.slice(y, $0.baseAddress!, outer: outer, axisSize: padded, inner: inner, start: before, count: axis)
      }
      slicedRef.withUnsafeMutableBufferPointer {
        Layout.sliceReference(
          y, $0.baseAddress!, outer: outer, axisSize: padded, inner: inner, start: before, count: axis)
      }
      #expect(sliced == slicedRef)

      // With zero padding, slice is the adjoint of pad.
      var zeroPadded = [Float](repeating: 0, count: fast.count)
      zeroPadded.withUnsafeMutableBufferPointer {
        Layout.pad(
          x, $0.baseAddress!, outer: outer, axisSize: axis, inner: inner, before: before, after: after, value: 0)
      }
      #expect(dot(zeroPadded, y) == dot(x, sliced))
    }
  }

  @Test func concatMatchesReferenceAndSplitInvertsIt() {
    for (outer, sizes, inner) in [(1, [1], 1), (3, [2, 7, 1], 5), (17, [15, 1, 33], 3), (200, [16, 17], 16)] {
      let parts = sizes.enumerated().map { k, a in (0..<(outer * a * inner)).map { Float(k * 100_000 + $0) } }
      let total = sizes.reduce(0, +)
      var fast = [Float](repeating: .nan, count: outer * total * inner)
      var slow = fast
      withPointers(parts) { pointers in
        fast.withUnsafeMutableBufferPointer {
          Layout.concat(pointers, axisSizes: sizes, $0.baseAddress!, outer: outer, inner: inner)
        }
        slow.withUnsafeMutableBufferPointer {
          Layout.concatReference(pointers, axisSizes: sizes, $0.baseAddress!, outer: outer, inner: inner)
        }
      }
      #expect(fast == slow)

      let buffers = parts.map { UnsafeMutablePointer<Float>.allocate(capacity: max(1, $0.count)) }
      defer { buffers.forEach { $0.deallocate() } }
      Layout.split(fast, axisSizes: sizes, into: buffers, outer: outer, inner: inner)
      let back = parts.indices.map { Array(UnsafeBufferPointer(start: buffers[$0], count: parts[$0].count)) }
      #expect(back == parts)
    }
  }
}

/// Calls `body` with stable pointers to the storage of each array.
private func withPointers(_ arrays: [[Float]], _ body: ([UnsafePointer<Float>]) -> Void) {
  let copies = arrays.map { a -> UnsafeMutablePointer<Float> in
    let p = UnsafeMutablePointer<Float>.allocate(capacity: max(1, a.count))
    p.initialize(from: a, count: a.count)
    return p
  }
  defer { copies.forEach { $0.deallocate() } }
  body(copies.map { UnsafePointer($0) })
}

/// The first index where the arrays differ (or the shorter count), nil if they are equal.
private func firstMismatch<T: Equatable>(_ a: [T], _ b: [T]) -> Int? {
  if a.count != b.count { return min(a.count, b.count) }
  return a.indices.first { a[$0] != b[$0] }
}

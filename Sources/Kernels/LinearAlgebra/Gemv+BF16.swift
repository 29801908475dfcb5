import CPrefetch

extension Gemv {
  /// Eight float lanes: one AVX2 register. The bfloat16 tiles keep eight to ten vectors of these live, which
  /// fits sixteen registers (SIMD16 accumulators spill on AVX2).
  typealias V8 = SIMD8<Float>

  /// Copies x [m, k] (row stride `ldx`) into `out` [m, k] in the order
  /// ``bfloat16Columns(_:m:k:x:w:ldw:y:ldy:accumulate:)`` reads it: within each whole 16 elements, the 8 at
  /// even offsets and then the 8 at odd offsets; the last k % 16 elements as they are.
  static func splitPairs(m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, into out: UnsafeMutablePointer<Float>) {
    for i in 0..<m {
      let (source, target) = (x + i * ldx, out + i * k)
      var p = 0
      while p + 16 <= k {
        for t in 0..<8 {
          target[p + t] = source[p + 2 * t]
          target[p + 8 + t] = source[p + 2 * t + 1]
        }
        p += 16
      }
      while p < k {
        target[p] = source[p]
        p += 1
      }
    }
  }

  /// Sixteen bfloat16 values at `w` widened to float32: (elements at even offsets, elements at odd offsets).
  /// One 32-bit lane holds a pair (the even element in its low half, little-endian), so shifting the low half
  /// up and masking the high half widen both without a 16-to-32-bit conversion, which Swift lowers to an
  /// out-of-line call (toolchain-notes.md).
  @inline(__always) static func widenPairs(_ w: UnsafePointer<UInt16>) -> (even: V8, odd: V8) {
    let pairs = UnsafeRawPointer(w).loadUnaligned(as: SIMD8<UInt32>.self)
    return (unsafeBitCast(pairs &<< 16, to: V8.self), unsafeBitCast(pairs & 0xFFFF_0000, to: V8.self))
  }

  /// One bfloat16 value widened to float32.
  @inline(__always) static func widen(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

  @inline(__always) static func load8(_ p: UnsafePointer<Float>) -> V8 {
    UnsafeRawPointer(p).loadUnaligned(as: V8.self)
  }

  /// Output columns `columns` of y [m, n] = x · wᵀ for bfloat16 w [n, k] (row stride `ldw`), x split by
  /// ``splitPairs(m:k:x:ldx:into:)`` (row stride k); added to y when `accumulate` is set.
  @inline(never)
  static func bfloat16Columns(
    _ columns: Range<Int>, m: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, ldw: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
  ) {
    let beta: Float = accumulate ? 1 : 0
    var j = columns.lowerBound
    while j + 4 <= columns.upperBound {
      // Four weight rows against two rows of x at a time (one for an odd last row): each weight vector is
      // widened once per tile, and the tile comes from L1 for the second and later pairs.
      var i = 0
      while i + 2 <= m {
        bfloat16TwoRows(k: k, x: x + i * k, w: w + j * ldw, ldw: ldw, beta: beta, y: y + i * ldy + j, ldy: ldy)
        i += 2
      }
      if i < m { bfloat16OneRow(k: k, x: x + i * k, w: w + j * ldw, ldw: ldw, beta: beta, y: y + i * ldy + j) }
      j += 4
    }
    let vectorEnd = k & ~15
    while j < columns.upperBound {
      let wj = w + j * ldw
      for i in 0..<m {
        let xi = x + i * k
        var (a, b) = (V8(), V8())
        var p = 0
        while p < vectorEnd {
          let (even, odd) = widenPairs(wj + p)
          a.addProduct(load8(xi + p), even)
          b.addProduct(load8(xi + p + 8), odd)
          p += 16
        }
        var s = (a + b).sum()
        while p < k {
          s += xi[p] * widen(wj[p])
          p += 1
        }
        store(s, alpha: 1, beta: beta, to: y + i * ldy + j)
      }
      j += 1
    }
  }

  /// One row of split x against four bfloat16 weight rows: y[c] = Σₚ x[p] · w[c, p] + beta · y[c]. Even and
  /// odd lanes keep separate sums, so eight independent FMA chains hide the FMA latency.
  @inline(__always)
  static func bfloat16OneRow(
    k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, ldw: Int, beta: Float, y: UnsafeMutablePointer<Float>
  ) {
    let vectorEnd = k & ~15
    let (w0, w1, w2, w3) = (w, w + ldw, w + 2 * ldw, w + 3 * ldw)
    var (e0, e1, e2, e3) = (V8(), V8(), V8(), V8())
    var (o0, o1, o2, o3) = (V8(), V8(), V8(), V8())
    let ahead = prefetchRows * ldw
    var p = 0
    while p < vectorEnd {
      if p & 31 == 0 {  // one prefetch per 64-byte line of each row
        frontier_prefetch(w0 + p + ahead)
        frontier_prefetch(w1 + p + ahead)
        frontier_prefetch(w2 + p + ahead)
        frontier_prefetch(w3 + p + ahead)
      }
      let (u, v) = (load8(x + p), load8(x + p + 8))
      let (a0, b0) = widenPairs(w0 + p)
      e0.addProduct(u, a0)
      o0.addProduct(v, b0)
      let (a1, b1) = widenPairs(w1 + p)
      e1.addProduct(u, a1)
      o1.addProduct(v, b1)
      let (a2, b2) = widenPairs(w2 + p)
      e2.addProduct(u, a2)
      o2.addProduct(v, b2)
      let (a3, b3) = widenPairs(w3 + p)
      e3.addProduct(u, a3)
      o3.addProduct(v, b3)
      p += 16
    }
    var sums = totals8(e0 + o0, e1 + o1, e2 + o2, e3 + o3)
    while p < k {
      sums.addProduct(SIMD4(repeating: x[p]), SIMD4(widen(w0[p]), widen(w1[p]), widen(w2[p]), widen(w3[p])))
      p += 1
    }
    store4(sums, alpha: 1, beta: beta, to: y)
  }

  /// Two rows of split x (row stride k) against four bfloat16 weight rows: y[r, c] = Σₚ x[r, p] · w[c, p] +
  /// beta · y[r, c]. Eight sums (each taking the even and the odd products) are eight independent chains.
  @inline(__always)
  static func bfloat16TwoRows(
    k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, ldw: Int, beta: Float, y: UnsafeMutablePointer<Float>,
    ldy: Int
  ) {
    let vectorEnd = k & ~15
    let (w0, w1, w2, w3) = (w, w + ldw, w + 2 * ldw, w + 3 * ldw)
    let (x0, x1) = (x, x + k)
    var (a00, a01, a02, a03) = (V8(), V8(), V8(), V8())
    var (a10, a11, a12, a13) = (V8(), V8(), V8(), V8())
    let ahead = prefetchRows * ldw
    var p = 0
    while p < vectorEnd {
      if p & 31 == 0 {
        frontier_prefetch(w0 + p + ahead)
        frontier_prefetch(w1 + p + ahead)
        frontier_prefetch(w2 + p + ahead)
        frontier_prefetch(w3 + p + ahead)
      }
      let (u0, v0, u1, v1) = (load8(x0 + p), load8(x0 + p + 8), load8(x1 + p), load8(x1 + p + 8))
      let (c0, d0) = widenPairs(w0 + p)
      a00.addProduct(u0, c0)
      a10.addProduct(u1, c0)
      a00.addProduct(v0, d0)
      a10.addProduct(v1, d0)
      let (c1, d1) = widenPairs(w1 + p)
      a01.addProduct(u0, c1)
      a11.addProduct(u1, c1)
      a01.addProduct(v0, d1)
      a11.addProduct(v1, d1)
      let (c2, d2) = widenPairs(w2 + p)
      a02.addProduct(u0, c2)
      a12.addProduct(u1, c2)
      a02.addProduct(v0, d2)
      a12.addProduct(v1, d2)
      let (c3, d3) = widenPairs(w3 + p)
      a03.addProduct(u0, c3)
      a13.addProduct(u1, c3)
      a03.addProduct(v0, d3)
      a13.addProduct(v1, d3)
      p += 16
    }
    var sums = (totals8(a00, a01, a02, a03), totals8(a10, a11, a12, a13))
    while p < k {
      let column = SIMD4(widen(w0[p]), widen(w1[p]), widen(w2[p]), widen(w3[p]))
      sums.0.addProduct(SIMD4(repeating: x0[p]), column)
      sums.1.addProduct(SIMD4(repeating: x1[p]), column)
      p += 1
    }
    store4(sums.0, alpha: 1, beta: beta, to: y)
    store4(sums.1, alpha: 1, beta: beta, to: y + ldy)
  }

  /// The lane sums of four eight-lane vectors (see `frontier_sums_of_four8`).
  @inline(__always) static func totals8(_ a: V8, _ b: V8, _ c: V8, _ d: V8) -> SIMD4<Float> {
    frontier_sums_of_four8(a, b, c, d)
  }
}

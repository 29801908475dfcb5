import CPrefetch

extension Gemv {
  /// Copies x [m, k] (row stride `ldx`) into `out` [m, k] in the order ``bfloat16Columns(_:m:k:x:w:ldw:y:ldy:accumulate:)``
  /// reads it: within each whole 32 elements, the 16 at even offsets and then the 16 at odd offsets; the
  /// last k % 32 elements as they are.
  static func splitPairs(m: Int, k: Int, x: UnsafePointer<Float>, ldx: Int, into out: UnsafeMutablePointer<Float>) {
    for i in 0..<m {
      let (source, target) = (x + i * ldx, out + i * k)
      var p = 0
      while p + 32 <= k {
        for t in 0..<16 {
          target[p + t] = source[p + 2 * t]
          target[p + 16 + t] = source[p + 2 * t + 1]
        }
        p += 32
      }
      while p < k {
        target[p] = source[p]
        p += 1
      }
    }
  }

  /// Thirty-two bfloat16 values at `w` widened to float32: (elements at even offsets, elements at odd
  /// offsets). One 32-bit lane holds a pair (the even element in its low half, little-endian), so shifting
  /// the low half up and masking the high half widen both without a 16-to-32-bit conversion, which Swift
  /// lowers to an out-of-line call (toolchain-notes.md).
  @inline(__always) static func widenPairs(_ w: UnsafePointer<UInt16>) -> (even: V, odd: V) {
    let pairs = UnsafeRawPointer(w).loadUnaligned(as: SIMD16<UInt32>.self)
    return (unsafeBitCast(pairs &<< 16, to: V.self), unsafeBitCast(pairs & 0xFFFF_0000, to: V.self))
  }

  /// One bfloat16 value widened to float32.
  @inline(__always) static func widen(_ bits: UInt16) -> Float { Float(bitPattern: UInt32(bits) << 16) }

  /// Output columns `columns` of y [m, n] = x · wᵀ for bfloat16 w [n, k] (row stride `ldw`), x split by
  /// ``splitPairs(m:k:x:ldx:into:)`` (row stride k); added to y when `accumulate` is set.
  static func bfloat16Columns(
    _ columns: Range<Int>, m: Int, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, ldw: Int,
    y: UnsafeMutablePointer<Float>, ldy: Int, accumulate: Bool
  ) {
    let beta: Float = accumulate ? 1 : 0
    var j = columns.lowerBound
    while j + 4 <= columns.upperBound {
      // Four weight rows against one or two rows of x at a time: each weight vector is widened once per tile.
      var i = 0
      while i < m {
        let (xi, yi) = (x + i * k, y + i * ldy + j)
        if m - i >= 2 {
          bfloat16Tile(TwoRows.self, k: k, x: xi, w: w + j * ldw, ldw: ldw, beta: beta, y: yi, ldy: ldy)
          i += 2
        } else {
          bfloat16Tile(OneRow.self, k: k, x: xi, w: w + j * ldw, ldw: ldw, beta: beta, y: yi, ldy: ldy)
          i += 1
        }
      }
      j += 4
    }
    let vectorEnd = k & ~31
    while j < columns.upperBound {
      let wj = w + j * ldw
      for i in 0..<m {
        let xi = x + i * k
        var a = V()
        var p = 0
        while p < vectorEnd {
          let (even, odd) = widenPairs(wj + p)
          a.addProduct(load(xi + p), even)
          a.addProduct(load(xi + p + 16), odd)
          p += 32
        }
        var s = a.sum()
        while p < k {
          s += xi[p] * widen(wj[p])
          p += 1
        }
        store(s, alpha: 1, beta: beta, to: y + i * ldy + j)
      }
      j += 1
    }
  }

  /// `Rows.count` (1 or 2) rows of split x against four bfloat16 weight rows:
  /// y[r, c] = Σₚ x[r, p] · w[c, p] + beta · y[r, c].
  @inline(__always)
  static func bfloat16Tile<Rows: TileRows>(
    _: Rows.Type, k: Int, x: UnsafePointer<Float>, w: UnsafePointer<UInt16>, ldw: Int, beta: Float,
    y: UnsafeMutablePointer<Float>, ldy: Int
  ) {
    let rows = Rows.count
    let vectorEnd = k & ~31
    let (w0, w1, w2, w3) = (w, w + ldw, w + 2 * ldw, w + 3 * ldw)
    let (x0, x1) = (x, x + k)
    var (a00, a01, a02, a03) = (V(), V(), V(), V())
    var (a10, a11, a12, a13) = (V(), V(), V(), V())
    let ahead = prefetchRows * ldw
    var p = 0
    while p < vectorEnd {
      frontier_prefetch(w0 + p + ahead)
      frontier_prefetch(w1 + p + ahead)
      frontier_prefetch(w2 + p + ahead)
      frontier_prefetch(w3 + p + ahead)
      let (e0, o0) = widenPairs(w0 + p)
      let (e1, o1) = widenPairs(w1 + p)
      let (e2, o2) = widenPairs(w2 + p)
      let (e3, o3) = widenPairs(w3 + p)
      let (u0, v0) = (load(x0 + p), load(x0 + p + 16))
      a00.addProduct(u0, e0)
      a01.addProduct(u0, e1)
      a02.addProduct(u0, e2)
      a03.addProduct(u0, e3)
      a00.addProduct(v0, o0)
      a01.addProduct(v0, o1)
      a02.addProduct(v0, o2)
      a03.addProduct(v0, o3)
      if rows > 1 {
        let (u1, v1) = (load(x1 + p), load(x1 + p + 16))
        a10.addProduct(u1, e0)
        a11.addProduct(u1, e1)
        a12.addProduct(u1, e2)
        a13.addProduct(u1, e3)
        a10.addProduct(v1, o0)
        a11.addProduct(v1, o1)
        a12.addProduct(v1, o2)
        a13.addProduct(v1, o3)
      }
      p += 32
    }
    var sums = (totals(a00, a01, a02, a03), rows > 1 ? totals(a10, a11, a12, a13) : SIMD4())
    while p < k {
      let column = SIMD4(widen(w0[p]), widen(w1[p]), widen(w2[p]), widen(w3[p]))
      sums.0.addProduct(SIMD4(repeating: x0[p]), column)
      if rows > 1 { sums.1.addProduct(SIMD4(repeating: x1[p]), column) }
      p += 1
    }
    store4(sums.0, alpha: 1, beta: beta, to: y)
    if rows > 1 { store4(sums.1, alpha: 1, beta: beta, to: y + ldy) }
  }
}

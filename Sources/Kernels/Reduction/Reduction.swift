/// Reductions over the middle axis of a contiguous [outer, reduce, inner] layout.
///
/// `inner == 1` (reducing rows) runs SIMD16 along each row, parallel over rows, and splits single long
/// rows across threads; `inner > 1` vectorises across `inner` in tiles of 512 columns, parallel over
/// (outer, tile) pairs. Sums accumulate in Float vectors over blocks and in Double across blocks.
///
/// NaN propagates through sum, max, min and logSumExp (as in PyTorch). An empty reduction (`reduce == 0`)
/// gives the identity: 0 for sum, -inf for max and logSumExp, +inf for min.
public enum Reduction {
  /// What to compute.
  public enum Kind: Sendable {
    /// Σ x
    case sum
    /// max x (NaN if any element is NaN)
    case max
    /// min x (NaN if any element is NaN)
    case min
    /// log Σ e^x, computed stably as m + log Σ e^(x - m)
    case logSumExp
  }

  typealias V = SIMD16<Float>

  /// Columns per tile when vectorising over `inner`.
  static let tile = 512
  /// Elements of work per parallel task.
  static let grain = 16_384

  // MARK: - reduce

  /// Reduces `x` ([outer, reduce, inner]) over its middle axis into `y` (outer*inner elements).
  public static func reduce(
    _ kind: Kind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, reduce: Int, inner: Int
  ) {
    precondition(outer >= 0 && reduce >= 0 && inner >= 0, "negative extent")
    let outputs = outer * inner
    guard outputs > 0 else { return }
    if reduce == 0 {
      Elementwise.fill(y, value: identity(kind), count: outputs)
      return
    }
    if inner == 1 {
      if outer < Parallel.threadCount && reduce >= 4 * grain {
        for row in 0..<outer { y[row] = reduceLongRow(kind, x + row * reduce, count: reduce) }
      } else {
        Parallel.forChunks(count: outer, grain: Swift.max(1, grain / reduce)) { rows in
          for row in rows {
            y[row] = RowKernels.partial(kind, x + row * reduce, reduce).finish(kind)
          }
        }
      }
      return
    }
    let tiles = (inner + tile - 1) / tile
    Parallel.forChunks(count: outer * tiles, grain: Swift.max(1, grain / (reduce * Swift.min(inner, tile)))) {
      tasks in
      for task in tasks {
        let o = task / tiles
        let j0 = (task % tiles) * tile
        let width = Swift.min(tile, inner - j0)
        ColumnKernels.reduce(
          kind, x + o * reduce * inner + j0, y + o * inner + j0, reduce: reduce, stride: inner, width: width)
      }
    }
  }

  /// The value of an empty reduction.
  static func identity(_ kind: Kind) -> Float {
    switch kind {
    case .sum: return 0
    case .max, .logSumExp: return -.infinity
    case .min: return .infinity
    }
  }

  /// One long row split across threads, partials combined.
  static func reduceLongRow(_ kind: Kind, _ x: UnsafePointer<Float>, count: Int) -> Float {
    let parts = Swift.min(Parallel.threadCount, Swift.max(1, count / grain))
    var partials = [RowKernels.Partial](repeating: RowKernels.Partial(m: 0, s: 0), count: parts)
    partials.withUnsafeMutableBufferPointer { buffer in
      let out = buffer.baseAddress!
      Parallel.forEach(count: parts) { t in
        let lo = count * t / parts
        let hi = count * (t + 1) / parts
        out[t] = RowKernels.partial(kind, x + lo, hi - lo)
      }
    }
    var total = partials[0]
    for p in partials.dropFirst() { total = total.combined(with: p, kind) }
    return total.finish(kind)
  }

  /// Scalar twin of ``reduce(_:_:_:outer:reduce:inner:)``: a plain loop per output in Double.
  public static func reduceReference(
    _ kind: Kind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, reduce: Int, inner: Int
  ) {
    for o in 0..<outer {
      for j in 0..<inner {
        let base = x + o * reduce * inner + j
        var result: Double
        switch kind {
        case .sum:
          result = 0
          for r in 0..<reduce { result += Double(base[r * inner]) }
        case .max, .min:
          result = kind == .max ? -.infinity : .infinity
          for r in 0..<reduce {
            let v = Double(base[r * inner])
            if v.isNaN || result.isNaN {
              result = .nan
            } else if kind == .max ? v > result : v < result {
              result = v
            }
          }
        case .logSumExp:
          var m = -Double.infinity
          for r in 0..<reduce {
            let v = Double(base[r * inner])
            if v.isNaN || m.isNaN { m = .nan } else if v > m { m = v }
          }
          if m.isNaN || m.isInfinite {
            result = m
          } else {
            var s = 0.0
            for r in 0..<reduce { s += libmExpDouble(Double(base[r * inner]) - m) }
            result = m + libmLogDouble(s)
          }
        }
        y[o * inner + j] = Float(result)
      }
    }
  }

  // MARK: - argmax

  /// Index of the max (or min when `minimum` is true) along the middle axis; the first index on ties.
  /// NaN counts as larger (or smaller) than everything, so the first NaN wins, as in PyTorch.
  public static func argmax(
    _ x: UnsafePointer<Float>, _ indices: UnsafeMutablePointer<Int64>, outer: Int, reduce: Int, inner: Int,
    minimum: Bool
  ) {
    precondition(reduce > 0 || outer * inner == 0, "argmax over an empty axis")
    let outputs = outer * inner
    guard outputs > 0 else { return }
    if reduce >= Int(Int32.max) {
      argmaxReference(x, indices, outer: outer, reduce: reduce, inner: inner, minimum: minimum)
      return
    }
    if inner == 1 {
      Parallel.forChunks(count: outer, grain: Swift.max(1, grain / reduce)) { rows in
        for row in rows {
          indices[row] = Int64(RowKernels.argBest(x + row * reduce, reduce, minimum: minimum))
        }
      }
      return
    }
    let tiles = (inner + tile - 1) / tile
    Parallel.forChunks(count: outer * tiles, grain: Swift.max(1, grain / (reduce * Swift.min(inner, tile)))) {
      tasks in
      for task in tasks {
        let o = task / tiles
        let j0 = (task % tiles) * tile
        ColumnKernels.argBest(
          x + o * reduce * inner + j0, indices + o * inner + j0, reduce: reduce, stride: inner,
          width: Swift.min(tile, inner - j0), minimum: minimum)
      }
    }
  }

  /// Scalar twin of ``argmax(_:_:outer:reduce:inner:minimum:)``.
  public static func argmaxReference(
    _ x: UnsafePointer<Float>, _ indices: UnsafeMutablePointer<Int64>, outer: Int, reduce: Int, inner: Int,
    minimum: Bool
  ) {
    for o in 0..<outer {
      for j in 0..<inner {
        let base = x + o * reduce * inner + j
        var best = base[0]
        var index = 0
        for r in 1..<Swift.max(reduce, 1) where !best.isNaN {
          let v = base[r * inner]
          if v.isNaN || (minimum ? v < best : v > best) {
            best = v
            index = r
          }
        }
        indices[o * inner + j] = Int64(index)
      }
    }
  }

  // MARK: - moments

  /// Mean and variance (divided by `reduce - correction`, clamped at 0 so that too few samples give NaN or
  /// inf as in PyTorch) along the middle axis, by the corrected two-pass algorithm.
  public static func moments(
    _ x: UnsafePointer<Float>, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
    outer: Int, reduce: Int, inner: Int, correction: Int
  ) {
    let outputs = outer * inner
    guard outputs > 0 else { return }
    let divisor = Double(Swift.max(0, reduce - correction))
    if inner == 1 {
      Parallel.forChunks(count: outer, grain: Swift.max(1, grain / Swift.max(reduce, 1))) { rows in
        for row in rows {
          let (m, v) = RowKernels.moments(x + row * reduce, reduce, divisor: divisor)
          mean[row] = m
          variance[row] = v
        }
      }
      return
    }
    let tiles = (inner + tile - 1) / tile
    let work = Swift.max(reduce, 1) * Swift.min(inner, tile)
    Parallel.forChunks(count: outer * tiles, grain: Swift.max(1, grain / work)) { tasks in
      for task in tasks {
        let o = task / tiles
        let j0 = (task % tiles) * tile
        ColumnKernels.moments(
          x + o * reduce * inner + j0, mean: mean + o * inner + j0, variance: variance + o * inner + j0,
          reduce: reduce, stride: inner, width: Swift.min(tile, inner - j0), divisor: divisor)
      }
    }
  }

  /// Scalar twin of ``moments(_:mean:variance:outer:reduce:inner:correction:)`` in Double, two-pass.
  public static func momentsReference(
    _ x: UnsafePointer<Float>, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
    outer: Int, reduce: Int, inner: Int, correction: Int
  ) {
    for o in 0..<outer {
      for j in 0..<inner {
        let base = x + o * reduce * inner + j
        var s = 0.0
        for r in 0..<reduce { s += Double(base[r * inner]) }
        let m = s / Double(reduce)
        var ss = 0.0
        for r in 0..<reduce {
          let d = Double(base[r * inner]) - m
          ss += d * d
        }
        mean[o * inner + j] = Float(m)
        variance[o * inner + j] = Float(ss / Double(Swift.max(0, reduce - correction)))
      }
    }
  }

  // MARK: - Whole-buffer sums

  /// Sum of all elements, accumulated in Float vectors over short blocks and in Double across blocks and
  /// threads.
  public static func sum(_ x: UnsafePointer<Float>, count: Int) -> Double {
    splitSum(count) { lo, hi in RowKernels.sum(x + lo, hi - lo) }
  }

  /// Scalar twin of ``sum(_:count:)`` in Double.
  public static func sumReference(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) }
    return s
  }

  /// Sum of squares of all elements (for global-norm gradient clipping).
  public static func sumOfSquares(_ x: UnsafePointer<Float>, count: Int) -> Double {
    splitSum(count) { lo, hi in RowKernels.dot(x + lo, x + lo, hi - lo) }
  }

  /// Scalar twin of ``sumOfSquares(_:count:)`` in Double.
  public static func sumOfSquaresReference(_ x: UnsafePointer<Float>, count: Int) -> Double {
    var s = 0.0
    for i in 0..<count { s += Double(x[i]) * Double(x[i]) }
    return s
  }

  /// Splits 0..<count across threads, sums `part(lo, hi)` in Double.
  static func splitSum(_ count: Int, _ part: (Int, Int) -> Double) -> Double {
    guard count > 0 else { return 0 }
    let parts = Swift.min(Parallel.threadCount, Swift.max(1, count / (4 * grain)))
    if parts == 1 { return part(0, count) }
    var partials = [Double](repeating: 0, count: parts)
    partials.withUnsafeMutableBufferPointer { buffer in
      let out = buffer.baseAddress!
      Parallel.forEach(count: parts) { t in
        out[t] = part(count * t / parts, count * (t + 1) / parts)
      }
    }
    return partials.reduce(0, +)
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// libm exp in Double (the reference twins' oracle).
func libmExpDouble(_ x: Double) -> Double { exp(x) }
/// libm log in Double.
func libmLogDouble(_ x: Double) -> Double { log(x) }

/// Loads sixteen floats from `p` (no alignment needed).
@inline(__always)
func loadVector(_ p: UnsafePointer<Float>) -> SIMD16<Float> {
  UnsafeRawPointer(p).loadUnaligned(as: SIMD16<Float>.self)
}

/// Stores sixteen floats at `p` (no alignment needed).
@inline(__always)
func storeVector(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>) {
  UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD16<Float>.self)
}

/// Loads `count` (< 16) floats from `p`, filling the other lanes with `pad`.
@inline(__always)
func loadPartial(_ p: UnsafePointer<Float>, _ count: Int, pad: Float) -> SIMD16<Float> {
  var v = SIMD16<Float>(repeating: pad)
  for j in 0..<count { v[j] = p[j] }
  return v
}

/// Stores the first `count` lanes of `v` at `p`.
@inline(__always)
func storePartial(_ v: SIMD16<Float>, _ p: UnsafeMutablePointer<Float>, _ count: Int) {
  for j in 0..<count { p[j] = v[j] }
}

/// Takes `v` into `m` where `v` is larger, or NaN (so NaN sticks).
@inline(__always)
func keepMax(_ m: inout SIMD16<Float>, _ v: SIMD16<Float>) {
  m.replace(with: v, where: (v .> m) .| (v .!= v))
}

/// Contiguous-row kernels shared by reductions and softmax.
enum RowKernels {
  typealias V = SIMD16<Float>

  /// Elements summed in Float vectors before the partial sum moves to Double.
  static let block = 1024

  /// A partial reduction: `m` for max/min (and the shift of logSumExp), `s` for sums.
  struct Partial {
    var m: Float
    var s: Double

    /// Merges two partials of the same kind.
    func combined(with other: Partial, _ kind: Reduction.Kind) -> Partial {
      switch kind {
      case .sum: return Partial(m: 0, s: s + other.s)
      case .max: return Partial(m: (m.isNaN || other.m.isNaN) ? .nan : Swift.max(m, other.m), s: 0)
      case .min: return Partial(m: (m.isNaN || other.m.isNaN) ? .nan : Swift.min(m, other.m), s: 0)
      case .logSumExp:
        if m.isNaN || other.m.isNaN { return Partial(m: .nan, s: 0) }
        let big = Swift.max(m, other.m)
        if !big.isFinite { return Partial(m: big, s: 0) }
        let a = m == -.infinity ? 0 : s * libmExpDouble(Double(m - big))
        let b = other.m == -.infinity ? 0 : other.s * libmExpDouble(Double(other.m - big))
        return Partial(m: big, s: a + b)
      }
    }

    /// The reduced value.
    func finish(_ kind: Reduction.Kind) -> Float {
      switch kind {
      case .sum: return Float(s)
      case .max, .min: return m
      case .logSumExp: return m.isFinite ? Float(Double(m) + libmLogDouble(s)) : m
      }
    }
  }

  /// The partial reduction of `n` contiguous floats.
  static func partial(_ kind: Reduction.Kind, _ p: UnsafePointer<Float>, _ n: Int) -> Partial {
    switch kind {
    case .sum: return Partial(m: 0, s: sum(p, n))
    case .max: return Partial(m: max(p, n, minimum: false), s: 0)
    case .min: return Partial(m: max(p, n, minimum: true), s: 0)
    case .logSumExp:
      let m = max(p, n, minimum: false)
      return Partial(m: m, s: m.isFinite ? sumExp(p, n, shift: m) : 0)
    }
  }

  /// max (or min) of `n` floats; NaN if any is NaN; -inf (+inf) when n == 0.
  static func max(_ p: UnsafePointer<Float>, _ n: Int, minimum: Bool) -> Float {
    let sign = V(repeating: minimum ? -1 : 1)
    var m0 = V(repeating: -.infinity)
    var m1 = m0
    var i = 0
    while i + 32 <= n {
      keepMax(&m0, loadVector(p + i) * sign)
      keepMax(&m1, loadVector(p + i + 16) * sign)
      i += 32
    }
    if i + 16 <= n {
      keepMax(&m0, loadVector(p + i) * sign)
      i += 16
    }
    if i < n { keepMax(&m1, loadPartial(p + i, n - i, pad: minimum ? .infinity : -.infinity) * sign) }
    keepMax(&m0, m1)
    var best = -Float.infinity
    for lane in 0..<16 {
      if m0[lane].isNaN { return .nan }
      best = Swift.max(best, m0[lane])
    }
    return minimum ? -best : best
  }

  /// Σ p[i] for `n` floats.
  static func sum(_ p: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
      let end = Swift.min(n, start + block)
      var a0 = V()
      var a1 = V()
      var i = start
      while i + 32 <= end {
        a0 += loadVector(p + i)
        a1 += loadVector(p + i + 16)
        i += 32
      }
      if i + 16 <= end {
        a0 += loadVector(p + i)
        i += 16
      }
      if i < end { a1 += loadPartial(p + i, end - i, pad: 0) }
      total += Double((a0 + a1).sum())
      start = end
    }
    return total
  }

  /// Σ a[i] b[i] for `n` floats.
  static func dot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, _ n: Int) -> Double {
    var total = 0.0
    var start = 0
    while start < n {
      let end = Swift.min(n, start + block)
      var a0 = V()
      var a1 = V()
      var i = start
      while i + 32 <= end {
        a0.addProduct(loadVector(a + i), loadVector(b + i))
        a1.addProduct(loadVector(a + i + 16), loadVector(b + i + 16))
        i += 32
      }
      if i + 16 <= end {
        a0.addProduct(loadVector(a + i), loadVector(b + i))
        i += 16
      }
      if i < end { a1.addProduct(loadPartial(a + i, end - i, pad: 0), loadPartial(b + i, end - i, pad: 0)) }
      total += Double((a0 + a1).sum())
      start = end
    }
    return total
  }

  /// Σ e^(p[i] - shift) for `n` floats (shift finite).
  static func sumExp(_ p: UnsafePointer<Float>, _ n: Int, shift: Float) -> Double {
    let m = V(repeating: shift)
    var total = 0.0
    var start = 0
    while start < n {
      let end = Swift.min(n, start + block)
      var a0 = V()
      var i = start
      while i + 16 <= end {
        a0 += VectorMath.exp(loadVector(p + i) - m)
        i += 16
      }
      if i < end { a0 += VectorMath.exp(loadPartial(p + i, end - i, pad: -.infinity) - m) }
      total += Double(a0.sum())
      start = end
    }
    return total
  }

  /// Index of the first max (or min) of `n >= 1` floats; the first NaN wins.
  static func argBest(_ p: UnsafePointer<Float>, _ n: Int, minimum: Bool) -> Int {
    let sign: Float = minimum ? -1 : 1
    var bestValue = p[0] * sign
    var bestIndex = 0
    var i = 0
    if n >= 16 {
      let signs = V(repeating: sign)
      var best = loadVector(p) * signs
      var index = SIMD16<Int32>(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15)
      var current = index
      let step = SIMD16<Int32>(repeating: 16)
      i = 16
      while i + 16 <= n {
        current &+= step
        let v = loadVector(p + i) * signs
        let take = (v .> best) .| ((v .!= v) .& (best .== best))
        best.replace(with: v, where: take)
        index.replace(with: current, where: take)
        i += 16
      }
      // Combine lanes: first NaN, else the largest value with the smallest index.
      bestValue = best[0]
      bestIndex = Int(index[0])
      for lane in 1..<16 {
        let v = best[lane]
        let k = Int(index[lane])
        if bestValue.isNaN {
          if v.isNaN && k < bestIndex { bestIndex = k }
        } else if v.isNaN || v > bestValue || (v == bestValue && k < bestIndex) {
          bestValue = v
          bestIndex = k
        }
      }
    } else {
      i = 1
    }
    while i < n && !bestValue.isNaN {
      let v = p[i] * sign
      if v.isNaN || v > bestValue {
        bestValue = v
        bestIndex = i
      }
      i += 1
    }
    return bestIndex
  }

  /// Mean and variance of `n` floats by the corrected two-pass algorithm.
  static func moments(_ p: UnsafePointer<Float>, _ n: Int, divisor: Double) -> (Float, Float) {
    guard n > 0 else { return (.nan, .nan) }
    let mean = Float(sum(p, n) / Double(n))
    let m = V(repeating: mean)
    var sd = 0.0
    var sdd = 0.0
    var start = 0
    while start < n {
      let end = Swift.min(n, start + block)
      var d1 = V()
      var d2 = V()
      var i = start
      while i + 16 <= end {
        let d = loadVector(p + i) - m
        d1 += d
        d2.addProduct(d, d)
        i += 16
      }
      if i < end {
        let d = loadPartial(p + i, end - i, pad: mean) - m
        d1 += d
        d2.addProduct(d, d)
      }
      sd += Double(d1.sum())
      sdd += Double(d2.sum())
      start = end
    }
    let count = Double(n)
    let variance = Swift.max(0, sdd - sd * sd / count) / divisor
    return (Float(Double(mean) + sd / count), Float(variance))
  }
}

/// Strided kernels for `inner > 1`: columns `0..<width` of `reduce` rows `stride` floats apart, sixteen
/// columns per vector (the last vector padded).
enum ColumnKernels {
  typealias V = SIMD16<Float>

  /// Rows summed in Float before the running totals are updated.
  static let block = 128

  /// Loads vector `c` of row `row` (padded with `pad` past `width`).
  @inline(__always)
  static func load(_ row: UnsafePointer<Float>, _ c: Int, _ width: Int, pad: Float) -> V {
    let start = c * 16
    return start + 16 <= width ? loadVector(row + start) : loadPartial(row + start, width - start, pad: pad)
  }

  /// Stores vector `c` (only the lanes inside `width`).
  @inline(__always)
  static func store(_ v: V, _ out: UnsafeMutablePointer<Float>, _ c: Int, _ width: Int) {
    let start = c * 16
    if start + 16 <= width { storeVector(v, out + start) } else { storePartial(v, out + start, width - start) }
  }

  /// Column-wise Σ x (or Σ e^(x - shift) when `shift` is given) into `totals`.
  static func sum(
    _ x: UnsafePointer<Float>, reduce: Int, stride: Int, width: Int, shift: UnsafePointer<V>?,
    into totals: UnsafeMutablePointer<V>, scratch: UnsafeMutablePointer<V>
  ) {
    let vectors = (width + 15) / 16
    for c in 0..<vectors { totals[c] = V() }
    var r0 = 0
    while r0 < reduce {
      let r1 = Swift.min(reduce, r0 + block)
      for c in 0..<vectors { scratch[c] = V() }
      for r in r0..<r1 {
        let row = x + r * stride
        for c in 0..<vectors {
          let v = load(row, c, width, pad: 0)
          scratch[c] += shift.map { VectorMath.exp(v - $0[c]) } ?? v
        }
      }
      for c in 0..<vectors { totals[c] += scratch[c] }
      r0 = r1
    }
  }

  /// Column-wise reduce of one tile.
  static func reduce(
    _ kind: Reduction.Kind, _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, reduce: Int, stride: Int,
    width: Int
  ) {
    let vectors = (width + 15) / 16
    withUnsafeTemporaryAllocation(of: V.self, capacity: 4 * vectors) { buffer in
      let a = buffer.baseAddress!
      let b = a + vectors
      let c2 = b + vectors
      switch kind {
      case .sum:
        sum(x, reduce: reduce, stride: stride, width: width, shift: nil, into: a, scratch: b)
        for c in 0..<vectors { store(a[c], y, c, width) }
      case .max, .min, .logSumExp:
        let sign = V(repeating: kind == .min ? -1 : 1)
        for c in 0..<vectors { a[c] = load(x, c, width, pad: 0) * sign }
        for r in 1..<reduce {
          let row = x + r * stride
          for c in 0..<vectors { keepMax(&a[c], load(row, c, width, pad: 0) * sign) }
        }
        if kind != .logSumExp {
          for c in 0..<vectors { store(a[c] * sign, y, c, width) }
          return
        }
        // Shift by the max where it is finite (else by 0; those columns return the max itself).
        for c in 0..<vectors {
          var s = a[c]
          s.replace(with: V(), where: .!(VectorMath.abs(s) .< V(repeating: .infinity)))
          c2[c] = s
        }
        sum(x, reduce: reduce, stride: stride, width: width, shift: c2, into: b, scratch: c2 + vectors)
        for c in 0..<vectors {
          let m = a[c]
          var r = m + VectorMath.log(b[c])
          r.replace(with: m, where: .!(VectorMath.abs(m) .< V(repeating: .infinity)))
          store(r, y, c, width)
        }
      }
    }
  }

  /// Column-wise first index of the max (or min); the first NaN wins.
  static func argBest(
    _ x: UnsafePointer<Float>, _ out: UnsafeMutablePointer<Int64>, reduce: Int, stride: Int, width: Int,
    minimum: Bool
  ) {
    let vectors = (width + 15) / 16
    let sign = V(repeating: minimum ? -1 : 1)
    withUnsafeTemporaryAllocation(of: V.self, capacity: vectors) { values in
      withUnsafeTemporaryAllocation(of: SIMD16<Int32>.self, capacity: vectors) { indices in
        let best = values.baseAddress!
        let index = indices.baseAddress!
        for c in 0..<vectors {
          best[c] = load(x, c, width, pad: 0) * sign
          index[c] = SIMD16<Int32>()
        }
        for r in 1..<Swift.max(reduce, 1) {
          let row = x + r * stride
          let current = SIMD16<Int32>(repeating: Int32(r))
          for c in 0..<vectors {
            let v = load(row, c, width, pad: 0) * sign
            let b = best[c]
            let take = (v .> b) .| ((v .!= v) .& (b .== b))
            best[c].replace(with: v, where: take)
            index[c].replace(with: current, where: take)
          }
        }
        for j in 0..<width { out[j] = Int64(index[j / 16][j % 16]) }
      }
    }
  }

  /// Column-wise mean and variance (corrected two-pass).
  static func moments(
    _ x: UnsafePointer<Float>, mean: UnsafeMutablePointer<Float>, variance: UnsafeMutablePointer<Float>,
    reduce: Int, stride: Int, width: Int, divisor: Double
  ) {
    guard reduce > 0 else {
      for j in 0..<width {
        mean[j] = .nan
        variance[j] = .nan
      }
      return
    }
    let vectors = (width + 15) / 16
    withUnsafeTemporaryAllocation(of: V.self, capacity: 5 * vectors) { buffer in
      let totals = buffer.baseAddress!
      let scratch = totals + vectors
      let d1 = scratch + vectors
      let d2 = d1 + vectors
      let m = d2 + vectors
      sum(x, reduce: reduce, stride: stride, width: width, shift: nil, into: totals, scratch: scratch)
      let n = V(repeating: Float(reduce))
      for c in 0..<vectors {
        m[c] = totals[c] / n
        d1[c] = V()
        d2[c] = V()
      }
      var r0 = 0
      while r0 < reduce {
        let r1 = Swift.min(reduce, r0 + block)
        for c in 0..<vectors {
          totals[c] = V()
          scratch[c] = V()
        }
        for r in r0..<r1 {
          let row = x + r * stride
          for c in 0..<vectors {
            let d = load(row, c, width, pad: 0) - m[c]
            totals[c] += d
            scratch[c].addProduct(d, d)
          }
        }
        for c in 0..<vectors {
          d1[c] += totals[c]
          d2[c] += scratch[c]
        }
        r0 = r1
      }
      let count = Float(reduce)
      let div = Float(divisor)
      for j in 0..<width {
        let c = j / 16
        let lane = j % 16
        let s1 = d1[c][lane]
        mean[j] = m[c][lane] + s1 / count
        variance[j] = Swift.max(0, d2[c][lane] - s1 * s1 / count) / div
      }
    }
  }
}

extension Reduction {
  /// The index of the first NaN or infinite value among `count` floats, or nil when all are finite. A value
  /// is finite exactly when `v · 0` is zero; the vector loop finds the first block with another, then the
  /// scalar twin finds the element.
  public static func firstNonFinite(_ x: UnsafePointer<Float>, count: Int) -> Int? {
    typealias V = SIMD16<Float>
    var i = 0
    while i + 16 <= count {
      let v = UnsafeRawPointer(x + i).loadUnaligned(as: V.self)
      if any(v * 0 .!= 0) { return firstNonFiniteReference(x + i, count: 16).map { $0 + i } }
      i += 16
    }
    return firstNonFiniteReference(x + i, count: count - i).map { $0 + i }
  }

  /// The plain loop twin of ``firstNonFinite(_:count:)``.
  public static func firstNonFiniteReference(_ x: UnsafePointer<Float>, count: Int) -> Int? {
    for i in 0..<count where !x[i].isFinite { return i }
    return nil
  }
}

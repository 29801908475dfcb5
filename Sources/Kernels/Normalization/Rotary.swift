#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Rotary position embedding (RoPE).
///
/// Angles follow Hugging Face's float32 arithmetic exactly: `inv_freq[i] = 1 / base^(2i / rotaryDim)` in
/// float32, `angle = Float(position) * inv_freq[i]` in float32, then float32 cosine and sine, and
/// `y1 = x1 * cos - x2 * sin`, `y2 = x2 * cos + x1 * sin` without fused multiply-adds. Outputs therefore
/// match `transformers` (and llama2.c, which uses the same formulas) to rounding.
public enum Rotary {
  /// Applies the rotary embedding to `x` laid out `[outer, seq, heads, headDim]`, writing `y` (which may be `x`).
  ///
  /// Row `r = ((o * seq) + t) * heads + h` uses position `positionOffset + t`, or `positions[t]` when
  /// `positions` (Int32, length `seq`) is non-nil. Dimensions `>= rotaryDim` are copied unchanged.
  /// With `interleaved == false` the pairs are `(i, i + rotaryDim / 2)` (HF/NeoX rotate-half); with `true`
  /// they are `(2i, 2i + 1)` (GPT-J, llama2.c). `inverse == true` rotates by the negative angle, which is
  /// exactly the backward pass.
  public static func apply(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, seq: Int, heads: Int,
    headDim: Int, rotaryDim: Int, base: Float, positionOffset: Int, positions: UnsafePointer<Int32>?,
    interleaved: Bool, inverse: Bool
  ) {
    validate(headDim: headDim, rotaryDim: rotaryDim)
    let rows = outer * seq * heads
    guard rows > 0, headDim > 0 else { return }
    let half = rotaryDim / 2
    var lowest = Int.max
    var highest = Int.min
    for t in 0..<seq {
      let p = position(t, positionOffset, positions)
      lowest = min(lowest, p)
      highest = max(highest, p)
    }
    // The cached table is indexed by absolute position; otherwise build one indexed by t. A call of a few
    // positions (a decoding step) never grows the cache: past its end it builds its own small table.
    let table: AngleTable
    let indexedByPosition: Bool
    if half > 0, lowest >= 0, highest < AngleCache.maxPositions,
      let cached = AngleCache.shared.table(
        rotaryDim: rotaryDim, base: base, positions: highest + 1, growing: seq >= AngleCache.shortestGrowingCall)
    {
      table = cached
      indexedByPosition = true
    } else {
      table = AngleTable(rotaryDim: rotaryDim, base: base, count: seq) { position($0, positionOffset, positions) }
      indexedByPosition = false
    }
    let sign: Float = inverse ? -1 : 1
    Parallel.forChunks(count: rows, grain: max(1, (1 << 14) / headDim)) { range in
      for r in range {
        let t = (r / heads) % seq
        let row = indexedByPosition ? position(t, positionOffset, positions) : t
        let c = table.cos + row * half
        let s = table.sin + row * half
        let xr = x + r * headDim
        let yr = y + r * headDim
        if interleaved {
          rotatePairs(xr, yr, c, s, half, sign)
        } else {
          rotateHalves(xr, yr, c, s, half, sign)
        }
        if headDim > rotaryDim && UnsafePointer(yr) != xr {
          (yr + rotaryDim).update(from: xr + rotaryDim, count: headDim - rotaryDim)
        }
      }
    }
    withExtendedLifetime(table) {}
  }

  /// Scalar twin of ``apply(_:_:outer:seq:heads:headDim:rotaryDim:base:positionOffset:positions:interleaved:inverse:)``
  /// that recomputes every angle from the formula.
  public static func applyReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, seq: Int, heads: Int,
    headDim: Int, rotaryDim: Int, base: Float, positionOffset: Int, positions: UnsafePointer<Int32>?,
    interleaved: Bool, inverse: Bool
  ) {
    validate(headDim: headDim, rotaryDim: rotaryDim)
    let half = rotaryDim / 2
    for o in 0..<outer {
      for t in 0..<seq {
        let p = position(t, positionOffset, positions)
        for h in 0..<heads {
          let r = ((o * seq) + t) * heads + h
          let xr = x + r * headDim
          let yr = y + r * headDim
          for i in 0..<half {
            let angle = Float(p) * inverseFrequency(i, rotaryDim: rotaryDim, base: base)
            let c = cos(angle)
            let s = inverse ? -sin(angle) : sin(angle)
            let a = interleaved ? 2 * i : i
            let b = interleaved ? 2 * i + 1 : i + half
            let x1 = xr[a]
            let x2 = xr[b]
            yr[a] = x1 * c - x2 * s
            yr[b] = x2 * c + x1 * s
          }
          for i in rotaryDim..<headDim { yr[i] = xr[i] }
        }
      }
    }
  }

  /// `1 / base^(2i / rotaryDim)` in float32, as HF and llama2.c compute it.
  @inline(__always)
  static func inverseFrequency(_ i: Int, rotaryDim: Int, base: Float) -> Float {
    1 / pow(base, Float(2 * i) / Float(rotaryDim))
  }

  @inline(__always)
  private static func position(_ t: Int, _ offset: Int, _ positions: UnsafePointer<Int32>?) -> Int {
    if let positions { return Int(positions[t]) }
    return offset + t
  }

  private static func validate(headDim: Int, rotaryDim: Int) {
    precondition(rotaryDim >= 0 && rotaryDim <= headDim && rotaryDim % 2 == 0, "rotaryDim must be even and <= headDim")
  }
}

// MARK: - Tables

extension Rotary {
  /// Cosines and sines `[count, rotaryDim / 2]`; immutable once built, so it can be shared by threads.
  fileprivate final class AngleTable: @unchecked Sendable {
    let cos: UnsafeMutablePointer<Float>
    let sin: UnsafeMutablePointer<Float>
    let count: Int

    /// Builds rows `0..<count`, row `k` holding the angles of position `position(k)`.
    init(rotaryDim: Int, base: Float, count: Int, position: (Int) -> Int) {
      let half = rotaryDim / 2
      let size = max(count * half, 1)
      self.count = count
      cos = .allocate(capacity: size)
      sin = .allocate(capacity: size)
      var frequencies = [Float](repeating: 0, count: half)
      for i in 0..<half { frequencies[i] = Rotary.inverseFrequency(i, rotaryDim: rotaryDim, base: base) }
      for k in 0..<count {
        let p = Float(position(k))
        for i in 0..<half {
          let angle = p * frequencies[i]
          cos[k * half + i] = cosine(angle)
          sin[k * half + i] = sine(angle)
        }
      }
    }

    deinit {
      cos.deallocate()
      sin.deallocate()
    }
  }

  /// Process-wide cache of angle tables by absolute position, one per `(rotaryDim, base)`, grown on demand.
  fileprivate final class AngleCache: @unchecked Sendable {
    static let shared = AngleCache()
    /// Positions beyond this are not cached (the caller builds a per-call table instead).
    static let maxPositions = 1 << 17
    /// Fewest positions in one call that may grow a table. Doubling a table at a long context costs
    /// tens of milliseconds (a 32K-token table recomputed and its pages faulted in), which a decoding
    /// step of a few tokens must not pay; it computes only its own angles instead.
    static let shortestGrowingCall = 64

    private struct Key: Hashable {
      let rotaryDim: Int
      let base: UInt32
    }

    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private var tables: [Key: AngleTable] = [:]

    private init() {
      lock = .allocate(capacity: 1)
      pthread_mutex_init(lock, nil)
    }

    /// A table covering at least positions `0..<positions`; nil when the cached one is shorter and
    /// `growing` is false.
    func table(rotaryDim: Int, base: Float, positions: Int, growing: Bool) -> AngleTable? {
      let key = Key(rotaryDim: rotaryDim, base: base.bitPattern)
      pthread_mutex_lock(lock)
      defer { pthread_mutex_unlock(lock) }
      if let t = tables[key], t.count >= positions { return t }
      guard growing else { return nil }
      var count = max(256, tables[key]?.count ?? 0)
      while count < positions { count *= 2 }
      let t = AngleTable(rotaryDim: rotaryDim, base: base, count: min(count, Self.maxPositions)) { $0 }
      tables[key] = t
      return t
    }
  }
}

// MARK: - Row kernels

@inline(__always)
private func cosine(_ x: Float) -> Float { cos(x) }

@inline(__always)
private func sine(_ x: Float) -> Float { sin(x) }

private typealias V = SIMD16<Float>

/// Rotates pairs `(i, i + half)`; safe when `y == x`.
@inline(__always)
private func rotateHalves(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ cos: UnsafeMutablePointer<Float>,
  _ sin: UnsafeMutablePointer<Float>, _ half: Int, _ sign: Float
) {
  let sv = V(repeating: sign)
  var i = 0
  while i + 16 <= half {
    let x1 = load(x, i)
    let x2 = load(x, half + i)
    let c = load(cos, i)
    let s = load(sin, i) * sv
    // Separate products and sum (no FMA) to round exactly like PyTorch's q * cos + rotate_half(q) * sin.
    let y1 = x1 * c - x2 * s
    let y2 = x2 * c + x1 * s
    store(y1, y, i)
    store(y2, y, half + i)
    i += 16
  }
  while i < half {
    let x1 = x[i]
    let x2 = x[half + i]
    let c = cos[i]
    let s = sin[i] * sign
    y[i] = x1 * c - x2 * s
    y[half + i] = x2 * c + x1 * s
    i += 1
  }
}

/// Rotates pairs `(2i, 2i + 1)`; safe when `y == x`.
@inline(__always)
private func rotatePairs(
  _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, _ cos: UnsafeMutablePointer<Float>,
  _ sin: UnsafeMutablePointer<Float>, _ half: Int, _ sign: Float
) {
  for i in 0..<half {
    let x1 = x[2 * i]
    let x2 = x[2 * i + 1]
    let c = cos[i]
    let s = sin[i] * sign
    y[2 * i] = x1 * c - x2 * s
    y[2 * i + 1] = x2 * c + x1 * s
  }
}

/// Elementwise binary operations on two strided float views broadcast to one output shape.
public enum BinaryOp: String, Sendable, CaseIterable {
  case add, sub, mul, div, maximum, minimum
  /// Comparisons write 1 where true and 0 where false.
  case less, lessEqual, greater, greaterEqual, equal, notEqual
}

/// Broadcasting binary kernels.
///
/// Both inputs are described by strides over the output shape (0 on broadcast axes). Adjacent axes are
/// coalesced first, so the common cases (same shape, scalar, row vector) run as one SIMD loop.
public enum Binary {
  /// out[i] = op(a[i], b[i]) over `shape`; `out` is contiguous. `out` may alias a contiguous, non-broadcast input.
  public static func apply(
    _ op: BinaryOp, a: UnsafePointer<Float>, aStrides: [Int], b: UnsafePointer<Float>, bStrides: [Int],
    out: UnsafeMutablePointer<Float>, shape: [Int]
  ) {
    let count = shape.reduce(1, *)
    guard count > 0 else { return }
    let (dims, sa, sb) = coalesce(shape: shape, aStrides, bStrides)
    let inner = dims.last!
    let ia = sa.last!
    let ib = sb.last!
    let outerDims = Array(dims.dropLast())
    let outerCount = outerDims.reduce(1, *)
    let pa = UncheckedSendable(a)
    let pb = UncheckedSendable(b)
    let po = UncheckedSendable(out)
    if outerCount == 1 {
      Parallel.forChunks(count: inner, grain: 1 << 15) { r in
        runRow(
          op, pa.value + r.lowerBound * ia, ia, pb.value + r.lowerBound * ib, ib, po.value + r.lowerBound,
          r.count)
      }
      return
    }
    let grainRows = max(1, (1 << 15) / max(inner, 1))
    Parallel.forChunks(count: outerCount, grain: grainRows) { rows in
      var index = [Int](repeating: 0, count: outerDims.count)
      var rem = rows.lowerBound
      for d in stride(from: outerDims.count - 1, through: 0, by: -1) {
        index[d] = rem % outerDims[d]
        rem /= outerDims[d]
      }
      var offA = 0
      var offB = 0
      for d in 0..<outerDims.count {
        offA += index[d] * sa[d]
        offB += index[d] * sb[d]
      }
      for row in rows {
        runRow(op, pa.value + offA, ia, pb.value + offB, ib, po.value + row * inner, inner)
        var d = outerDims.count - 1
        while d >= 0 {
          index[d] += 1
          offA += sa[d]
          offB += sb[d]
          if index[d] < outerDims[d] { break }
          offA -= sa[d] * outerDims[d]
          offB -= sb[d] * outerDims[d]
          index[d] = 0
          d -= 1
        }
      }
    }
  }

  /// The plain twin of ``apply(_:a:aStrides:b:bStrides:out:shape:)``.
  public static func applyReference(
    _ op: BinaryOp, a: UnsafePointer<Float>, aStrides: [Int], b: UnsafePointer<Float>, bStrides: [Int],
    out: UnsafeMutablePointer<Float>, shape: [Int]
  ) {
    let count = shape.reduce(1, *)
    var index = [Int](repeating: 0, count: shape.count)
    for i in 0..<count {
      var rem = i
      for d in stride(from: shape.count - 1, through: 0, by: -1) {
        index[d] = rem % shape[d]
        rem /= shape[d]
      }
      var offA = 0
      var offB = 0
      for d in 0..<shape.count {
        offA += index[d] * aStrides[d]
        offB += index[d] * bStrides[d]
      }
      out[i] = scalar(op, a[offA], b[offB])
    }
  }

  /// op on two floats.
  @inlinable
  public static func scalar(_ op: BinaryOp, _ x: Float, _ y: Float) -> Float {
    switch op {
    case .add: return x + y
    case .sub: return x - y
    case .mul: return x * y
    case .div: return x / y
    case .maximum: return x.isNaN || y.isNaN ? .nan : Swift.max(x, y)
    case .minimum: return x.isNaN || y.isNaN ? .nan : Swift.min(x, y)
    case .less: return x < y ? 1 : 0
    case .lessEqual: return x <= y ? 1 : 0
    case .greater: return x > y ? 1 : 0
    case .greaterEqual: return x >= y ? 1 : 0
    case .equal: return x == y ? 1 : 0
    case .notEqual: return x != y ? 1 : 0
    }
  }

  /// Merges adjacent axes that are contiguous for both inputs; drops size-1 axes.
  static func coalesce(shape: [Int], _ a: [Int], _ b: [Int]) -> ([Int], [Int], [Int]) {
    var dims: [Int] = []
    var sa: [Int] = []
    var sb: [Int] = []
    for d in 0..<shape.count where shape[d] != 1 {
      if let last = dims.last, sa.last! == a[d] * shape[d], sb.last! == b[d] * shape[d] {
        dims[dims.count - 1] = last * shape[d]
        sa[sa.count - 1] = a[d]
        sb[sb.count - 1] = b[d]
      } else {
        dims.append(shape[d])
        sa.append(a[d])
        sb.append(b[d])
      }
    }
    if dims.isEmpty { return ([1], [0], [0]) }
    return (dims, sa, sb)
  }

  @inline(__always)
  static func runRow(
    _ op: BinaryOp, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    switch op {
    case .add: row(Add.self, a, sa, b, sb, out, n)
    case .sub: row(Sub.self, a, sa, b, sb, out, n)
    case .mul: row(Mul.self, a, sa, b, sb, out, n)
    case .div: row(Div.self, a, sa, b, sb, out, n)
    default:
      for i in 0..<n { out[i] = scalar(op, a[i * sa], b[i * sb]) }
    }
  }

  @inline(__always)
  static func row<F: VectorBinary>(
    _: F.Type, _ a: UnsafePointer<Float>, _ sa: Int, _ b: UnsafePointer<Float>, _ sb: Int,
    _ out: UnsafeMutablePointer<Float>, _ n: Int
  ) {
    typealias V = SIMD16<Float>
    let ra = UnsafeRawPointer(a)
    let rb = UnsafeRawPointer(b)
    let ro = UnsafeMutableRawPointer(out)
    var i = 0
    if sa == 1 && sb == 1 {
      while i + 16 <= n {
        let x = ra.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        let y = rb.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        ro.storeBytes(of: F.apply(x, y), toByteOffset: i * 4, as: V.self)
        i += 16
      }
    } else if sa == 1 && sb == 0 {
      let y = V(repeating: b[0])
      while i + 16 <= n {
        let x = ra.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        ro.storeBytes(of: F.apply(x, y), toByteOffset: i * 4, as: V.self)
        i += 16
      }
    } else if sa == 0 && sb == 1 {
      let x = V(repeating: a[0])
      while i + 16 <= n {
        let y = rb.loadUnaligned(fromByteOffset: i * 4, as: V.self)
        ro.storeBytes(of: F.apply(x, y), toByteOffset: i * 4, as: V.self)
        i += 16
      }
    }
    while i < n {
      out[i] = F.apply(a[i * sa], b[i * sb])
      i += 1
    }
  }
}

protocol VectorBinary {
  static func apply(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float>
  static func apply(_ x: Float, _ y: Float) -> Float
}

enum Add: VectorBinary {
  @inline(__always) static func apply(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> { x + y }
  @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x + y }
}
enum Sub: VectorBinary {
  @inline(__always) static func apply(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> { x - y }
  @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x - y }
}
enum Mul: VectorBinary {
  @inline(__always) static func apply(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> { x * y }
  @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x * y }
}
enum Div: VectorBinary {
  @inline(__always) static func apply(_ x: SIMD16<Float>, _ y: SIMD16<Float>) -> SIMD16<Float> { x / y }
  @inline(__always) static func apply(_ x: Float, _ y: Float) -> Float { x / y }
}

/// Elementwise selection: out = cond != 0 ? a : b, all contiguous and of equal length.
public enum Select {
  /// Writes `count` selected values.
  public static func apply(
    condition: UnsafePointer<Float>, _ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, count: Int
  ) {
    let pc = UncheckedSendable(condition)
    let pa = UncheckedSendable(a)
    let pb = UncheckedSendable(b)
    let po = UncheckedSendable(out)
    Parallel.forChunks(count: count, grain: 1 << 15) { r in
      for i in r { po.value[i] = pc.value[i] != 0 ? pa.value[i] : pb.value[i] }
    }
  }
}

/// Memory layout kernels: strided views to contiguous memory, padding, slicing, concatenation.
///
/// Shapes are row-major. A strided view is described by `shape` and `strides` in elements; element
/// `(i_0, …, i_{r-1})` lives at `src[sum_k i_k * strides[k]]`. Strides may be zero (broadcast) but not negative.
public enum Layout {
  /// Edge of the square tiles used for transposing copies (32 floats = two cache lines).
  @usableFromInline static let tile = 32

  /// Elements per thread below which copies stay single-threaded.
  @usableFromInline static let copyGrain = 1 << 16

  // MARK: Strided copy

  /// Copies a strided view into contiguous memory: `dst[i] = src[sum_k idx_k * strides[k]]`, with `i` the
  /// row-major linear index of `idx` in `shape`.
  ///
  /// Dimensions of size one are dropped and dimensions that are contiguous with respect to each other are
  /// merged first. Fast paths: a contiguous innermost dimension copies whole rows; a broadcast innermost
  /// dimension fills rows; otherwise, when some other dimension has a smaller stride (a transpose), the copy
  /// runs over 32x32 tiles of that dimension and the innermost one. Large copies run in parallel.
  public static func copy(
    _ src: UnsafePointer<Float>, shape: [Int], strides: [Int], _ dst: UnsafeMutablePointer<Float>
  ) {
    copyTyped(src, shape: shape, strides: strides, dst)
  }

  /// Scalar oracle for ``copy(_:shape:strides:_:)``: one odometer over all dimensions.
  public static func copyReference(
    _ src: UnsafePointer<Float>, shape: [Int], strides: [Int], _ dst: UnsafeMutablePointer<Float>
  ) {
    precondition(shape.count == strides.count, "shape and strides differ in rank")
    let count = shape.reduce(1, *)
    if count == 0 { return }
    var index = [Int](repeating: 0, count: shape.count)
    for i in 0..<count {
      var offset = 0
      for k in 0..<shape.count { offset += index[k] * strides[k] }
      dst[i] = src[offset]
      var k = shape.count - 1
      while k >= 0 {
        index[k] += 1
        if index[k] < shape[k] { break }
        index[k] = 0
        k -= 1
      }
    }
  }

  /// ``copy(_:shape:strides:_:)`` for elements of any size in bytes (Int32, Int64, Float16 views, …);
  /// `strides` are in elements, not bytes.
  public static func copyBytes(
    _ src: UnsafeRawPointer, elementSize: Int, shape: [Int], strides: [Int], _ dst: UnsafeMutableRawPointer
  ) {
    precondition(elementSize > 0, "element size must be positive")
    switch elementSize {
    case 1:
      copyTyped(
        src.assumingMemoryBound(to: UInt8.self), shape: shape, strides: strides,
        dst.assumingMemoryBound(to: UInt8.self))
    case 2:
      copyTyped(
        src.assumingMemoryBound(to: UInt16.self), shape: shape, strides: strides,
        dst.assumingMemoryBound(to: UInt16.self))
    case 4:
      copyTyped(
        src.assumingMemoryBound(to: UInt32.self), shape: shape, strides: strides,
        dst.assumingMemoryBound(to: UInt32.self))
    case 8:
      copyTyped(
        src.assumingMemoryBound(to: UInt64.self), shape: shape, strides: strides,
        dst.assumingMemoryBound(to: UInt64.self))
    default:
      // Any other size: a byte copy with one more, contiguous, dimension for the bytes of an element.
      copyTyped(
        src.assumingMemoryBound(to: UInt8.self), shape: shape + [elementSize],
        strides: strides.map { $0 * elementSize } + [1], dst.assumingMemoryBound(to: UInt8.self))
    }
  }

  /// Drops size-one dimensions and merges neighbours that form one strided run; returns nil for an empty view.
  static func coalesce(shape: [Int], strides: [Int]) -> (sizes: [Int], strides: [Int])? {
    precondition(shape.count == strides.count, "shape and strides differ in rank")
    var sizes: [Int] = []
    var steps: [Int] = []
    for k in 0..<shape.count {
      precondition(shape[k] >= 0 && strides[k] >= 0, "negative size or stride")
      if shape[k] == 0 { return nil }
      if shape[k] == 1 { continue }
      if let last = sizes.last, steps[steps.count - 1] == strides[k] * shape[k] {
        sizes[sizes.count - 1] = last * shape[k]
        steps[steps.count - 1] = strides[k]
      } else {
        sizes.append(shape[k])
        steps.append(strides[k])
      }
    }
    return (sizes, steps)
  }

  static func copyTyped<T: BitwiseCopyable>(
    _ src: UnsafePointer<T>, shape: [Int], strides: [Int], _ dst: UnsafeMutablePointer<T>
  ) {
    guard let (sizes, steps) = coalesce(shape: shape, strides: strides) else { return }
    let rank = sizes.count
    if rank == 0 {
      dst[0] = src[0]
      return
    }
    let total = sizes.reduce(1, *)
    let rowLength = sizes[rank - 1]
    let rowStride = steps[rank - 1]
    let rows = total / rowLength

    if rowStride == 1 && rows == 1 {
      Parallel.forChunks(count: total, grain: copyGrain) { r in
        (dst + r.lowerBound).update(from: src + r.lowerBound, count: r.count)
      }
      return
    }

    // A transpose: tile the innermost dimension against the dimension with the smallest stride.
    if rowStride > 1 {
      var p = -1
      for k in 0..<(rank - 1) where steps[k] > 0 && steps[k] < rowStride && sizes[k] >= 4 {
        if p < 0 || steps[k] < steps[p] { p = k }
      }
      if p >= 0 {
        copyTiled(src, sizes: sizes, steps: steps, tiledDim: p, dst)
        return
      }
    }

    let outerSizes = Array(sizes[0..<(rank - 1)])
    let outerSteps = Array(steps[0..<(rank - 1)])
    Parallel.forChunks(count: rows, grain: max(1, copyGrain / rowLength)) { range in
      var cursor = Odometer(sizes: outerSizes, steps: outerSteps, linear: range.lowerBound)
      for row in range {
        let out = dst + row * rowLength
        let from = src + cursor.offset
        if rowStride == 1 {
          out.update(from: from, count: rowLength)
        } else if rowStride == 0 {
          out.update(repeating: from[0], count: rowLength)
        } else {
          for i in 0..<rowLength { out[i] = from[i * rowStride] }
        }
        cursor.advance()
      }
    }
  }

  /// Copies with dimension `tiledDim` and the innermost dimension walked in square tiles.
  static func copyTiled<T: BitwiseCopyable>(
    _ src: UnsafePointer<T>, sizes: [Int], steps: [Int], tiledDim p: Int, _ dst: UnsafeMutablePointer<T>
  ) {
    let rank = sizes.count
    let b = tile
    var dstSteps = [Int](repeating: 1, count: rank)
    for k in stride(from: rank - 2, through: 0, by: -1) { dstSteps[k] = dstSteps[k + 1] * sizes[k + 1] }
    let outerDims = (0..<(rank - 1)).filter { $0 != p }
    let outerSizes = outerDims.map { sizes[$0] }
    let outerSteps = outerDims.map { steps[$0] }
    let outerDstSteps = outerDims.map { dstSteps[$0] }
    let outerCount = outerSizes.reduce(1, *)
    let np = sizes[p]
    let sp = steps[p]
    let dp = dstSteps[p]
    let nl = sizes[rank - 1]
    let sl = steps[rank - 1]
    let blocks = (np + b - 1) / b
    let units = outerCount * blocks
    Parallel.forChunks(count: units, grain: max(1, copyGrain / (b * nl))) { range in
      for unit in range {
        var outer = unit / blocks
        let block = unit - outer * blocks
        var srcBase = 0
        var dstBase = 0
        for k in stride(from: outerSizes.count - 1, through: 0, by: -1) {
          let i = outer % outerSizes[k]
          outer /= outerSizes[k]
          srcBase += i * outerSteps[k]
          dstBase += i * outerDstSteps[k]
        }
        let i0 = block * b
        let i1 = min(np, i0 + b)
        var l0 = 0
        while l0 < nl {
          let l1 = min(nl, l0 + b)
          for i in i0..<i1 {
            let s = src + srcBase + i * sp
            let d = dst + dstBase + i * dp
            for l in l0..<l1 { d[l] = s[l * sl] }
          }
          l0 = l1
        }
      }
    }
  }

  // MARK: Padding, slicing, concatenation

  /// Constant padding of the `[outer, axisSize, inner]` view: `y` is `[outer, before + axisSize + after, inner]`.
  public static func pad(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    before: Int, after: Int, value: Float
  ) {
    precondition(before >= 0 && after >= 0, "negative padding")
    let inRow = axisSize * inner
    let outRow = (before + axisSize + after) * inner
    guard outRow > 0 else { return }
    Parallel.forChunks(count: outer, grain: max(1, copyGrain / outRow)) { range in
      for o in range {
        let out = y + o * outRow
        out.update(repeating: value, count: before * inner)
        (out + before * inner).update(from: x + o * inRow, count: inRow)
        (out + before * inner + inRow).update(repeating: value, count: after * inner)
      }
    }
  }

  /// Scalar oracle for ``pad(_:_:outer:axisSize:inner:before:after:value:)``.
  public static func padReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    before: Int, after: Int, value: Float
  ) {
    let padded = before + axisSize + after
    for o in 0..<outer {
      for a in 0..<padded {
        for n in 0..<inner {
          let source = a - before
          y[(o * padded + a) * inner + n] =
            source >= 0 && source < axisSize ? x[(o * axisSize + source) * inner + n] : value
        }
      }
    }
  }

  /// Slice of the `[outer, axisSize, inner]` view: `y[o, a, n] = x[o, start + a, n]` for `a < count`.
  ///
  /// This is the adjoint of ``pad(_:_:outer:axisSize:inner:before:after:value:)`` (with `start = before`).
  public static func slice(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    start: Int, count: Int
  ) {
    precondition(start >= 0 && count >= 0 && start + count <= axisSize, "slice out of range")
    let inRow = axisSize * inner
    let outRow = count * inner
    guard outRow > 0 else { return }
    Parallel.forChunks(count: outer, grain: max(1, copyGrain / outRow)) { range in
      for o in range {
        (y + o * outRow).update(from: x + o * inRow + start * inner, count: outRow)
      }
    }
  }

  /// Scalar oracle for ``slice(_:_:outer:axisSize:inner:start:count:)``.
  public static func sliceReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    start: Int, count: Int
  ) {
    for o in 0..<outer {
      for a in 0..<count {
        for n in 0..<inner { y[(o * count + a) * inner + n] = x[(o * axisSize + start + a) * inner + n] }
      }
    }
  }

  /// Concatenation along the axis: parts `[outer, axisSizes[k], inner]` into `y [outer, sum axisSizes, inner]`.
  public static func concat(
    _ parts: [UnsafePointer<Float>], axisSizes: [Int], _ y: UnsafeMutablePointer<Float>, outer: Int, inner: Int
  ) {
    precondition(parts.count == axisSizes.count, "one axis size per part")
    let outRow = axisSizes.reduce(0, +) * inner
    guard outRow > 0 else { return }
    Parallel.forChunks(count: outer, grain: max(1, copyGrain / outRow)) { range in
      for o in range {
        var out = y + o * outRow
        for k in 0..<parts.count {
          let n = axisSizes[k] * inner
          out.update(from: parts[k] + o * n, count: n)
          out += n
        }
      }
    }
  }

  /// Scalar oracle for ``concat(_:axisSizes:_:outer:inner:)``.
  public static func concatReference(
    _ parts: [UnsafePointer<Float>], axisSizes: [Int], _ y: UnsafeMutablePointer<Float>, outer: Int, inner: Int
  ) {
    let total = axisSizes.reduce(0, +)
    for o in 0..<outer {
      var a0 = 0
      for k in 0..<parts.count {
        for a in 0..<axisSizes[k] {
          for n in 0..<inner {
            y[(o * total + a0 + a) * inner + n] = parts[k][(o * axisSizes[k] + a) * inner + n]
          }
        }
        a0 += axisSizes[k]
      }
    }
  }

  /// Inverse and adjoint of ``concat(_:axisSizes:_:outer:inner:)``: splits `x [outer, sum axisSizes, inner]`
  /// into parts `[outer, axisSizes[k], inner]`.
  public static func split(
    _ x: UnsafePointer<Float>, axisSizes: [Int], into parts: [UnsafeMutablePointer<Float>], outer: Int, inner: Int
  ) {
    precondition(parts.count == axisSizes.count, "one axis size per part")
    let inRow = axisSizes.reduce(0, +) * inner
    guard inRow > 0 else { return }
    Parallel.forChunks(count: outer, grain: max(1, copyGrain / inRow)) { range in
      for o in range {
        var from = x + o * inRow
        for k in 0..<parts.count {
          let n = axisSizes[k] * inner
          (parts[k] + o * n).update(from: from, count: n)
          from += n
        }
      }
    }
  }

  /// Adds `count` floats of `src` into `dst` with SIMD16 steps.
  @inline(__always)
  static func addRow(_ src: UnsafePointer<Float>, into dst: UnsafeMutablePointer<Float>, count: Int) {
    var i = 0
    while i + 16 <= count {
      let a = UnsafeRawPointer(dst + i).loadUnaligned(as: SIMD16<Float>.self)
      let b = UnsafeRawPointer(src + i).loadUnaligned(as: SIMD16<Float>.self)
      UnsafeMutableRawPointer(dst + i).storeBytes(of: a + b, as: SIMD16<Float>.self)
      i += 16
    }
    while i < count {
      dst[i] += src[i]
      i += 1
    }
  }
}

/// Row-major walk over a list of dimensions that tracks the strided offset of the current index.
private struct Odometer {
  var index: [Int]
  var offset = 0
  let sizes: [Int]
  let steps: [Int]

  init(sizes: [Int], steps: [Int], linear: Int) {
    self.sizes = sizes
    self.steps = steps
    index = [Int](repeating: 0, count: sizes.count)
    var rest = linear
    for k in stride(from: sizes.count - 1, through: 0, by: -1) {
      index[k] = rest % sizes[k]
      rest /= sizes[k]
      offset += index[k] * steps[k]
    }
  }

  mutating func advance() {
    var k = sizes.count - 1
    while k >= 0 {
      index[k] += 1
      offset += steps[k]
      if index[k] < sizes[k] { return }
      offset -= steps[k] * sizes[k]
      index[k] = 0
      k -= 1
    }
  }
}

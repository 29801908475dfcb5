/// Axis operations on the `[outer, axis, inner]` view of a contiguous tensor.
///
/// Indices are `Int64` and must lie in `0..<axisSize` (no negative wrap-around). Functions that take indices
/// validate them all before writing anything and return false when one is out of range; callers turn that
/// into an error.
public enum Indexing {
  /// Elements per thread below which kernels stay single-threaded.
  @usableFromInline static let grain = 1 << 15

  /// Floats of `inner` handled by one parallel work unit in the accumulating kernels.
  @usableFromInline static let innerBlock = 256

  /// Whether every one of the `count` indices lies in `0..<bound`.
  static func allInRange(_ index: UnsafePointer<Int64>, count: Int, bound: Int) -> Bool {
    let limit = UInt64(bound)
    var ok = true
    for i in 0..<count where UInt64(bitPattern: index[i]) >= limit { ok = false }
    return ok
  }

  // MARK: Gather and scatter-add

  /// `y[o, i, n] = x[o, index[o, i, n], n]` (`torch.gather`); `index` and `y` are `[outer, indexCount, inner]`
  /// and `x` is `[outer, axisSize, inner]`. Returns false, writing nothing, if an index is out of range.
  public static func gather(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, indexCount: Int, inner: Int
  ) -> Bool {
    let rows = outer * indexCount
    guard allInRange(index, count: rows * inner, bound: axisSize) else { return false }
    guard rows * inner > 0 else { return true }
    Parallel.forChunks(count: rows, grain: max(1, grain / inner)) { range in
      for row in range {
        let o = row / indexCount
        let plane = x + o * axisSize * inner
        let ix = index + row * inner
        let out = y + row * inner
        if inner == 1 {
          out[0] = plane[Int(ix[0])]
        } else {
          for n in 0..<inner { out[n] = plane[Int(ix[n]) * inner + n] }
        }
      }
    }
    return true
  }

  /// Scalar oracle for ``gather(_:index:_:outer:axisSize:indexCount:inner:)``.
  public static func gatherReference(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, _ y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, indexCount: Int, inner: Int
  ) -> Bool {
    for k in 0..<(outer * indexCount * inner) where index[k] < 0 || index[k] >= Int64(axisSize) { return false }
    for o in 0..<outer {
      for i in 0..<indexCount {
        for n in 0..<inner {
          let k = (o * indexCount + i) * inner + n
          y[k] = x[(o * axisSize + Int(index[k])) * inner + n]
        }
      }
    }
    return true
  }

  /// `y[o, index[o, i, n], n] += x[o, i, n]` (`torch.Tensor.scatter_add_`); shapes as in
  /// ``gather(_:index:_:outer:axisSize:indexCount:inner:)`` with `y` the `[outer, axisSize, inner]` side.
  /// Duplicate indices accumulate. Returns false, leaving `y` untouched, if an index is out of range.
  public static func scatterAdd(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, into y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, indexCount: Int, inner: Int
  ) -> Bool {
    guard allInRange(index, count: outer * indexCount * inner, bound: axisSize) else { return false }
    guard outer * indexCount * inner > 0 else { return true }
    // Work units own disjoint (o, inner block) pairs, so no two threads touch the same output element.
    let blocks = (inner + innerBlock - 1) / innerBlock
    let unitWork = indexCount * min(inner, innerBlock)
    Parallel.forChunks(count: outer * blocks, grain: max(1, grain / unitWork)) { range in
      for unit in range {
        let o = unit / blocks
        let n0 = (unit - o * blocks) * innerBlock
        let n1 = min(inner, n0 + innerBlock)
        let plane = y + o * axisSize * inner
        for i in 0..<indexCount {
          let row = (o * indexCount + i) * inner
          for n in n0..<n1 { plane[Int(index[row + n]) * inner + n] += x[row + n] }
        }
      }
    }
    return true
  }

  /// Scalar oracle for ``scatterAdd(_:index:into:outer:axisSize:indexCount:inner:)``.
  public static func scatterAddReference(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, into y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, indexCount: Int, inner: Int
  ) -> Bool {
    for k in 0..<(outer * indexCount * inner) where index[k] < 0 || index[k] >= Int64(axisSize) { return false }
    for o in 0..<outer {
      for i in 0..<indexCount {
        for n in 0..<inner {
          let k = (o * indexCount + i) * inner + n
          y[(o * axisSize + Int(index[k])) * inner + n] += x[k]
        }
      }
    }
    return true
  }

  // MARK: Index-select and index-add

  /// `y[o, i, :] = x[o, index[i], :]` with one index list of `count` entries; `y` is `[outer, count, inner]`.
  /// An embedding lookup is `outer = 1`. Returns false, writing nothing, if an index is out of range.
  public static func indexSelect(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, count: Int, _ y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, inner: Int
  ) -> Bool {
    guard allInRange(index, count: count, bound: axisSize) else { return false }
    guard outer * count * inner > 0 else { return true }
    Parallel.forChunks(count: outer * count, grain: max(1, grain / inner)) { range in
      for row in range {
        let o = row / count
        let i = row - o * count
        (y + row * inner).update(from: x + (o * axisSize + Int(index[i])) * inner, count: inner)
      }
    }
    return true
  }

  /// Scalar oracle for ``indexSelect(_:index:count:_:outer:axisSize:inner:)``.
  public static func indexSelectReference(
    _ x: UnsafePointer<Float>, index: UnsafePointer<Int64>, count: Int, _ y: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, inner: Int
  ) -> Bool {
    for i in 0..<count where index[i] < 0 || index[i] >= Int64(axisSize) { return false }
    for o in 0..<outer {
      for i in 0..<count {
        for n in 0..<inner { y[(o * count + i) * inner + n] = x[(o * axisSize + Int(index[i])) * inner + n] }
      }
    }
    return true
  }

  /// Adjoint of ``indexSelect(_:index:count:_:outer:axisSize:inner:)``: `dx[o, index[i], :] += dy[o, i, :]`.
  ///
  /// Duplicate indices accumulate in index order. Threads own disjoint `(o, inner block)` pairs, so the
  /// parallel form is race-free and its result does not depend on the thread count.
  /// Returns false, leaving `dx` untouched, if an index is out of range.
  public static func indexAdd(
    _ dy: UnsafePointer<Float>, index: UnsafePointer<Int64>, count: Int, into dx: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, inner: Int
  ) -> Bool {
    guard allInRange(index, count: count, bound: axisSize) else { return false }
    guard outer * count * inner > 0 else { return true }
    let blocks = (inner + innerBlock - 1) / innerBlock
    let unitWork = count * min(inner, innerBlock)
    Parallel.forChunks(count: outer * blocks, grain: max(1, grain / unitWork)) { range in
      for unit in range {
        let o = unit / blocks
        let n0 = (unit - o * blocks) * innerBlock
        let width = min(inner, n0 + innerBlock) - n0
        for i in 0..<count {
          Layout.addRow(
            dy + (o * count + i) * inner + n0, into: dx + (o * axisSize + Int(index[i])) * inner + n0,
            count: width)
        }
      }
    }
    return true
  }

  /// Scalar oracle for ``indexAdd(_:index:count:into:outer:axisSize:inner:)``.
  public static func indexAddReference(
    _ dy: UnsafePointer<Float>, index: UnsafePointer<Int64>, count: Int, into dx: UnsafeMutablePointer<Float>,
    outer: Int, axisSize: Int, inner: Int
  ) -> Bool {
    for i in 0..<count where index[i] < 0 || index[i] >= Int64(axisSize) { return false }
    for o in 0..<outer {
      for i in 0..<count {
        for n in 0..<inner { dx[(o * axisSize + Int(index[i])) * inner + n] += dy[(o * count + i) * inner + n] }
      }
    }
    return true
  }

  // MARK: Cumulative sum and one-hot

  /// Inclusive cumulative sum along the axis, in Float. With `reverse`, sums from the end of the axis:
  /// `y[o, a, n] = sum_{b >= a} x[o, b, n]`, which is the backward pass of the forward sum. `y` may equal `x`.
  public static func cumsum(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    reverse: Bool
  ) {
    guard outer * axisSize * inner > 0 else { return }
    let blocks = (inner + innerBlock - 1) / innerBlock
    let unitWork = axisSize * min(inner, innerBlock)
    Parallel.forChunks(count: outer * blocks, grain: max(1, grain / unitWork)) { range in
      for unit in range {
        let o = unit / blocks
        let n0 = (unit - o * blocks) * innerBlock
        let width = min(inner, n0 + innerBlock) - n0
        let base = o * axisSize * inner + n0
        if inner == 1 {
          var s: Float = 0
          if reverse {
            for a in stride(from: axisSize - 1, through: 0, by: -1) {
              s += x[base + a]
              y[base + a] = s
            }
          } else {
            for a in 0..<axisSize {
              s += x[base + a]
              y[base + a] = s
            }
          }
          continue
        }
        // Row by row: y[a] = x[a] + y[a -/+ 1], vectorised across the inner block.
        let first = reverse ? axisSize - 1 : 0
        let step = reverse ? -inner : inner
        var previous = y + base + first * inner
        if previous != UnsafeMutablePointer(mutating: x + base + first * inner) {
          previous.update(from: x + base + first * inner, count: width)
        }
        for k in 1..<axisSize {
          let a = reverse ? axisSize - 1 - k : k
          let out = y + base + a * inner
          if out != UnsafeMutablePointer(mutating: x + base + a * inner) {
            out.update(from: x + base + a * inner, count: width)
          }
          Layout.addRow(previous, into: out, count: width)
          previous += step
        }
      }
    }
  }

  /// Scalar oracle for ``cumsum(_:_:outer:axisSize:inner:reverse:)``, accumulating in Double.
  public static func cumsumReference(
    _ x: UnsafePointer<Float>, _ y: UnsafeMutablePointer<Float>, outer: Int, axisSize: Int, inner: Int,
    reverse: Bool
  ) {
    for o in 0..<outer {
      for n in 0..<inner {
        var s = 0.0
        for k in 0..<axisSize {
          let a = reverse ? axisSize - 1 - k : k
          let i = (o * axisSize + a) * inner + n
          s += Double(x[i])
          y[i] = Float(s)
        }
      }
    }
  }

  /// One-hot encoding: `y [count, classes]` with `y[i, index[i]] = 1` and zeros elsewhere.
  /// Returns false, writing nothing, if an index is out of range.
  public static func oneHot(
    _ index: UnsafePointer<Int64>, count: Int, classes: Int, _ y: UnsafeMutablePointer<Float>
  ) -> Bool {
    guard allInRange(index, count: count, bound: classes) else { return false }
    guard count * classes > 0 else { return true }
    Parallel.forChunks(count: count, grain: max(1, grain / classes)) { range in
      for i in range {
        let row = y + i * classes
        row.update(repeating: 0, count: classes)
        row[Int(index[i])] = 1
      }
    }
    return true
  }

  /// Scalar oracle for ``oneHot(_:count:classes:_:)``.
  public static func oneHotReference(
    _ index: UnsafePointer<Int64>, count: Int, classes: Int, _ y: UnsafeMutablePointer<Float>
  ) -> Bool {
    for i in 0..<count where index[i] < 0 || index[i] >= Int64(classes) { return false }
    for i in 0..<count {
      for c in 0..<classes { y[i * classes + c] = Int64(c) == index[i] ? 1 : 0 }
    }
    return true
  }
}

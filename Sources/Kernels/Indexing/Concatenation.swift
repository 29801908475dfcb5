/// Copies between a part and its place in a tensor concatenated along one axis.
///
/// Both sides are contiguous and viewed as [outer, axis, inner]; the part occupies axis entries
/// `axisOffset ..< axisOffset + partAxis` of a whole whose axis has `wholeAxis` entries.
public enum Concatenation {
  /// Writes `part` into its place in `whole`.
  public static func insert(
    _ part: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>, outer: Int, partAxis: Int,
    wholeAxis: Int, axisOffset: Int, inner: Int
  ) {
    let row = partAxis * inner
    let pp = UncheckedSendable(part)
    let pw = UncheckedSendable(whole)
    Parallel.forChunks(count: outer, grain: Swift.max(1, 65536 / Swift.max(row, 1))) { range in
      for o in range {
        (pw.value + (o * wholeAxis + axisOffset) * inner).update(from: pp.value + o * row, count: row)
      }
    }
  }

  /// The plain twin of ``insert(_:into:outer:partAxis:wholeAxis:axisOffset:inner:)``.
  public static func insertReference(
    _ part: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>, outer: Int, partAxis: Int,
    wholeAxis: Int, axisOffset: Int, inner: Int
  ) {
    for o in 0..<outer {
      for a in 0..<partAxis {
        for i in 0..<inner {
          whole[(o * wholeAxis + axisOffset + a) * inner + i] = part[(o * partAxis + a) * inner + i]
        }
      }
    }
  }
}

extension Concatenation {
  /// Adds `part` into its place in `whole` (the adjoint of taking a slice).
  public static func accumulate(
    _ part: UnsafePointer<Float>, into whole: UnsafeMutablePointer<Float>, outer: Int, partAxis: Int,
    wholeAxis: Int, axisOffset: Int, inner: Int
  ) {
    let row = partAxis * inner
    let pp = UncheckedSendable(part)
    let pw = UncheckedSendable(whole)
    Parallel.forChunks(count: outer, grain: Swift.max(1, 65536 / Swift.max(row, 1))) { range in
      for o in range {
        let src = pp.value + o * row
        let dst = pw.value + (o * wholeAxis + axisOffset) * inner
        for i in 0..<row { dst[i] += src[i] }
      }
    }
  }
}

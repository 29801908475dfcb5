import Testing

@testable import Kernels

@Suite struct NonFiniteScanTests {
  /// The vector scan finds the same first non-finite index as its scalar twin, for every position of the
  /// bad value (inside a block, at block edges, in the tail) and for several bad values in one array.
  @Test func firstNonFiniteEqualsItsReferenceEverywhere() {
    for count in [0, 1, 15, 16, 17, 47, 100] {
      var values = (0..<count).map { Float($0) * 1e30 - 3 }  // large but finite
      #expect(Reduction.firstNonFinite(values, count: count) == nil)
      for bad in [Float.nan, .infinity, -.infinity] {
        for position in 0..<count {
          let saved = values[position]
          values[position] = bad
          if position + 5 < count { values[position + 5] = .nan }
          let found = Reduction.firstNonFinite(values, count: count)
          #expect(found == position, "count \(count), \(bad) at \(position)")
          #expect(found == Reduction.firstNonFiniteReference(values, count: count))
          values[position] = saved
          if position + 5 < count { values[position + 5] = Float(position + 5) * 1e30 - 3 }
        }
      }
    }
    // The largest finite floats times zero are zero: not flagged.
    let edge: [Float] = [.greatestFiniteMagnitude, -.greatestFiniteMagnitude, .leastNonzeroMagnitude, -0.0]
    #expect(Reduction.firstNonFinite(edge, count: edge.count) == nil)
  }
}

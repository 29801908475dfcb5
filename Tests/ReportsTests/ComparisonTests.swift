import Testing

@testable import Reports

@Suite struct ComparisonTests {
  @Test("a margin beyond the larger seed spread wins; one inside it, or with fewer than 3 seeds, is a tie")
  func seedComparison() {
    let clear = SeedComparison(first: [1.0, 1.01, 0.99], second: [2.0, 2.02, 1.98], lowerIsBetter: true)
    #expect(clear.verdict == .better)
    #expect(clear.sentence().hasSuffix("better by 1.000"))
    #expect(
      SeedComparison(first: [1.0, 1.01, 0.99], second: [2.0, 2.02, 1.98], lowerIsBetter: false).verdict == .worse)
    let close = SeedComparison(first: [1.0, 1.2, 0.8], second: [1.1, 1.1, 1.1], lowerIsBetter: true)
    #expect(close.verdict == .tie)
    #expect(close.sentence().contains("inside the spread 0.200"))
    let few = SeedComparison(first: [1.0, 1.0], second: [2.0, 2.0], lowerIsBetter: true)
    #expect(few.verdict == .tie)
    #expect(few.sentence().contains("fewer than 3 seeds"))
  }

  @Test("the paired ratio is the ratio of totals; its bootstrap interval is tight for a constant ratio")
  func constantRatio() throws {
    let baseline = [100.0, 200, 150, 120, 180]
    let ratio = try PairedRatio(first: baseline.map { 2 * $0 }, second: baseline)
    #expect(abs(ratio.ratio - 2) < 1e-12)
    #expect(abs(ratio.lower - 2) < 1e-12 && abs(ratio.upper - 2) < 1e-12)
    #expect(ratio.verdict(against: 1) == .better)
    #expect(ratio.verdict(against: 2.5) == .worse)
    // Four pairs are too few for a verdict.
    let four = try PairedRatio(first: baseline.prefix(4).map { 2 * $0 }, second: Array(baseline.prefix(4)))
    #expect(four.verdict(against: 1) == .tie)
  }

  @Test("pairs on both sides of 1 give an interval around 1, a tie; the same seed gives the same interval")
  func straddlingRatio() throws {
    let second = [100.0, 100, 100, 100, 100, 100, 100, 100]
    let first = [130.0, 75, 120, 80, 125, 70, 110, 95]
    let ratio = try PairedRatio(first: first, second: second, seed: 7)
    #expect(abs(ratio.ratio - first.reduce(0, +) / 800) < 1e-12)
    #expect(ratio.lower < 1 && ratio.upper > 1)
    #expect(ratio.verdict() == .tie)
    #expect(try PairedRatio(first: first, second: second, seed: 7) == ratio)
    #expect(ratio.text.hasSuffix("8 pairs)"))
  }

  @Test("unequal lengths, empty lists and non-positive baselines are errors")
  func badInput() {
    #expect(throws: ReportError.self) { try PairedRatio(first: [1, 2], second: [1]) }
    #expect(throws: ReportError.self) { try PairedRatio(first: [], second: []) }
    #expect(throws: ReportError.self) { try PairedRatio(first: [1], second: [0]) }
    #expect(throws: ReportError.self) { try PairedRatio(first: [.nan], second: [1]) }
  }
}

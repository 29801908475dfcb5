import Foundation
import Testing

@testable import Generation
@testable import Kernels

/// Helpers shared by the distribution tests.
enum Distributions {
  /// A random probability vector (some entries exactly zero, as after top-p).
  static func random(_ v: Int, generator: inout RandomGenerator, zeros: Int = 0) -> [Double] {
    var x = (0..<v).map { _ in Double(generator.nextFloat()) + 0.01 }
    for i in 0..<zeros { x[(i * 3) % v] = 0 }
    let total = x.reduce(0, +)
    return x.map { $0 / total }
  }

  /// Total variation distance.
  static func totalVariation(_ a: [Double], _ b: [Double]) -> Double {
    zip(a, b).map { abs($0 - $1) }.reduce(0, +) / 2
  }

  /// Whether a chi-square test of `counts` against `expected` probabilities rejects at p < 1e-3 (cells with
  /// expected count under 5 merged; Wilson–Hilferty normal approximation of the chi-square tail).
  static func chiSquareRejects(counts: [Int], expected: [Double]) -> Bool {
    let n = Double(counts.reduce(0, +))
    if zip(counts, expected).contains(where: { $0.0 > 0 && $0.1 == 0 }) { return true }  // draws the law never makes
    var cells: [(observed: Double, expected: Double)] = []
    var pending = (observed: 0.0, expected: 0.0)
    for (c, p) in zip(counts, expected).sorted(by: { $0.1 > $1.1 }) where p > 0 {
      pending.observed += Double(c)
      pending.expected += p * n
      if pending.expected >= 5 {
        cells.append(pending)
        pending = (0, 0)
      }
    }
    if pending.expected > 0 {
      if cells.isEmpty {
        cells.append(pending)
      } else {
        cells[cells.count - 1].observed += pending.observed
        cells[cells.count - 1].expected += pending.expected
      }
    }
    let statistic = cells.map { ($0.observed - $0.expected) * ($0.observed - $0.expected) / $0.expected }
      .reduce(0, +)
    let k = Double(max(cells.count - 1, 1))
    let z = (pow(statistic / k, 1.0 / 3) - (1 - 2 / (9 * k))) / (2 / (9 * k)).squareRoot()
    return z > 3.09
  }
}

@Suite struct SpeculativeSamplingTests {
  @Test func oneLevelOutputIsExactlyTheTarget() {
    var g = RandomGenerator(seed: 1)
    for trial in 0..<50 {
      let p = Distributions.random(8, generator: &g, zeros: trial % 3)
      let q = Distributions.random(8, generator: &g, zeros: (trial + 1) % 3)
      let out = SpeculativeSampling.outputDistribution(target: p, proposal: q)
      #expect(Distributions.totalVariation(out, p) < 1e-12)
    }
  }

  @Test func twoLevelCompositionIsExactOnlyWithTheResidualAtTheMiddle() {
    var g = RandomGenerator(seed: 2)
    var worstBuggy = 0.0
    for trial in 0..<50 {
      let p = Distributions.random(8, generator: &g, zeros: trial % 2)
      let middle = Distributions.random(8, generator: &g)
      let q = Distributions.random(8, generator: &g, zeros: 1)
      // Middle level: x̂ follows `law`; the top level checks x̂ as a sample of `middle`.
      let law = SpeculativeSampling.outputDistribution(target: middle, proposal: q)
      let out = SpeculativeSampling.outputDistribution(target: p, proposal: middle, law: law)
      #expect(Distributions.totalVariation(out, p) < 1e-12)
      let buggyLaw = SpeculativeSampling.outputDistribution(target: middle, proposal: q, correction: .resampleTarget)
      let buggy = SpeculativeSampling.outputDistribution(target: p, proposal: middle, law: buggyLaw)
      worstBuggy = max(worstBuggy, Distributions.totalVariation(buggy, p))
    }
    #expect(worstBuggy > 1e-2)
    // The paper note's example: p̂ = p = [.5, .5], q = [1, 0] gives [.75, .25] with the code's rule.
    let law = SpeculativeSampling.outputDistribution(
      target: [0.5, 0.5], proposal: [1, 0], correction: .resampleTarget)
    let out = SpeculativeSampling.outputDistribution(target: [0.5, 0.5], proposal: [0.5, 0.5], law: law)
    #expect(abs(out[0] - 0.75) < 1e-12 && abs(out[1] - 0.25) < 1e-12)
  }

  @Test func residualIsTheNormalisedPositivePartOrTheTargetWhenEmpty() {
    let r = SpeculativeSampling.residual(target: [0.5, 0.3, 0.2], proposal: [0.2, 0.5, 0.3])
    #expect(abs(r[0] - 1) < 1e-15 && r[1] == 0 && r[2] == 0)
    #expect(SpeculativeSampling.residual(target: [0.4, 0.6], proposal: [0.4, 0.6]) == [0.4, 0.6])
    #expect(SpeculativeSampling.acceptanceProbability(of: 1, target: [0.5, 0.5], proposal: [0, 1]) == 0.5)
  }

  /// Two-level draws through the seeded random path: the residual rule passes a chi-square test against p,
  /// the middle-resampling rule fails it.
  @Test func monteCarloThroughTheSeededPathMatchesTheTargetAndRejectsTheBuggyRule() {
    var g = RandomGenerator(seed: 3)
    let p = Distributions.random(8, generator: &g)
    let middle = Distributions.random(8, generator: &g, zeros: 1)
    let q = Distributions.random(8, generator: &g, zeros: 2)
    func counts(_ rule: CorrectionRule, seed: UInt64) -> [Int] {
      let choices = SeededChoices(seed: seed)
      var counts = [Int](repeating: 0, count: 8)
      for _ in 0..<200_000 {
        var x = choices.draw(from: q)
        if case .corrected(let y) = SpeculativeSampling.verify(
          x, target: middle, proposal: q, correction: rule, using: choices)
        {
          x = y
        }
        if case .corrected(let y) = SpeculativeSampling.verify(x, target: p, proposal: middle, using: choices) {
          x = y
        }
        counts[x] += 1
      }
      return counts
    }
    #expect(!Distributions.chiSquareRejects(counts: counts(.residual, seed: 11), expected: p))
    #expect(Distributions.chiSquareRejects(counts: counts(.resampleTarget, seed: 12), expected: p))
  }
}

import Kernels

/// Where speculative decoding takes its random decisions (a seeded stream, or an enumerator in tests).
public protocol RandomChoices: AnyObject {
  /// True with probability `probability` (always for 1, never for 0).
  func bernoulli(_ probability: Double) -> Bool
  /// An index drawn from `probabilities` (non-negative, summing to 1).
  func draw(from probabilities: [Double]) -> Int
}

/// Random choices from a seeded ``RandomGenerator`` (one uniform number per decision).
public final class SeededChoices: RandomChoices {
  /// The stream.
  public var generator: RandomGenerator

  /// Choices seeded with `seed`.
  public init(seed: UInt64) { generator = RandomGenerator(seed: seed) }

  /// A uniform number in [0, 1) with 53 bits.
  private func uniform() -> Double { Double(generator.next() >> 11) * 0x1p-53 }

  public func bernoulli(_ probability: Double) -> Bool { uniform() < probability }

  public func draw(from probabilities: [Double]) -> Int {
    let u = uniform()
    var cumulative = 0.0
    var last = 0
    for (i, p) in probabilities.enumerated() where p > 0 {
      cumulative += p
      last = i
      if u < cumulative { return i }
    }
    return last
  }
}

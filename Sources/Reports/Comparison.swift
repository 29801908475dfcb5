import Foundation

/// The outcome of a comparison whose margin is measured against its spread.
public enum ComparisonVerdict: String, Sendable, Equatable {
  /// The first arm is better by more than the spread.
  case better
  /// The first arm is worse by more than the spread.
  case worse
  /// The margin lies inside the spread.
  case tie
}

/// Two arms measured over seeds (at least 3 each for a verdict): the margin between the means against the
/// spread, taken as the larger of the two arms' sample standard deviations, so that a margin any one arm's
/// seeds could move by is called a tie.
public struct SeedComparison: Sendable, Equatable {
  /// The first arm over its seeds.
  public var first: Summary
  /// The second arm over its seeds.
  public var second: Summary
  /// Whether a lower value is better (losses) or a higher one (accuracy, speed).
  public var lowerIsBetter: Bool

  /// Seeds an arm needs for a verdict other than ``ComparisonVerdict/tie``.
  public static let minimumSeeds = 3

  /// Compares `first` with `second` (one value per seed each).
  public init(first: [Double], second: [Double], lowerIsBetter: Bool) {
    self.first = Summary(first)
    self.second = Summary(second)
    self.lowerIsBetter = lowerIsBetter
  }

  /// `first.mean − second.mean`.
  public var margin: Double { first.mean - second.mean }

  /// The larger of the two standard deviations.
  public var spread: Double { max(first.standardDeviation, second.standardDeviation) }

  /// Better or worse only with enough seeds on both sides and a margin beyond the spread; else a tie.
  public var verdict: ComparisonVerdict {
    guard first.count >= Self.minimumSeeds, second.count >= Self.minimumSeeds, abs(margin) > spread else {
      return .tie
    }
    return (margin < 0) == lowerIsBetter ? .better : .worse
  }

  /// "2.005 ± 0.003 vs 2.313 ± 0.015 (3 seeds each): better by 0.308" or "… a tie (margin 0.002 inside the
  /// spread 0.015)".
  public func sentence(digits: Int = 3) -> String {
    let f = { (x: Double) in ReportFormat.fixed(x, digits: digits) }
    let seeds =
      first.count == second.count ? "\(first.count) seeds each" : "\(first.count) and \(second.count) seeds"
    let arms =
      "\(f(first.mean)) ± \(f(first.standardDeviation)) vs \(f(second.mean)) ± \(f(second.standardDeviation)) (\(seeds))"
    switch verdict {
    case .tie:
      let reason =
        first.count < Self.minimumSeeds || second.count < Self.minimumSeeds
        ? "fewer than \(Self.minimumSeeds) seeds" : "margin \(f(abs(margin))) inside the spread \(f(spread))"
      return "\(arms): a tie (\(reason))"
    case .better: return "\(arms): better by \(f(abs(margin)))"
    case .worse: return "\(arms): worse by \(f(abs(margin)))"
    }
  }
}

/// The ratio of two arms' totals over paired measurements (the same prompt and seed measured by both, e.g.
/// tokens/s of a method and of the baseline), with a paired bootstrap interval: pairs are drawn with
/// replacement and the ratio of the drawn totals recomputed, so the interval reflects how much the ratio moves
/// with the choice of prompts.
public struct PairedRatio: Sendable, Equatable {
  /// Σ first / Σ second over all pairs.
  public var ratio: Double
  /// The 2.5th percentile of the bootstrap ratios.
  public var lower: Double
  /// The 97.5th percentile of the bootstrap ratios.
  public var upper: Double
  /// Pairs measured.
  public var pairs: Int

  /// Pairs a speed verdict needs (at least 5 prompts).
  public static let minimumPairs = 5

  /// The ratio of `first` to `second` (equal lengths, positive values) with a `draws`-sample bootstrap
  /// interval drawn from a generator seeded by `seed`.
  public init(first: [Double], second: [Double], draws: Int = 2000, seed: UInt64 = 1) throws {
    guard first.count == second.count, !first.isEmpty else {
      throw ReportError(
        path: "PairedRatio",
        problem: "needs the same positive number of values on both sides, got "
          + "\(first.count) and \(second.count)")
    }
    guard first.allSatisfy({ $0.isFinite && $0 >= 0 }), second.allSatisfy({ $0.isFinite && $0 > 0 }) else {
      throw ReportError(path: "PairedRatio", problem: "values must be finite, the second arm's positive")
    }
    pairs = first.count
    ratio = first.reduce(0, +) / second.reduce(0, +)
    var state = seed &+ 0x9E37_79B9_7F4A_7C15
    func next() -> UInt64 {
      // SplitMix64.
      state = state &+ 0x9E37_79B9_7F4A_7C15
      var z = state
      z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
      z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
      return z ^ (z >> 31)
    }
    var ratios: [Double] = []
    ratios.reserveCapacity(max(draws, 1))
    for _ in 0..<max(draws, 1) {
      var top = 0.0
      var bottom = 0.0
      for _ in 0..<pairs {
        let i = Int(next() % UInt64(pairs))
        top += first[i]
        bottom += second[i]
      }
      ratios.append(top / bottom)
    }
    ratios.sort()
    let at = { (q: Double) in ratios[min(ratios.count - 1, max(0, Int((q * Double(ratios.count - 1)).rounded())))] }
    lower = at(0.025)
    upper = at(0.975)
  }

  /// Above `threshold` when the whole interval is (with enough pairs), below when the whole interval is below,
  /// else a tie.
  public func verdict(against threshold: Double = 1) -> ComparisonVerdict {
    guard pairs >= Self.minimumPairs else { return .tie }
    if lower > threshold { return .better }
    if upper < threshold { return .worse }
    return .tie
  }

  /// "2.26× (95% interval 2.10–2.41, 6 pairs)".
  public var text: String {
    "\(ReportFormat.fixed(ratio, digits: 2))× (95% interval \(ReportFormat.fixed(lower, digits: 2))–"
      + "\(ReportFormat.fixed(upper, digits: 2)), \(pairs) pairs)"
  }
}

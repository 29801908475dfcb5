import Generation
import Testing

@testable import TriForce

/// The reproduction's pooling over prompts and its verdict on the speed goal.
@Suite struct TriForceReproductionTests {
  static func run(
    _ method: DecodingMethod, tokens: Int, seconds: Double, top: (proposed: Int, accepted: Int, rounds: Int)? = nil,
    middle: (proposed: Int, accepted: Int)? = nil
  ) -> DecodingRun {
    var levels: [SpeculationStatistics] = []
    if let top {
      var s = SpeculationStatistics()
      s.proposed = top.proposed
      s.accepted = top.accepted
      s.rounds = top.rounds
      s.emitted = tokens
      levels.append(s)
    }
    if let middle {
      var s = SpeculationStatistics()
      s.proposed = middle.proposed
      s.accepted = middle.accepted
      levels.append(s)
    }
    return DecodingRun(
      method: method, tokens: Array(repeating: 1, count: tokens), text: nil, stopReason: .length, setupSeconds: 1,
      decodeSeconds: seconds, levels: levels, rebuilds: 0)
  }

  /// Tokens/s is all tokens over all seconds and acceptance all kept over all checked, not means of ratios.
  @Test func tablePoolsRunsAcrossPrompts() {
    var settings = TriForceReproduction.Settings(quick: true)
    settings.contexts = [4096]
    settings.temperatures = [0.6]
    let cell = { (m: DecodingMethod) in TriForceReproduction.Cell(context: 4096, temperature: 0.6, method: m) }
    let measured: [TriForceReproduction.Cell: [DecodingRun]] = [
      cell(.autoregressive): [
        Self.run(.autoregressive, tokens: 100, seconds: 2), Self.run(.autoregressive, tokens: 100, seconds: 6),
      ],
      cell(.triforce): [
        Self.run(.triforce, tokens: 100, seconds: 1, top: (60, 30, 10), middle: (10, 9)),
        Self.run(.triforce, tokens: 50, seconds: 4, top: (20, 19, 5), middle: (90, 9)),
      ],
    ]
    let rows = TriForceReproduction.table(measured, settings: settings)
    #expect(rows.map(\.method) == ["autoregressive", "triforce"])
    let baseline = rows[0]
    let tri = rows[1]
    #expect(abs(baseline.tokensPerSecond - 200.0 / 8) < 1e-9)
    #expect(abs(tri.tokensPerSecond - 150.0 / 5) < 1e-9)
    #expect(abs(tri.speedup - (150.0 / 5) / (200.0 / 8)) < 1e-9)
    #expect(abs((tri.topAcceptance ?? 0) - 49.0 / 80) < 1e-9)
    #expect(abs((tri.draftAcceptance ?? 0) - 18.0 / 100) < 1e-9)
    #expect(abs((tri.tokensPerVerification ?? 0) - 150.0 / 15) < 1e-9)
    #expect(tri.newTokens == 150)
    #expect(tri.temperature == 0.6)
    #expect(baseline.topAcceptance == nil && baseline.draftAcceptance == nil)
  }

  static func row(_ method: DecodingMethod, t: Double, speedup: Double) -> TriForceReproduction.Row {
    TriForceReproduction.Row(
      context: 32768, temperature: t, method: method.rawValue, tokensPerSecond: 10 * speedup, speedup: speedup,
      topAcceptance: nil, draftAcceptance: nil, tokensPerVerification: nil, setupSeconds: 0, newTokens: 1)
  }

  /// The goal holds only when TriForce is at least 2× and the fastest method at every temperature.
  @Test func readingHoldsOnlyWhenTriForceWinsAtEveryTemperature() {
    let winning = [0.0, 1.0].flatMap { t in
      [
        Self.row(.autoregressive, t: t, speedup: 1), Self.row(.retrievalOnly, t: t, speedup: 1.9),
        Self.row(.triforce, t: t, speedup: 2.1),
      ]
    }
    #expect(TriForceReproduction.reading(winning).hasPrefix("The speed goal holds"))
    var slower = winning
    slower[4].speedup = 2.2
    slower[4].tokensPerSecond = 22
    #expect(TriForceReproduction.reading(slower).contains("does **not** hold"))
    #expect(TriForceReproduction.reading(slower).contains("T 1.0: TriForce 2.10× autoregressive; best other method"))
    var short = winning
    short[2].speedup = 1.95
    short[2].tokensPerSecond = 19.5
    #expect(TriForceReproduction.reading(short).contains("does **not** hold"))
  }

  /// With runs recorded, the verdict rests on paired bootstrap intervals: a TriForce speedup whose interval
  /// straddles 2× is a tie, not a pass, even when its pooled figure is above 2.
  @Test func pairedRunsMakeAThinMarginATie() {
    func row(_ method: DecodingMethod, _ runs: [Double]) -> TriForceReproduction.Row {
      var r = Self.row(method, t: 1, speedup: runs.reduce(0, +) / 50)
      r.tokensPerSecond = runs.reduce(0, +) / Double(runs.count)
      r.runTokensPerSecond = runs
      return r
    }
    let baseline = [10.0, 10, 10, 10, 10]
    let clear = [
      row(.autoregressive, baseline), row(.retrievalOnly, [15, 15, 15, 15, 15]),
      row(.triforce, [25, 26, 24, 25, 25]),
    ]
    #expect(TriForceReproduction.reading(clear).hasPrefix("The speed goal holds"))
    let thin = [
      row(.autoregressive, baseline), row(.retrievalOnly, [15, 15, 15, 15, 15]),
      row(.triforce, [26, 15, 27, 16, 26]),
    ]
    #expect(thin[2].speedup > 2)
    #expect(TriForceReproduction.reading(thin).contains("is **a tie**"))
    let fewPrompts = [row(.autoregressive, [10, 10]), row(.retrievalOnly, [15, 15]), row(.triforce, [25, 25])]
    #expect(TriForceReproduction.reading(fewPrompts).contains("is **a tie**"))
  }

  @Test func settingsRejectEmptyOrNonPositiveValues() throws {
    var settings = TriForceReproduction.Settings(quick: false)
    try settings.validate()
    settings.contexts = []
    #expect(throws: TriForceError.self) { try settings.validate() }
    settings = TriForceReproduction.Settings(quick: false)
    settings.prompts = 0
    #expect(throws: TriForceError.self) { try settings.validate() }
    settings = TriForceReproduction.Settings(quick: false)
    settings.temperatures = [-1]
    #expect(throws: TriForceError.self) { try settings.validate() }
  }
}

import Foundation
import LMCore
import Testing

@testable import Generation
@testable import Kernels
@testable import TensorCore

/// Random choices that walk every branch: each run follows a forced prefix of option indices, then the
/// first option; ``nextPath()`` gives the next branch in depth-first order.
final class EnumeratingChoices: RandomChoices {
  private var forced: [Int] = []
  private var optionCounts: [Int] = []
  /// Probability of the branch taken in the current run.
  private(set) var probability = 1.0

  func begin(_ path: [Int]) {
    forced = path
    optionCounts = []
    probability = 1
  }

  private func choose(_ options: [(Int, Double)]) -> Int {
    let step = optionCounts.count
    let i = step < forced.count ? forced[step] : 0
    optionCounts.append(options.count)
    probability *= options[i].1
    return options[i].0
  }

  func bernoulli(_ probability: Double) -> Bool {
    choose([(1, probability), (0, 1 - probability)].filter { $0.1 > 0 }) == 1
  }

  func draw(from probabilities: [Double]) -> Int {
    choose(probabilities.enumerated().filter { $0.element > 0 }.map { ($0.offset, $0.element) })
  }

  func nextPath() -> [Int]? {
    var path = optionCounts.indices.map { $0 < forced.count ? forced[$0] : 0 }
    while let last = path.last {
      if last + 1 < optionCounts[path.count - 1] {
        path[path.count - 1] += 1
        return path
      }
      path.removeLast()
    }
    return nil
  }

  /// The exact law of `run`'s result over all branches.
  static func law(_ run: (EnumeratingChoices) throws -> [Int]) rethrows -> [[Int]: Double] {
    let choices = EnumeratingChoices()
    var out: [[Int]: Double] = [:]
    var path: [Int]? = []
    while let current = path {
      choices.begin(current)
      out[try run(choices), default: 0] += choices.probability
      path = choices.nextPath()
    }
    return out
  }
}

@Suite struct SpeculativeDecoderTests {
  static func table(_ v: Int, seed: UInt64, scale: Float = 2) -> BigramModel {
    var g = RandomGenerator(seed: seed)
    return BigramModel(table: Tensor((0..<(v * v)).map { _ in (g.nextFloat() - 0.5) * 2 * scale }, shape: [v, v]))
  }

  /// draft (q) -> middle (p̂) -> top (p), TriForce's shape with bigram tables standing in for the models.
  static func hierarchy(
    _ models: [BigramModel], options: SamplingOptions, gammas: (Int, Int), choices: RandomChoices,
    rule: CorrectionRule = .residual
  ) throws -> SpeculativeDecoder {
    let levels = models.map { DecodingLevel(model: $0, sampling: options, choices: choices) }
    let inner = try SpeculativeDecoder(
      draft: levels[0], verifier: levels[1], draftLength: gammas.0, choices: choices)
    inner.correction = rule
    return try SpeculativeDecoder(draft: inner, verifier: levels[2], draftLength: gammas.1, choices: choices)
  }

  /// Exact law of the first two generated tokens, composed from the exact law of single rounds.
  static func twoTokenLaw(
    _ models: [BigramModel], options: SamplingOptions, gammas: (Int, Int), prompt: [Int], rule: CorrectionRule
  ) throws -> [[Int]: Double] {
    func roundLaw(_ context: [Int]) throws -> [[Int]: Double] {
      try EnumeratingChoices.law { choices in
        try hierarchy(models, options: options, gammas: gammas, choices: choices, rule: rule)
          .round(after: context).map(\.token)
      }
    }
    var joint: [[Int]: Double] = [:]
    var next: [Int: [[Int]: Double]] = [:]
    for (tokens, probability) in try roundLaw(prompt) {
      if tokens.count >= 2 {
        joint[Array(tokens.prefix(2)), default: 0] += probability
        continue
      }
      if next[tokens[0]] == nil { next[tokens[0]] = try roundLaw(prompt + tokens) }
      for (more, p2) in next[tokens[0]] ?? [:] { joint[[tokens[0], more[0]], default: 0] += probability * p2 }
    }
    return joint
  }

  /// The target's own law of two tokens under the same sampling processing.
  static func targetLaw(_ model: BigramModel, options: SamplingOptions, last: Int) -> [[Int]: Double] {
    let v = model.vocabularySize
    let rows = model.table.floats
    let sampler = Sampler(options)
    func p(_ t: Int) -> [Double] {
      let d = sampler.distribution(logits: Array(rows[(t * v)..<((t + 1) * v)])).map(Double.init)
      let total = d.reduce(0, +)
      return d.map { $0 / total }
    }
    var law: [[Int]: Double] = [:]
    for (a, pa) in p(last).enumerated() where pa > 0 {
      for (b, pb) in p(a).enumerated() where pb > 0 { law[[a, b]] = pa * pb }
    }
    return law
  }

  static func distance(_ a: [[Int]: Double], _ b: [[Int]: Double]) -> Double {
    Set(a.keys).union(b.keys).map { abs(a[$0, default: 0] - b[$0, default: 0]) }.max() ?? 0
  }

  @Test(arguments: [
    SamplingOptions(temperature: 1), SamplingOptions(temperature: 0.7, topP: 0.9),
  ])
  func exactTwoTokenLawOfTheHierarchyIsTheTargetsAndTheMiddleResamplingVariantIsNot(options: SamplingOptions)
    throws
  {
    let models = [Self.table(4, seed: 1), Self.table(4, seed: 2), Self.table(4, seed: 3)]
    let expected = Self.targetLaw(models[2], options: options, last: 1)
    let exact = try Self.twoTokenLaw(models, options: options, gammas: (2, 2), prompt: [0, 1], rule: .residual)
    #expect(abs(exact.values.reduce(0, +) - 1) < 1e-9)
    #expect(Self.distance(exact, expected) < 1e-9)
    let buggy = try Self.twoTokenLaw(models, options: options, gammas: (2, 2), prompt: [0, 1], rule: .resampleTarget)
    #expect(Self.distance(buggy, expected) > 1e-3)
  }

  @Test func sampledGenerationsPassAChiSquareTestAgainstTheTarget() throws {
    let models = [Self.table(5, seed: 4), Self.table(5, seed: 5), Self.table(5, seed: 6)]
    let options = SamplingOptions(temperature: 1)
    let expected = Self.targetLaw(models[2], options: options, last: 2)
    let cells = expected.keys.sorted { $0.lexicographicallyPrecedes($1) }
    func counts(_ rule: CorrectionRule) throws -> [Int] {
      let choices = SeededChoices(seed: rule == .residual ? 21 : 22)
      let decoder = try Self.hierarchy(models, options: options, gammas: (2, 3), choices: choices, rule: rule)
      var counts = [Int](repeating: 0, count: cells.count)
      for _ in 0..<6000 {
        var out: [Int] = []
        while out.count < 2 { out += try decoder.round(after: [2] + out).map(\.token) }
        counts[cells.firstIndex(of: Array(out.prefix(2))) ?? 0] += 1
      }
      return counts
    }
    let probabilities = cells.map { expected[$0] ?? 0 }
    #expect(!Distributions.chiSquareRejects(counts: try counts(.residual), expected: probabilities))
    #expect(Distributions.chiSquareRejects(counts: try counts(.resampleTarget), expected: probabilities))
  }

  @Test func greedyHierarchyEqualsGreedyDecodingOfTheTarget() throws {
    let models = [Self.table(6, seed: 7), Self.table(6, seed: 8), Self.table(6, seed: 9)]
    let options = GenerationOptions(maxTokens: 40)
    let plain = try Generator(model: models[2]).generate(prompt: [3], options: options)
    let decoder = try Self.hierarchy(
      models, options: options.sampling, gammas: (2, 4), choices: SeededChoices(seed: 0))
    let result = try decoder.generate(prompt: [3], options: options)
    #expect(result.generation.tokens == plain.tokens)
    #expect(result.levels.count == 2)
    #expect(result.levels[0].emitted >= 40 && result.levels[0].proposed >= result.levels[0].accepted)
    // A draft equal to the verifier is always accepted.
    let same = [models[2], models[2], models[2]]
    let exact = try Self.hierarchy(same, options: options.sampling, gammas: (2, 4), choices: SeededChoices(seed: 0))
    let agreed = try exact.generate(prompt: [3], options: options)
    #expect(agreed.generation.tokens == plain.tokens)
    #expect(agreed.levels.allSatisfy { $0.accepted == $0.proposed })
  }

  /// A draft keeps the rows of its own proposals: k tokens cost k passes of one new token each, and they
  /// are the greedy continuation a fresh level computes token by token.
  @Test func aDraftFeedsEachProposalOnce() throws {
    let model = Self.table(6, seed: 10)
    let level = DecodingLevel(model: model, sampling: SamplingOptions(), choices: SeededChoices(seed: 0))
    let prompt = [3, 1, 4]
    try level.prefill(prompt)
    let (passes, fed) = (level.forwardPasses, level.fedTokens)
    let drafted = try level.propose(after: prompt, count: 4).map(\.token)
    #expect(level.forwardPasses - passes == 4)
    #expect(level.fedTokens - fed == 4)
    var expected: [Int] = []
    for _ in 0..<4 {
      let fresh = DecodingLevel(model: model, sampling: SamplingOptions(), choices: SeededChoices(seed: 0))
      expected.append(try fresh.score(after: prompt + expected, extra: []).last?.argmax ?? -1)
    }
    #expect(drafted == expected)
    // A shorter context than the held one rolls the proposals back.
    let again = try level.propose(after: prompt, count: 2).map(\.token)
    #expect(again == Array(expected.prefix(2)))
  }
}

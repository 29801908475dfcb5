import Foundation
import Kernels
import LMCore
import TestSupport
import Testing

@testable import Generation
@testable import TensorCore

/// A bigram model: the logits after token t are row t of a table. One dummy cache layer.
final class BigramModel: AttentionLanguageModel {
  let table: Tensor
  var vocabularySize: Int { table.shape[0] }
  let contextLength: Int
  let layerCount = 1
  let keyValueShape = (heads: 1, headDimensions: 1)
  var calls: [Int] = []

  init(table: Tensor, contextLength: Int = 64) {
    self.table = table
    self.contextLength = contextLength
  }

  func logits(_ ids: Tensor, state: DecodingState?) throws -> Tensor {
    calls.append(ids.shape[1])
    if let state {
      let kv = Tensor.zeros([ids.shape[0], 1, ids.shape[1], 1])
      try state.attention(0).append(keys: kv, values: kv)
    }
    return try table.embedding(ids)
  }
}

@Suite struct GeneratorTests {
  /// Token i prefers i+1 (mod V), then i+2.
  func chainModel(vocabulary v: Int = 6) -> BigramModel {
    var rows: [Float] = []
    for i in 0..<v {
      for j in 0..<v { rows.append(j == (i + 1) % v ? 3 : (j == (i + 2) % v ? 2 : 0)) }
    }
    return BigramModel(table: Tensor(rows, shape: [v, v]))
  }

  @Test func greedyFollowsTheArgmaxChainWithOnePrefillAndOneStepPerToken() throws {
    let model = chainModel()
    let result = try Generator(model: model).generate(prompt: [0, 1], options: GenerationOptions(maxTokens: 5))
    #expect(result.tokens == [2, 3, 4, 5, 0])
    #expect(model.calls == [2, 1, 1, 1, 1])
    #expect(result.stopReason == .length)
  }

  @Test func stopTokensStringsAndContextLimits() throws {
    let model = chainModel()
    let byToken = try Generator(model: model).generate(
      prompt: [0], options: GenerationOptions(maxTokens: 10, stopTokens: [3]))
    #expect(byToken.tokens == [1, 2])
    #expect(byToken.stopReason == .stopToken)
    let decode = { (ids: [Int]) in ids.map { String(UnicodeScalar(UInt8(97 + $0))) }.joined() }
    let byString = try Generator(model: model).generate(
      prompt: [0], options: GenerationOptions(maxTokens: 10, stopStrings: ["de"]), decode: decode)
    #expect(byString.text == "bc")
    #expect(byString.stopReason == .stopString)
    let small = BigramModel(table: model.table, contextLength: 4)
    let full = try Generator(model: small).generate(prompt: [0, 1], options: GenerationOptions(maxTokens: 10))
    #expect(full.tokens.count == 3 && full.stopReason == .contextFull)
    #expect(throws: GenerationError.self) {
      try Generator(model: small).generate(prompt: [0, 1, 2, 3, 4], options: GenerationOptions(maxTokens: 1))
    }
    #expect(throws: GenerationError.self) {
      try Generator(model: small).generate(prompt: [9], options: GenerationOptions(maxTokens: 1))
    }
  }

  /// Top-p over a large vocabulary (ranked a few at a time) keeps exactly the set a full ranking keeps.
  @Test(arguments: [(Float(0.9), 0), (0.5, 0), (0.999, 0), (0.95, 100), (0.9, 30)])
  func nucleusOfALargeVocabularyMatchesAFullRanking(topP: Float, topK: Int) {
    var state: UInt64 = 17
    let logits: [Float] = (0..<4096).map { i in
      state = state &* 6_364_136_223_846_793_005 &+ 1_442_695_040_888_963_407
      // Heavy ties and a long flat tail, so that the nucleus spans several widening steps.
      return i % 7 == 0 ? 1.5 : Float(state >> 40) / Float(1 << 24) * 6
    }
    let options = SamplingOptions(temperature: 0.6, topK: topK, topP: topP)
    let fast = Sampler(options).distribution(logits: logits)
    // Reference: probabilities, optional top-k, then the smallest head of the full descending ranking
    // (ties by index) whose mass, summed in double precision, reaches topP of the total.
    var probs = VectorMath.exponentials(of: logits, minus: logits.max()!, times: 1 / 0.6).values
    var ranked = probs.indices.sorted { probs[$0] > probs[$1] || (probs[$0] == probs[$1] && $0 < $1) }
    if topK > 0 {
      ranked = Array(ranked.prefix(topK))
      for i in probs.indices where !ranked.contains(i) { probs[i] = 0 }
    }
    let total = probs.reduce(0.0) { $0 + Double($1) }
    var kept: Set<Int> = []
    var cumulative = 0.0
    for i in ranked where probs[i] > 0 {
      kept.insert(i)
      cumulative += Double(probs[i])
      if cumulative >= Double(topP) * total { break }
    }
    #expect(Set(fast.indices.filter { fast[$0] > 0 }) == kept)
    if topK == 0 || topK > 64 { #expect(kept.count > 64, "the nucleus should need more than one ranking step") }
  }

  @Test func samplingIsSeededAndTruncationsKeepTheRightSets() throws {
    let logits: [Float] = [2, 1.5, 1, 0.5, 0, -5]
    let topK = Sampler(SamplingOptions(temperature: 1, topK: 2)).distribution(logits: logits)
    #expect(topK.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 1])
    let e = logits.map { Foundation.exp(Double($0)) }
    #expect(abs(Double(topK[0]) - e[0] / (e[0] + e[1])) < 1e-6)
    // Top-p 0.6: probabilities are about .40 .24 .15 .09 .05 .0003 -> the first two reach 0.6.
    let topP = Sampler(SamplingOptions(temperature: 1, topP: 0.6)).distribution(logits: logits)
    #expect(topP.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 1])
    let minP = Sampler(SamplingOptions(temperature: 1, minP: 0.3)).distribution(logits: logits)
    #expect(minP.enumerated().filter { $0.element > 0 }.map(\.offset) == [0, 1, 2])
    let penalised = Sampler(SamplingOptions(repetitionPenalty: 2)).distribution(logits: logits, context: [0])
    #expect(penalised[1] == 1)  // 2/2 = 1 < 1.5: token 1 wins greedy once token 0 is penalised
    var a = Sampler(SamplingOptions(temperature: 1, seed: 9))
    var b = Sampler(SamplingOptions(temperature: 1, seed: 9))
    let drawsA = (0..<50).map { _ in a.sample(logits: logits) }
    let drawsB = (0..<50).map { _ in b.sample(logits: logits) }
    #expect(drawsA == drawsB)
    // Empirical frequencies follow the softmax (chi-square-like bound on 20k draws).
    var s = Sampler(SamplingOptions(temperature: 1, seed: 3))
    var counts = [Int](repeating: 0, count: 6)
    for _ in 0..<20_000 { counts[s.sample(logits: logits)] += 1 }
    let total = e.reduce(0, +)
    for i in 0..<5 {
      let p = e[i] / total
      let sd = (p * (1 - p) * 20_000).squareRoot()
      #expect(abs(Double(counts[i]) - p * 20_000) < 5 * sd + 1, "token \(i)")
    }
    #expect(throws: SamplingError.self) { try SamplingOptions(topP: 0).validate() }
  }
}

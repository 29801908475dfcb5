import LMCore
import Models
import TestSupport
import Testing

@testable import Generation
@testable import TensorCore

/// Batched decoding against single-sequence decoding of the same prompts.
@Suite struct BatchedGenerationTests {
  static func llama(vocabulary: Int = 64) throws -> Llama {
    var rng = RandomGenerator(seed: 31)
    let config = LlamaConfiguration(
      vocabularySize: vocabulary, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, kvHeads: 2,
      contextLength: 48, ropeTheta: 1000)
    return try Llama(config, generator: &rng)
  }

  /// Prompts of different lengths; two share a prefix with the first.
  static let prompts: [[Int]] = [
    [5, 9, 2, 33, 7, 1, 40], [5, 9, 2, 33, 60], [12], [5, 9, 2, 33, 7, 1, 40, 3, 3, 8, 21], [44, 2, 9],
    [7, 7, 7, 7, 7, 7], [30, 31],
  ]

  static func single(_ model: any LanguageModel, _ prompt: [Int], _ options: GenerationOptions) throws -> [Int] {
    try GenerationSession(options: options).run(PlainDecoder(model: model, sampling: options.sampling), prompt: prompt)
      .tokens
  }

  @Test(arguments: [1, 3, 7, 20])
  func batchedGreedyRowsEqualSingleSequenceGreedyRowByRow(batch: Int) throws {
    let model = try Self.llama()
    let options = GenerationOptions(maxTokens: 12)
    let results = try BatchedGenerator(model: model, batchSize: batch).generate(prompts: Self.prompts, options: options)
    #expect(results.count == Self.prompts.count)
    for (prompt, result) in zip(Self.prompts, results) {
      #expect(result.tokens == (try Self.single(model, prompt, options)), "prompt \(prompt)")
      #expect(result.promptTokens == prompt.count)
    }
  }

  @Test func eachRowStopsOnItsOwnAndAFullContextEndsOnlyItsRow() throws {
    let model = try Self.llama()
    // The first row's greedy continuation holds a token that ends it early.
    let free = try Self.single(model, Self.prompts[0], GenerationOptions(maxTokens: 12))
    let stop = free[3]
    let options = GenerationOptions(maxTokens: 40, stopTokens: [stop])
    let results = try BatchedGenerator(model: model, batchSize: 4).generate(prompts: Self.prompts, options: options)
    let first = try #require(free.firstIndex(of: stop))
    #expect(results[0].tokens == Array(free[..<first]) && results[0].stopReason == .stopToken)
    for (prompt, result) in zip(Self.prompts, results) {
      #expect(result.tokens == (try Self.single(model, prompt, options)), "prompt \(prompt)")
      // Context 48: a row that never meets the stop token ends when its context is full.
      if result.stopReason == .contextFull { #expect(prompt.count + result.tokens.count == 49) }
    }
  }

  @Test func batchedLogitsEqualSingleSequenceLogitsAtDifferentPositions() throws {
    let model = try Self.llama()
    let states = Self.prompts.map { _ in model.makeState(capacity: 24) }
    let singles = Self.prompts.map { _ in model.makeState(capacity: 24) }
    for (i, prompt) in Self.prompts.enumerated() {
      let ids = Tensor(indices: prompt, shape: [1, prompt.count])
      _ = try model.lastLogits(ids, state: states[i])
      _ = try model.lastLogits(ids, state: singles[i])
    }
    let tokens = Self.prompts.indices.map { $0 * 5 % 64 }
    let batched = try withoutGradients { try model.batchedLastLogits(tokens, states: states) }
    #expect(batched.shape == [Self.prompts.count, 64])
    let expected = try zip(tokens, singles).flatMap { token, state in
      try model.lastLogits(Tensor(indices: [token], shape: [1, 1]), state: state).floats
    }
    let worst = zip(batched.floats, expected).map { abs($0 - $1) }.max() ?? .infinity
    #expect(worst <= 2e-5, "batched vs single logits differ by \(worst)")
    #expect(zip(states, singles).allSatisfy { $0.position == $1.position })
  }

  @Test func sampledRowsFollowTheirOwnSeededSamplers() throws {
    // A model whose logits do not depend on rounding: a bigram table (same samples whatever the batch).
    var rows: [Float] = []
    for i in 0..<8 { for j in 0..<8 { rows.append(Float((i * 3 + j * 5) % 7) * 0.4) } }
    let model = BigramModel(table: Tensor(rows, shape: [8, 8]))
    let options = GenerationOptions(maxTokens: 9, sampling: SamplingOptions(temperature: 1, seed: 77))
    let prompts = [[1, 2], [3], [4, 5, 6], [0]]
    let results = try BatchedGenerator(model: model, batchSize: 2).generate(prompts: prompts, options: options)
    for (prompt, result) in zip(prompts, results) {
      #expect(result.tokens == (try Self.single(model, prompt, options)))
    }
  }

  @Test func badBatchesAreOneClearError() throws {
    let model = try Self.llama()
    #expect(throws: GenerationError.self) { try BatchedGenerator(model: model, batchSize: 0) }
    let generator = try BatchedGenerator(model: model, batchSize: 2)
    #expect(throws: GenerationError.self) {
      try generator.generate(prompts: [], options: GenerationOptions(maxTokens: 2))
    }
    let error = #expect(throws: GenerationError.self) {
      try generator.generate(prompts: [[1], [99]], options: GenerationOptions(maxTokens: 2))
    }
    #expect(error?.description.hasPrefix("prompt 2:") == true)
  }
}

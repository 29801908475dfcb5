import Foundation
import Generation
import LMCore
import Models
import Testing

@testable import TensorCore
@testable import TriForce

/// Tiny random Llamas (grouped-query attention, spread-out logits so greedy choices are not near ties).
enum TinyModels {
  static func llama(
    seed: UInt64, vocabulary: Int = 64, width: Int = 32, layers: Int = 2, heads: Int = 4, kvHeads: Int = 2,
    context: Int = 512
  ) throws -> Llama {
    var g = RandomGenerator(seed: seed)
    let model = try Llama(
      LlamaConfiguration(
        vocabularySize: vocabulary, hiddenSize: width, intermediateSize: 2 * width, layers: layers, heads: heads,
        kvHeads: kvHeads, contextLength: context, ropeTheta: 10_000),
      generator: &g)
    var scaled: [String: Tensor] = [:]
    for (path, tensor) in model.parameters() where path.contains("embed_tokens") || path.contains("lm_head") {
      scaled[path] = try tensor * Tensor(scalar: 40)
    }
    try model.update(parameters: scaled)
    return model
  }

  static func prompt(_ count: Int, vocabulary: Int = 64, seed: UInt64 = 5) -> [Int] {
    var g = RandomGenerator(seed: seed)
    return (0..<count).map { _ in Int(g.next() % UInt64(vocabulary)) }
  }
}

@Suite struct TriForceTests {
  @Test(arguments: [(40, 16), (100, 32), (100, 96), (200, 1024)])
  func greedyTriForceEqualsGreedyDecoding(context: Int, budget: Int) throws {
    let target = try TinyModels.llama(seed: 1)
    let draft = try TinyModels.llama(seed: 2, width: 16, layers: 1, heads: 2, kvHeads: 1)
    let prompt = TinyModels.prompt(context)
    let options = GenerationOptions(maxTokens: 40)
    let plain = try Generator(model: target).generate(prompt: prompt, options: options)
    let configuration = TriForceConfiguration(
      budget: budget, chunk: 4, draftLength: 2, middleLength: 4, sinks: 4, draftCache: 48)
    let triforce = try TriForceDecoder(target: target, draft: draft, configuration: configuration)
    for method in DecodingMethod.allCases {
      let run = try triforce.run(method, prompt: prompt, options: options)
      #expect(run.tokens == plain.tokens, "\(method.rawValue) at context \(context), budget \(budget)")
    }
    // With the target as its own draft and a budget covering the context, every token is accepted.
    if budget >= context {
      let selfDraft = try TriForceDecoder(target: target, draft: target, configuration: configuration)
      let run = try selfDraft.run(.retrievalOnly, prompt: prompt, options: options)
      #expect(run.levels.first.map { $0.accepted == $0.proposed } == true)
    }
  }

  @Test func retrievalCacheWithBudgetCoveringTheContextReproducesFullAttentionExactly() throws {
    let target = try TinyModels.llama(seed: 3)
    let prompt = TinyModels.prompt(61)
    let sampling = SamplingOptions(temperature: 1)
    let choices = SeededChoices(seed: 11)
    let full = try target.makeQueryRecordingState(capacity: 128)
    let top = DecodingLevel(model: target, state: full, sampling: sampling, choices: choices)
    try top.prefill(prompt)
    let middle = DecodingLevel(model: target, sampling: sampling, choices: choices)
    try middle.replaceState(
      try RetrievalCache(budget: 64, chunk: 8).build(from: full, extraCapacity: 16), tokens: top.tokens)
    let extra = [3, 9, 27]
    let a = try top.score(after: prompt, extra: extra).map { $0.distribution ?? [] }
    let b = try middle.score(after: prompt, extra: extra).map { $0.distribution ?? [] }
    #expect(a == b)
  }

  @Test func retrievalSelectionMatchesBruteForce() throws {
    let target = try TinyModels.llama(seed: 4)
    let prompt = TinyModels.prompt(77)
    let full = try target.makeQueryRecordingState(capacity: 80)
    _ = try target.logits(Tensor(indices: prompt, shape: [1, prompt.count]), state: full)
    let builder = try RetrievalCache(budget: 37, chunk: 8)
    let sparse = try builder.build(from: full, extraCapacity: 0)
    // 77 rows: 9 full chunks and a tail of 5; the budget keeps (37 - 5) / 8 = 4 chunks and the tail.
    #expect(try sparse.attention(0).length == 4 * 8 + 5)
    #expect(sparse.position == 77)
    for layer in 0..<target.layerCount {
      let keys = try full.attention(layer).heldRows().keys.contiguous().floats  // [1, G, 77, D]
      let query = try #require(full.lastQueries?[layer]).contiguous().floats  // [1, H, 1, D]
      let kept = try sparse.attention(layer).heldRows().keys.contiguous().floats
      let (g, d, h) = (2, 8, 4)
      for head in 0..<g {
        var scores: [Float] = []
        for c in 0..<9 {
          var score: Float = 0
          for j in 0..<d {
            var mean: Float = 0
            for r in 0..<8 { mean += keys[(head * 77 + c * 8 + r) * d + j] }
            var q: Float = 0
            for member in 0..<(h / g) { q += query[(head * (h / g) + member) * d + j] }
            score += mean / 8 * q
          }
          scores.append(score)
        }
        let best = (1..<9).sorted { scores[$0] > scores[$1] }.prefix(3)
        let rows = ([0] + best).sorted().flatMap { ($0 * 8)..<($0 * 8 + 8) } + Array(72..<77)
        let expected = rows.flatMap { r in (0..<d).map { keys[(head * 77 + r) * d + $0] } }
        let got = Array(kept[(head * 37 * d)..<((head + 1) * 37 * d)])
        #expect(got == expected, "layer \(layer) head \(head)")
      }
    }
  }

  /// Drives the production ``RetrievalRefresh`` (what ``TriForceDecoder/run`` calls after every round) with
  /// and without periodic rebuilds.
  @Test(arguments: [nil, 16] as [Int?])
  func afterARunTheFullCacheEqualsAFreshPrefillAndTheRetrievalTailCopiesIt(rebuildStride: Int?) throws {
    let target = try TinyModels.llama(seed: 6)
    let draft = try TinyModels.llama(seed: 7, width: 16, layers: 1, heads: 2, kvHeads: 1)
    let prompt = TinyModels.prompt(90)
    let options = GenerationOptions(maxTokens: 40, sampling: SamplingOptions(temperature: 3, seed: 3))
    let choices = SeededChoices(seed: 11)
    let full = try target.makeQueryRecordingState(capacity: 160)
    let top = DecodingLevel(model: target, state: full, sampling: options.sampling, choices: choices)
    try top.prefill(prompt)
    let builder = try RetrievalCache(budget: 8, chunk: 4)
    let middle = DecodingLevel(model: target, sampling: options.sampling, choices: choices)
    try middle.replaceState(try builder.build(from: full, extraCapacity: 64), tokens: top.tokens)
    full.setRecordingQueries(rebuildStride != nil)
    let bottom = DecodingLevel(model: draft, sampling: options.sampling, choices: choices)
    try bottom.prefill(prompt)
    let inner = try SpeculativeDecoder(draft: bottom, verifier: middle, draftLength: 2, choices: choices)
    let decoder = try SpeculativeDecoder(draft: inner, verifier: top, draftLength: 4, choices: choices)
    let refresh = RetrievalRefresh(
      top: top, middle: middle, builder: builder, rebuildStride: rebuildStride, slack: 64,
      copiedThrough: top.tokens.count, lastRebuild: prompt.count)
    var last: [Int] = []
    let result = try decoder.generate(
      prompt: prompt, options: options, prefill: false,
      onRound: { context in
        last = context
        try refresh(context)
      })
    let sequence = prompt + result.generation.tokens
    #expect(result.levels[0].proposed > result.levels[0].accepted, "the test needs rejections to exercise rollback")
    if rebuildStride == nil {
      #expect(refresh.rebuilds == 0)
    } else {
      #expect(refresh.rebuilds > 0, "the test needs a rebuild during the run")
    }
    // After the last round the retrieval cache stands for the whole sequence but its last token.
    #expect(middle.tokens == Array(last.dropLast()))
    #expect(refresh.copiedThrough == last.count - 1)
    // Roll the full cache back to the committed tokens (the level does this on its next call).
    try top.rollback(to: min(top.tokens.count, sequence.count - 1))
    let fresh = target.makeState(capacity: 160)
    _ = try target.logits(
      Tensor(indices: Array(sequence[..<top.tokens.count]), shape: [1, top.tokens.count]), state: fresh)
    #expect(Array(sequence[..<top.tokens.count]) == top.tokens)
    for layer in 0..<target.layerCount {
      let a = try full.attention(layer).heldRows().keys.contiguous().floats
      let b = try fresh.attention(layer).heldRows().keys.contiguous().floats
      #expect(a.count == b.count && zip(a, b).allSatisfy { abs($0 - $1) <= 1e-4 * max(1, abs($1)) })
      // The retrieval cache's rows after its latest selection are the full cache's rows, copied.
      let retrieval = try middle.state.attention(layer)
      let tail = retrieval.length - retrieval.fixedRows
      let sparse = try retrieval.heldRows().keys.sliced(axis: 2, retrieval.fixedRows..<retrieval.length)
        .contiguous().floats
      let end = middle.state.position
      let dense = try full.attention(layer).keys.sliced(axis: 2, (end - tail)..<end).contiguous().floats
      #expect(sparse == dense, "layer \(layer)")
      // Its selected rows are rows of the full cache (head by head), wherever the selection was made.
      let (g, d) = (2, 8)
      let selected = try retrieval.heldRows().keys.contiguous().floats  // [1, G, length, D]
      for head in 0..<g {
        let source = Set(
          (0..<full.position).map { r in
            Array(a[((head * full.position + r) * d)..<((head * full.position + r + 1) * d)])
          })
        let rows = (0..<retrieval.fixedRows).map { r in
          Array(selected[((head * retrieval.length + r) * d)..<((head * retrieval.length + r + 1) * d)])
        }
        #expect(rows.allSatisfy { source.contains($0) }, "layer \(layer) head \(head)")
      }
    }
  }

  @Test func greedyTriForceWithRetrievalRebuildsEqualsGreedyDecoding() throws {
    let target = try TinyModels.llama(seed: 1)
    let draft = try TinyModels.llama(seed: 2, width: 16, layers: 1, heads: 2, kvHeads: 1)
    let prompt = TinyModels.prompt(100)
    let options = GenerationOptions(maxTokens: 40)
    let plain = try Generator(model: target).generate(prompt: prompt, options: options)
    let configuration = TriForceConfiguration(
      budget: 32, chunk: 4, draftLength: 2, middleLength: 4, sinks: 4, draftCache: 48, rebuildStride: 8)
    let triforce = try TriForceDecoder(target: target, draft: draft, configuration: configuration)
    for method in [DecodingMethod.triforce, .retrievalOnly] {
      let run = try triforce.run(method, prompt: prompt, options: options)
      #expect(run.tokens == plain.tokens, "\(method.rawValue)")
      // A round adds at most γ2 + 1 = 5 tokens, so rebuilds come at most 8 + 4 tokens apart and the last one
      // within 8 tokens of the end: over 40 new tokens, at least 3.
      #expect(run.rebuilds >= 3, "\(method.rawValue) rebuilt \(run.rebuilds) times")
    }
  }

  @Test func streamingWindowKeepsSinksAndEqualsFullAttentionWhileNothingIsEvicted() throws {
    let model = try TinyModels.llama(seed: 8)
    let prompt = TinyModels.prompt(150)
    let sampling = SamplingOptions()
    let choices = SeededChoices(seed: 11)
    let window = try StreamingWindow(sinks: 4, maximumPass: 16)
    let wide = DecodingLevel(
      model: model, state: window.makeState(for: model, window: 300), sampling: sampling, policy: window,
      choices: choices)
    let dense = DecodingLevel(model: model, sampling: sampling, choices: choices)
    #expect(
      try wide.propose(after: prompt, count: 20).map(\.token) == dense.propose(after: prompt, count: 20).map(\.token))
    let narrow = DecodingLevel(
      model: model, state: window.makeState(for: model, window: 40), sampling: sampling, policy: window,
      choices: choices)
    _ = try narrow.propose(after: prompt, count: 5)
    let narrowCache = try narrow.state.attention(0)
    #expect(narrowCache.omittedPositions > 0)
    // Sinks and at least the window of recent rows; at most the window and its slack.
    #expect(narrowCache.length >= 44 && narrowCache.length <= 44 + window.slack)
    for layer in 0..<model.layerCount {
      let sinks = try narrow.state.attention(layer).heldRows().keys.sliced(axis: 2, 0..<4).contiguous().floats
      let reference = try dense.state.attention(layer).heldRows().keys.sliced(axis: 2, 0..<4).contiguous().floats
      #expect(zip(sinks, reference).allSatisfy { abs($0 - $1) <= 1e-5 })
    }
  }
}

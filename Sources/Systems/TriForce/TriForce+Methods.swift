import Foundation
import Generation
import LMCore
import TensorCore

/// The decoding methods compared in the paper's tables, all on the same kernels.
public enum DecodingMethod: String, CaseIterable, Sendable {
  /// Plain decoding with the target's full cache.
  case autoregressive
  /// Draft with a StreamingLLM cache → target with its full cache (the paper's naive baseline).
  case draftOnly = "draft-only"
  /// Target with the retrieval cache → target with its full cache (self-speculation, no draft).
  case retrievalOnly = "retrieval-only"
  /// Draft → target with a StreamingLLM cache of the budget's size → target with its full cache.
  case streamingMiddle = "streaming-middle"
  /// Draft → target with the retrieval cache → target with its full cache.
  case triforce
}

/// The outcome of one decoding run.
public struct DecodingRun: Sendable {
  /// Which method ran.
  public var method: DecodingMethod
  /// New tokens (without the prompt or a stop token).
  public var tokens: [Int]
  /// Decoded text, when a decoder was given.
  public var text: String?
  /// Why it ended.
  public var stopReason: StopReason
  /// Seconds spent prefilling and building caches.
  public var setupSeconds: Double
  /// Seconds of decoding.
  public var decodeSeconds: Double
  /// Counts per verification level, top (full cache) first; empty for autoregressive decoding.
  public var levels: [SpeculationStatistics]
  /// Retrieval-cache rebuilds during decoding.
  public var rebuilds: Int
  /// Forward passes during decoding, their seconds and the tokens they fed, per level, top (full cache)
  /// first (prefill passes excluded).
  public var passes: [(passes: Int, seconds: Double, tokens: Int)] = []
  /// New tokens per second of decoding.
  public var tokensPerSecond: Double { decodeSeconds > 0 ? Double(tokens.count) / decodeSeconds : 0 }
  /// Acceptance at the full-cache verification (α2 for TriForce; the only level of two-level methods).
  public var topAcceptance: Double? { levels.first?.acceptanceRate }
  /// Acceptance of draft tokens by the middle level (α1), for three-level methods.
  public var draftAcceptance: Double? { levels.count > 1 ? levels[1].acceptanceRate : nil }
}

extension Array where Element == DecodingRun {
  /// Forward passes, their seconds and the tokens they fed per level (top first), summed over the runs,
  /// for the levels every run has.
  public var pooledPasses: [(passes: Int, seconds: Double, tokens: Int)] {
    let depth = map(\.passes.count).min() ?? 0
    return (0..<depth).map { level in
      reduce(into: (passes: 0, seconds: 0.0, tokens: 0)) { total, run in
        total.passes += run.passes[level].passes
        total.seconds += run.passes[level].seconds
        total.tokens += run.passes[level].tokens
      }
    }
  }
}

/// The target's full cache after a prompt (all but its last token) and the last token's queries, so that
/// several runs on one prompt share one prefill.
public struct PromptPrefill {
  /// The prompt.
  public let prompt: [Int]
  /// Keys and values per layer, [1, G, prompt.count - 1, D].
  let keys: [Tensor]
  let values: [Tensor]
  /// The last prompt token's query row per layer.
  let queries: [Tensor]
  /// Seconds the prefill took.
  public let seconds: Double

  /// The last prompt token's query row per layer (what the retrieval cache scores chunks against).
  public var lastQueries: [Tensor] { queries }

  /// A new dense state of `model` holding this prefill, with room for `extraCapacity` more rows.
  public func state(of model: LanguageModel, extraCapacity: Int) throws -> DecodingState {
    let state = model.makeState(batch: 1, capacity: prompt.count - 1 + extraCapacity)
    try load(into: state)
    return state
  }

  /// Loads this prefill into `state` (every layer attention keys and values).
  func load(into state: DecodingState) throws {
    for layer in state.layers.indices {
      try state.attention(layer).load(keys: keys[layer], values: values[layer], position: prompt.count - 1)
    }
  }
}

extension TriForceDecoder {
  /// Prefills the target's full cache with `prompt` once, for ``run(_:prompt:options:prefilled:text:onToken:onText:)``.
  public func prefill(_ prompt: [Int]) throws -> PromptPrefill {
    try checkPrompt(prompt, maxTokens: 1)
    let clock = ContinuousClock()
    let start = clock.now
    let state = try target.makeQueryRecordingState(capacity: prompt.count)
    let level = DecodingLevel(model: target, state: state, sampling: SamplingOptions(), choices: SeededChoices(seed: 0))
    try level.prefill(prompt)
    let rows = try state.layers.indices.map { try state.attention($0).heldRows() }
    return PromptPrefill(
      prompt: prompt, keys: rows.map { $0.keys.contiguous() }, values: rows.map { $0.values.contiguous() },
      queries: state.lastQueries ?? [], seconds: (clock.now - start).seconds)
  }

  /// Runs `method` on `prompt`; every method samples the target's distribution under `options`. With
  /// `prefilled` (for the same prompt) the target's prefill is copied instead of recomputed; its time still
  /// counts in ``DecodingRun/setupSeconds``.
  public func run(
    _ method: DecodingMethod, prompt: [Int], options: GenerationOptions, prefilled: PromptPrefill? = nil,
    text: (any IncrementalDecoder)? = nil, onToken: ((Int) -> Void)? = nil, onText: ((String) -> Void)? = nil
  ) throws -> DecodingRun {
    try options.sampling.validate()
    try checkPrompt(prompt, maxTokens: options.maxTokens)
    let clock = ContinuousClock()
    let start = clock.now
    let choices = SeededChoices(seed: options.sampling.seed)
    let c = configuration
    let sampling = options.sampling
    let full = try target.makeQueryRecordingState(
      capacity: min(target.contextLength, prompt.count + options.maxTokens + c.middleLength + c.draftLength + 4))
    full.setRecordingQueries(method == .triforce || method == .retrievalOnly)
    let top = DecodingLevel(model: target, state: full, sampling: sampling, choices: choices)
    var queries: [Tensor]?
    if let prefilled, prefilled.prompt == prompt {
      try prefilled.load(into: full)
      try top.replaceState(full, tokens: Array(prompt.dropLast()))
      queries = prefilled.queries
    } else {
      try top.prefill(prompt)
    }
    let prefillSeconds = prefilled?.prompt == prompt ? prefilled?.seconds ?? 0 : 0
    if method == .autoregressive {
      return try autoregressive(
        top, prompt: prompt, options: options, setup: (clock.now - start).seconds,
        choices: choices, text: text, onToken: onToken, onText: onText)
    }
    let retrieval = try RetrievalCache(budget: c.budget, chunk: c.chunk)
    var middle: DecodingLevel?
    if method == .triforce || method == .retrievalOnly {
      let level = DecodingLevel(model: target, sampling: sampling, choices: choices)
      try level.replaceState(
        try retrieval.build(from: full, queries: queries, extraCapacity: retrievalSlack(options.maxTokens)),
        tokens: top.tokens)
      middle = level
    } else if method == .streamingMiddle {
      let window = try StreamingWindow(sinks: c.sinks, maximumPass: max(1, c.budget / 2))
      middle = DecodingLevel(
        model: target, state: window.makeState(for: target, window: c.budget - c.sinks), sampling: sampling,
        policy: window, choices: choices)
      try middle?.prefill(prompt)
    }
    full.setRecordingQueries(c.rebuildStride != nil && method != .streamingMiddle)
    var bottom: DecodingLevel?
    if method != .retrievalOnly {
      let window = try StreamingWindow(sinks: c.sinks, maximumPass: c.draftPass)
      bottom = DecodingLevel(
        model: draft, state: window.makeState(for: draft, window: c.draftCache - c.sinks), sampling: sampling,
        policy: window, choices: choices)
      try bottom?.prefill(prompt)
    }
    let setup = prefillSeconds + (clock.now - start).seconds
    let levels = [top, middle, bottom].compactMap { $0 }
    let setupPasses = levels.map { ($0.forwardPasses, $0.passSeconds, $0.fedTokens) }

    let decoder: SpeculativeDecoder
    switch (bottom, middle) {
    case (let bottom?, let middle?):
      let inner = try SpeculativeDecoder(draft: bottom, verifier: middle, draftLength: c.draftLength, choices: choices)
      decoder = try SpeculativeDecoder(draft: inner, verifier: top, draftLength: c.middleLength, choices: choices)
    case (let bottom?, nil):
      decoder = try SpeculativeDecoder(draft: bottom, verifier: top, draftLength: c.middleLength, choices: choices)
    case (nil, let middle?):
      decoder = try SpeculativeDecoder(draft: middle, verifier: top, draftLength: c.middleLength, choices: choices)
    case (nil, nil):
      throw TriForceError("no draft level for \(method.rawValue)")
    }
    // The retrieval cache follows the full cache after every round (copied rows, or a periodic rebuild).
    let refresh: RetrievalRefresh? =
      if let middle, method == .triforce || method == .retrievalOnly {
        RetrievalRefresh(
          top: top, middle: middle, builder: retrieval, rebuildStride: c.rebuildStride,
          slack: retrievalSlack(options.maxTokens), copiedThrough: top.tokens.count, lastRebuild: prompt.count)
      } else {
        nil
      }
    let result = try decoder.generate(
      prompt: prompt, options: options, prefill: false, text: text,
      onRound: { context in try refresh?(context) }, onToken: onToken, onText: onText)
    return DecodingRun(
      method: method, tokens: result.generation.tokens, text: result.generation.text,
      stopReason: result.generation.stopReason, setupSeconds: setup, decodeSeconds: result.decodeSeconds,
      levels: result.levels, rebuilds: refresh?.rebuilds ?? 0,
      passes: zip(levels, setupPasses).map {
        ($0.forwardPasses - $1.0, $0.passSeconds - $1.1, $0.fedTokens - $1.2)
      })
  }

  /// Plain decoding through the same level (kernels, cache and sampling) as the verifier.
  private func autoregressive(
    _ top: DecodingLevel, prompt: [Int], options: GenerationOptions, setup: Double, choices: RandomChoices,
    text: (any IncrementalDecoder)?, onToken: ((Int) -> Void)?, onText: ((String) -> Void)?
  ) throws -> DecodingRun {
    let (setupPasses, setupPassSeconds, setupTokens) = (top.forwardPasses, top.passSeconds, top.fedTokens)
    let result = try GenerationSession(options: options).run(
      LevelDecoder(top, choices: choices, prefillsLevel: false), prompt: prompt,
      text: text, onToken: onToken, onText: onText)
    let (produced, stop) = (result.tokens, result.stopReason)
    return DecodingRun(
      method: .autoregressive, tokens: produced, text: result.text, stopReason: stop, setupSeconds: setup,
      decodeSeconds: result.totalSeconds, levels: [], rebuilds: 0,
      passes: [(top.forwardPasses - setupPasses, top.passSeconds - setupPassSeconds, top.fedTokens - setupTokens)])
  }
}

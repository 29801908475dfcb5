import LMCore
import TensorCore

/// Batched generation: many prompts of different lengths decoded together, each sequence at its own position
/// in its own decoding state, one forward pass per step for all of them
/// (``LMCore/LanguageModel/batchedLastLogits(_:states:)``, which reads each weight once per step).
///
/// Batching is continuous: when a sequence stops (its own token limit, stop token, stop string or full
/// context), the next waiting prompt takes its place. No row is padded, so nothing needs masking. Each
/// sequence samples exactly as a single-sequence ``PlainDecoder`` with the same options would (its own
/// sampler, seeded alike), so a batched row equals the single-sequence run of its prompt. When the prompts
/// share a prefix, it is prefilled once and every sequence starts from a copy of that state.
public struct BatchedGenerator {
  /// The model.
  public let model: LanguageModel
  /// Most sequences decoded together.
  public let batchSize: Int

  /// A generator decoding up to `batchSize` sequences at once.
  public init(model: LanguageModel, batchSize: Int) throws {
    guard batchSize > 0 else { throw GenerationError("the batch size must be positive, got \(batchSize)") }
    self.model = model
    self.batchSize = batchSize
  }

  /// Throws a ``GenerationError`` when `prompt` is empty, longer than the model's context or holds an id
  /// outside its vocabulary: what ``generate(prompts:options:text:onFinish:)`` checks of every prompt first,
  /// for a caller that can say where a prompt came from.
  public func check(prompt: [Int]) throws {
    try checkPrompt(prompt, vocabularySize: model.vocabularySize, limit: model.contextLength)
  }

  /// Generates after each of `prompts` under `options`; results in prompt order. `text(i)` makes prompt
  /// i's text decoder (for stop strings and the result's text); `onFinish` sees each result as its
  /// sequence ends (in the order they end).
  public func generate(
    prompts: [[Int]], options: GenerationOptions, text: ((Int) -> (any IncrementalDecoder)?)? = nil,
    onFinish: ((Int, GenerationResult) -> Void)? = nil
  ) throws -> [GenerationResult] {
    guard !prompts.isEmpty else { throw GenerationError("there are no prompts to generate from") }
    try options.sampling.validate()
    guard options.maxTokens > 0 else {
      throw GenerationError("the token limit must be positive, got \(options.maxTokens)")
    }
    for (i, prompt) in prompts.enumerated() {
      do {
        try checkPrompt(prompt, vocabularySize: model.vocabularySize, limit: model.contextLength)
      } catch let error as GenerationError {
        throw GenerationError("prompt \(i + 1): \(error.description)")
      }
    }
    let clock = ContinuousClock()
    let start = clock.now
    let prefix = try sharedPrefix(of: prompts, options: options)
    var results = [GenerationResult?](repeating: nil, count: prompts.count)
    var waiting = Array(prompts.indices.reversed())
    var active: [Row] = []
    while !active.isEmpty || !waiting.isEmpty {
      while active.count < batchSize, let index = waiting.popLast() {
        let row = try Row(
          index: index, prompt: prompts[index], model: model, options: options, prefix: prefix,
          text: text?(index), clock: clock)
        active.append(row)
      }
      // Rows whose last token still has to go in; the others have their logits.
      let feeding = active.indices.filter { active[$0].needsFeeding }
      if !feeding.isEmpty {
        let logits = try withoutGradients {
          try model.batchedLastLogits(feeding.map { active[$0].lastToken }, states: feeding.map { active[$0].state })
        }
        let flat = logits.contiguous().floats
        let v = model.vocabularySize
        for (k, i) in feeding.enumerated() { active[i].logits = Array(flat[(k * v)..<((k + 1) * v)]) }
      }
      for i in active.indices { active[i].step() }
      for row in active where row.output.isFinished {
        var finished = row
        let result = finished.finish(clock: clock, start: start)
        results[row.index] = result
        onFinish?(row.index, result)
      }
      active.removeAll { $0.output.isFinished }
    }
    return results.compactMap { $0 }
  }

  /// The state after the prompts' longest common prefix (leaving every prompt at least one token of its
  /// own), when they share one.
  func sharedPrefix(of prompts: [[Int]], options: GenerationOptions) throws -> (tokens: Int, state: DecodingState)? {
    guard prompts.count > 1, let shortest = prompts.map(\.count).min(), shortest > 1 else { return nil }
    var shared = 0
    while shared < shortest - 1 && prompts.allSatisfy({ $0[shared] == prompts[0][shared] }) { shared += 1 }
    guard shared > 0 else { return nil }
    let longest = prompts.map(\.count).max() ?? 0
    // min(maxTokens, context) first: the same capacity, and no overflow for a huge token limit.
    let room = min(options.maxTokens, model.contextLength)
    let state = model.makeState(batch: 1, capacity: min(model.contextLength, longest + room))
    _ = try withoutGradients {
      try model.lastLogits(Tensor(indices: Array(prompts[0][..<shared]), shape: [1, shared]), state: state)
    }
    return (shared, state)
  }
}

/// One sequence of a batch.
private struct Row {
  let index: Int
  let promptCount: Int
  let state: DecodingState
  let capacity: Int
  var sampler: Sampler
  var context: [Int]
  var output: SequenceOutput
  var logits: [Float] = []
  let prefillSeconds: Double

  init(
    index: Int, prompt: [Int], model: LanguageModel, options: GenerationOptions,
    prefix: (tokens: Int, state: DecodingState)?, text: (any IncrementalDecoder)?, clock: ContinuousClock
  ) throws {
    let begin = clock.now
    self.index = index
    promptCount = prompt.count
    let shared = prefix?.tokens ?? 0
    capacity = min(model.contextLength, prompt.count + min(options.maxTokens, model.contextLength))
    let state = prefix?.state.snapshot() ?? model.makeState(batch: 1, capacity: capacity)
    let rest = Array(prompt[shared...])
    logits = try withoutGradients {
      try model.lastLogits(Tensor(indices: rest, shape: [1, rest.count]), state: state).floats
    }
    self.state = state
    sampler = Sampler(options.sampling)
    context = prompt
    output = SequenceOutput(options: options, text: text)
    prefillSeconds = (clock.now - begin).seconds
  }

  /// Whether the last sampled token has yet to be fed to get the next logits.
  var needsFeeding: Bool { !output.isFinished && logits.isEmpty }
  var lastToken: Int { context.last ?? 0 }

  /// Samples the next token from fresh logits and applies the stop rules; ends the row when its state has
  /// no room for the token to be fed (as ``PlainDecoder`` does).
  mutating func step() {
    guard !output.isFinished, !logits.isEmpty else { return }
    let token = sampler.sample(logits: logits, context: context)
    logits = []
    context.append(token)
    if output.take(token, onToken: nil, onText: nil), state.position >= capacity { output.end(.contextFull) }
  }

  mutating func finish(clock: ContinuousClock, start: ContinuousClock.Instant) -> GenerationResult {
    output.finish(onText: nil)
    let total = (clock.now - start).seconds
    let produced = output.produced
    return GenerationResult(
      promptTokens: promptCount, tokens: produced, text: output.text, stopReason: output.stopReason,
      timeToFirstToken: prefillSeconds, decodeTokensPerSecond: total > 0 ? Double(produced.count) / total : 0,
      prefillTokensPerSecond: prefillSeconds > 0 ? Double(promptCount) / prefillSeconds : 0,
      prefillSeconds: prefillSeconds, totalSeconds: total)
  }
}

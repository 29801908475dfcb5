import LMCore
import TensorCore

/// A token with the distribution it was drawn from (nil under greedy decoding, where the token is the argmax).
public struct Proposal: Equatable, Sendable {
  /// The token id.
  public var token: Int
  /// The processed distribution the token was drawn from; nil under greedy decoding.
  public var distribution: [Double]?

  /// Creates a proposal.
  public init(token: Int, distribution: [Double]?) {
    self.token = token
    self.distribution = distribution
  }
}

/// The next-token verdict of a model at one position: the greedy choice and, when sampling, the processed
/// distribution.
public struct TokenScores: Sendable {
  /// The greedy token (argmax of the processed logits, first on ties).
  public var argmax: Int
  /// The processed distribution (nil under greedy decoding).
  public var distribution: [Double]?
}

/// Something that proposes continuations of a token sequence: a model sampling on its own, or a whole
/// speculative decoder (whose proposals are exact samples of its verifier).
public protocol TokenProposer: AnyObject {
  /// At least `count` tokens continuing `context`, each with the distribution it was drawn from.
  func propose(after context: [Int], count: Int) throws -> [Proposal]
  /// Feeds `context` ahead of the first proposal (so that its cost is not counted as decoding).
  func prefill(_ context: [Int]) throws
  /// The most tokens ``propose(after:count:)`` can return for `count`.
  func maximumLength(forCount count: Int) -> Int
}

/// Rules for a cache that cannot hold the whole sequence (e.g. StreamingLLM's sinks and recent window).
public protocol CachePolicy: AnyObject {
  /// Most tokens one forward pass may append; longer catch-ups are fed in pieces.
  var maximumPass: Int { get }
  /// Makes room for `incoming` rows in every layer, dropping held rows if needed.
  func makeRoom(in state: DecodingState, incoming: Int) throws
}

/// One model with one decoding state, kept in step with a token sequence.
///
/// Every call names the full sequence (`context`); the level trims its state back to the longest prefix
/// it shares with that sequence (rejected drafts vanish this way) and feeds the tokens it has not seen,
/// always at least the last one, so the state holds the whole context except its last token between calls.
public final class DecodingLevel: TokenProposer {
  /// The model.
  public let model: LanguageModel
  /// The decoding state (dense, retrieval or windowed caches, recurrent states).
  public private(set) var state: DecodingState
  /// The sampling rules (the same processing for every level of a hierarchy).
  public let sampling: SamplingOptions
  /// Eviction rules of a windowed cache, if any.
  public let policy: CachePolicy?
  /// Token ids of positions 0 ..< state.position.
  public private(set) var tokens: [Int] = []
  /// Forward passes run.
  public private(set) var forwardPasses = 0
  /// Tokens fed through the model.
  public private(set) var fedTokens = 0
  /// Seconds spent in forward passes (for cost models such as TriForce's T_p, T_r, T_q).
  public private(set) var passSeconds = 0.0
  let processor: Sampler
  let choices: RandomChoices
  /// Most tokens of a dense cache's catch-up fed in one pass (a long prompt is prefilled in pieces).
  static let longestPass = 1024

  /// A level over `model` with `state` (default: a dense state of the model's context).
  public init(
    model: LanguageModel, state: DecodingState? = nil, sampling: SamplingOptions, policy: CachePolicy? = nil,
    choices: RandomChoices
  ) {
    self.model = model
    self.state = state ?? model.makeState()
    self.sampling = sampling
    self.policy = policy
    self.processor = Sampler(sampling)
    self.choices = choices
  }

  /// Whether tokens are chosen by argmax (temperature 0).
  public var isGreedy: Bool { sampling.temperature == 0 }

  /// Replaces the state by one that holds `tokens` (e.g. a retrieval cache built from a full one).
  public func replaceState(_ newState: DecodingState, tokens newTokens: [Int]) throws {
    guard newState.position == newTokens.count else {
      throw GenerationError("a state of \(newState.position) positions cannot stand for \(newTokens.count) tokens")
    }
    state = newState
    tokens = newTokens
  }

  /// Feeds `context` whole (a prefill), then forgets its last position so the next call can score it.
  public func prefill(_ context: [Int]) throws {
    guard !context.isEmpty else { throw GenerationError("the prompt is empty; give at least one token (e.g. BOS)") }
    _ = try score(after: context, extra: [])
    if state.position == context.count { try rollback(to: context.count - 1) }
  }

  /// The scores of the positions after `context` and after each of `extra` (extra.count + 1 rows), from one
  /// forward pass over the unseen tail of `context` and `extra` (more passes only for a windowed cache).
  public func score(after context: [Int], extra: [Int]) throws -> [TokenScores] {
    let rows = try scoreRows(after: context, extra: extra)
    return (0..<rows.count).map { rows[$0] }
  }

  /// ``score(after:extra:)`` whose rows are processed (temperature, top-p, ...) only when read: a verifier
  /// stops at the first rejected draft and never needs the rows after it.
  public func scoreRows(after context: [Int], extra: [Int]) throws -> ScoreRows {
    ScoreRows(level: self, logits: try feed(context: context, extra: extra), context: context, extra: extra)
  }

  /// The verdict on one row of logits, the position after `history` (which only the repetition penalty reads).
  func scores(of row: [Float], history: @autoclosure () -> [Int]) -> TokenScores {
    let penalised = sampling.repetitionPenalty != 1
    if isGreedy {
      let best =
        penalised ? Sampler.argmax(processor.distribution(logits: row, context: history())) : Sampler.argmax(row)
      return TokenScores(argmax: best ?? 0, distribution: nil)
    }
    let p = processor.distribution(logits: row, context: penalised ? history() : [])
    var total = 0.0
    for x in p { total += Double(x) }
    return TokenScores(argmax: 0, distribution: p.map { Double($0) / total })
  }

  /// Draws `count` tokens one after another (a draft).
  public func propose(after context: [Int], count: Int) throws -> [Proposal] {
    var drafted: [Proposal] = []
    var drafts: [Int] = []
    for _ in 0..<count {
      // The context is not copied per token: the drafted tokens ride along as `extra`, and the rows they
      // left in the cache are kept.
      guard let row = try feed(context: context, extra: drafts, rows: 1, keepingExtra: true).last else { break }
      let scores = scores(of: row, history: context + drafts)
      let proposal =
        scores.distribution.map { Proposal(token: choices.draw(from: $0), distribution: $0) }
        ?? Proposal(token: scores.argmax, distribution: nil)
      drafted.append(proposal)
      drafts.append(proposal.token)
    }
    return drafted
  }

  public func maximumLength(forCount count: Int) -> Int { count }

  /// Forgets every position from `position` on.
  public func rollback(to position: Int) throws {
    try state.trim(toPosition: position)
    tokens.removeLast(tokens.count - position)
  }

  /// Replaces the rows from `start` on by rows `start ..< end` of a dense `source` cache for the same tokens
  /// (TriForce writes the full cache's keys of newly accepted tokens into the retrieval cache this way).
  /// Both levels' layers must keep attention keys and values.
  public func copyRows(from source: DecodingLevel, positions: Range<Int>) throws {
    guard let sources = source.state.attentionLayers, let targets = state.attentionLayers,
      sources.count == targets.count, sources.allSatisfy({ $0.omittedPositions == 0 }),
      positions.upperBound <= source.tokens.count, positions.lowerBound <= tokens.count
    else { throw GenerationError("cannot copy positions \(positions) from a cache of \(source.tokens.count)") }
    try rollback(to: positions.lowerBound)
    for (target, origin) in zip(targets, sources) { try target.appendRows(of: origin, positions) }
    tokens += source.tokens[positions]
  }

  /// Syncs the cache with the sequence `context` + `extra`, feeds what it does not hold, and returns the
  /// logits of the last `rows` positions (rows <= extra.count + 1). Held rows of `extra` are kept only with
  /// `keepingExtra` (a draft extending its own proposals); a verifier needs logits for every extra token,
  /// so by default the cache keeps at most `context` minus its last token.
  private func feed(context: [Int], extra: [Int], rows: Int? = nil, keepingExtra: Bool = false) throws -> [[Float]] {
    guard !context.isEmpty else { throw GenerationError("the context is empty") }
    let length = context.count + extra.count
    let comparable = min(tokens.count, (keepingExtra ? length : context.count) - 1)
    let inContext = min(comparable, context.count)
    // Usually the whole held sequence is a prefix of the context: one vectorised comparison.
    var shared = tokens[..<inContext] == context[..<inContext] ? inContext : 0
    while shared < inContext && tokens[shared] == context[shared] { shared += 1 }
    if shared == context.count {
      while shared < comparable && tokens[shared] == extra[shared - context.count] { shared += 1 }
    }
    if shared < tokens.count { try rollback(to: shared) }
    var start = shared
    // Long catch-ups (prompts) go in pieces: bounded logits, and a windowed cache evicts between them.
    let limit = policy?.maximumPass ?? Self.longestPass
    while start < context.count - 1 && length - start > limit {
      let piece = min(limit, context.count - 1 - start)
      try policy?.makeRoom(in: state, incoming: piece)
      _ = try run(Array(context[start..<(start + piece)]))
      start += piece
    }
    try policy?.makeRoom(in: state, incoming: length - start)
    let fed = start < context.count ? Array(context[start...]) + extra : Array(extra[(start - context.count)...])
    let logits = try run(fed)  // [1, T, V]
    let v = model.vocabularySize
    let rows = min(rows ?? extra.count + 1, fed.count)
    let flat = try logits.sliced(axis: 1, (fed.count - rows)..<fed.count).contiguous().floats
    return (0..<rows).map { Array(flat[($0 * v)..<(($0 + 1) * v)]) }
  }

  /// One forward pass over `ids` (taken into the state).
  private func run(_ ids: [Int]) throws -> Tensor {
    guard state.position + ids.count <= model.contextLength else {
      throw GenerationError(
        "\(state.position + ids.count) positions exceed the model's context of \(model.contextLength)")
    }
    let clock = ContinuousClock()
    let start = clock.now
    let logits = try withoutGradients { try model.logits(Tensor(indices: ids, shape: [1, ids.count]), state: state) }
    passSeconds += (clock.now - start).seconds
    tokens += ids
    forwardPasses += 1
    fedTokens += ids.count
    return logits
  }
}

/// The next-token verdicts of one forward pass, position by position, each computed on first read.
public struct ScoreRows {
  let level: DecodingLevel
  let logits: [[Float]]
  let context: [Int]
  let extra: [Int]

  /// Rows: one after `context`, then one after each extra token.
  public var count: Int { logits.count }

  /// The verdict after `context` and the first `i` extra tokens.
  public subscript(i: Int) -> TokenScores {
    level.scores(of: logits[i], history: context + extra[..<i])
  }
}

/// Plain decoding through a ``DecodingLevel`` as a ``TokenIterator``: each step scores the sequence so far
/// and draws one token from the level's processed distribution with `choices` (the argmax when greedy),
/// exactly as the level would verify it.
public final class LevelDecoder: TokenIterator {
  /// The level.
  public let level: DecodingLevel
  let choices: RandomChoices
  /// Whether ``prefill(_:maxTokens:)`` feeds the prompt (false when the level already holds it).
  public let prefillsLevel: Bool
  private var context: [Int] = []

  /// Steps of `level` drawing with `choices`.
  public init(_ level: DecodingLevel, choices: RandomChoices, prefillsLevel: Bool = true) {
    self.level = level
    self.choices = choices
    self.prefillsLevel = prefillsLevel
  }

  public var vocabularySize: Int { level.model.vocabularySize }
  public var promptLimit: Int? { level.model.contextLength }

  public func prefill(_ prompt: [Int], maxTokens: Int) throws {
    if prefillsLevel { try level.prefill(prompt) }
    context = prompt
  }

  public func next() throws -> [Int] {
    guard context.count <= level.model.contextLength, let scores = try level.score(after: context, extra: []).first
    else { return [] }
    let token = scores.distribution.map { choices.draw(from: $0) } ?? scores.argmax
    context.append(token)
    return [token]
  }
}

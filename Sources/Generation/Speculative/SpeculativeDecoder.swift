/// Counts of one verification level.
public struct SpeculationStatistics: Sendable, Equatable {
  /// Verification rounds (one verifier pass each).
  public var rounds = 0
  /// Draft tokens checked.
  public var proposed = 0
  /// Draft tokens kept.
  public var accepted = 0
  /// Tokens emitted (kept drafts, corrections and bonus tokens).
  public var emitted = 0

  /// No rounds yet.
  public init() {}

  /// Adds the counts of `other` (another run, say) to these.
  public static func += (counts: inout SpeculationStatistics, other: SpeculationStatistics) {
    counts.rounds += other.rounds
    counts.proposed += other.proposed
    counts.accepted += other.accepted
    counts.emitted += other.emitted
  }

  /// Kept / checked (0 before any check).
  public var acceptanceRate: Double { proposed > 0 ? Double(accepted) / Double(proposed) : 0 }
  /// Tokens emitted per verifier pass.
  public var tokensPerRound: Double { rounds > 0 ? Double(emitted) / Double(rounds) : 0 }
}

/// Speculative decoding over any ``LanguageModel``: a draft proposes `draftLength` tokens, the verifier
/// scores them in one pass, each is kept with probability min(1, p/q) (or, greedily, when it is the
/// verifier's argmax), the first rejection is replaced from the residual norm(max(p − q, 0)), and a bonus
/// token is drawn when all pass. The verifier's cache rolls rejected positions back on the next call.
///
/// A decoder is itself a ``TokenProposer`` whose tokens are exact samples of its verifier, so decoders
/// stack: TriForce is draft → (target with a retrieval cache) → (target with its full cache).
public final class SpeculativeDecoder: TokenProposer {
  /// Where proposals come from.
  public let draft: TokenProposer
  /// The model (and cache) whose distribution the output follows.
  public let verifier: DecodingLevel
  /// Tokens asked from the draft per round.
  public let draftLength: Int
  /// Counts so far.
  public private(set) var statistics = SpeculationStatistics()
  /// How rejections are replaced; only the tests switch away from the residual.
  var correction = CorrectionRule.residual
  let choices: RandomChoices

  /// A decoder; `choices` supplies the accept/reject decisions (share one stream across a hierarchy).
  public init(draft: TokenProposer, verifier: DecodingLevel, draftLength: Int, choices: RandomChoices) throws {
    guard draftLength > 0 else { throw GenerationError("the draft length must be positive, got \(draftLength)") }
    self.draft = draft
    self.verifier = verifier
    self.draftLength = draftLength
    self.choices = choices
  }

  /// One round: draft, one verifier pass, accept/correct in order; the kept tokens plus one correction or
  /// bonus token, each with the verifier distribution it follows.
  public func round(after context: [Int]) throws -> [Proposal] {
    try round(after: context, drafting: draftLength)
  }

  /// One round with `count` draft tokens (0: one verifier pass that samples a single token).
  func round(after context: [Int], drafting count: Int) throws -> [Proposal] {
    let drafts = count > 0 ? try draft.propose(after: context, count: count) : []
    let scores = try verifier.scoreRows(after: context, extra: drafts.map(\.token))
    var out: [Proposal] = []
    statistics.rounds += 1
    for (i, proposal) in drafts.enumerated() {
      statistics.proposed += 1
      let target = scores[i]
      if verifier.isGreedy {
        if proposal.token == target.argmax {
          statistics.accepted += 1
          out.append(Proposal(token: proposal.token, distribution: nil))
          continue
        }
        out.append(Proposal(token: target.argmax, distribution: nil))
        statistics.emitted += out.count
        return out
      }
      guard let p = target.distribution, let q = proposal.distribution else {
        throw GenerationError("a sampled verifier needs sampled drafts (both levels must use the same temperature)")
      }
      switch SpeculativeSampling.verify(proposal.token, target: p, proposal: q, correction: correction, using: choices)
      {
      case .accepted:
        statistics.accepted += 1
        out.append(Proposal(token: proposal.token, distribution: p))
      case .corrected(let token):
        out.append(Proposal(token: token, distribution: p))
        statistics.emitted += out.count
        return out
      }
    }
    let bonus = scores[drafts.count]
    out.append(
      bonus.distribution.map { Proposal(token: choices.draw(from: $0), distribution: $0) }
        ?? Proposal(token: bonus.argmax, distribution: nil))
    statistics.emitted += out.count
    return out
  }

  /// Rounds until exactly `count` tokens are known (TriForce's middle level: γ2 tokens per top pass); the
  /// last rounds draft fewer tokens so that none is produced only to be dropped.
  public func propose(after context: [Int], count: Int) throws -> [Proposal] {
    var out: [Proposal] = []
    while out.count < count {
      out += try round(after: context + out.map(\.token), drafting: min(draftLength, count - out.count - 1))
    }
    return out
  }

  public func prefill(_ context: [Int]) throws {
    try draft.prefill(context)
    try verifier.prefill(context)
  }

  public func maximumLength(forCount count: Int) -> Int { count }

  /// Statistics of this decoder and of every decoder below it, top first.
  public var allStatistics: [SpeculationStatistics] {
    [statistics] + ((draft as? SpeculativeDecoder)?.allStatistics ?? [])
  }
}

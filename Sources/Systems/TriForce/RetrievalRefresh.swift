import Generation
import LMCore

/// Keeps TriForce's middle level (the target reading the retrieval cache) in step with the top level (the
/// target with its full cache) after every verification round of ``TriForceDecoder/run(_:prompt:options:prefilled:text:onToken:onText:)``.
///
/// After a round the full cache holds the accepted tokens' rows (its keys and values are exact); the retrieval
/// cache receives them as copies, so its tail never drifts from the full cache. Every `rebuildStride` new
/// tokens (if set) the retrieval cache is instead rebuilt from the whole full cache, its chunks scored against
/// the query of the sequence's last token.
final class RetrievalRefresh {
  /// The level with the full cache (the source of rows and of rebuilds).
  let top: DecodingLevel
  /// The level reading the retrieval cache (refreshed in place).
  let middle: DecodingLevel
  /// Selects the retrieval cache's rows at a rebuild.
  let builder: RetrievalCache
  /// Rebuild after this many tokens since the last rebuild (nil: never, only copy).
  let rebuildStride: Int?
  /// Extra rows a rebuilt retrieval cache keeps for generated and speculative tokens.
  let slack: Int
  /// Positions below this one are already in the retrieval cache as the full cache's rows.
  private(set) var copiedThrough: Int
  /// The sequence length at the latest rebuild (the prompt's length before any).
  private(set) var lastRebuild: Int
  /// Rebuilds so far.
  private(set) var rebuilds = 0

  /// A refresh of `middle` from `top`, where the retrieval cache already holds positions
  /// `..< copiedThrough` and was last built when the sequence had `lastRebuild` tokens.
  init(
    top: DecodingLevel, middle: DecodingLevel, builder: RetrievalCache, rebuildStride: Int?, slack: Int,
    copiedThrough: Int, lastRebuild: Int
  ) {
    self.top = top
    self.middle = middle
    self.builder = builder
    self.rebuildStride = rebuildStride
    self.slack = slack
    self.copiedThrough = copiedThrough
    self.lastRebuild = lastRebuild
  }

  /// Refreshes the retrieval cache for `context`, the whole sequence after a round (its last token is not
  /// in any cache yet).
  func callAsFunction(_ context: [Int]) throws {
    let held = context.count - 1
    if let rebuildStride, context.count - lastRebuild >= rebuildStride {
      // One pass records the last token's query, then the full cache drops that token's rows again so that
      // it holds `context` but its last token, like every level between rounds.
      _ = try top.score(after: context, extra: [])
      try top.rollback(to: held)
      try middle.replaceState(
        try builder.build(from: top.state, extraCapacity: slack), tokens: Array(context[..<held]))
      lastRebuild = context.count
      rebuilds += 1
    } else {
      // Newly accepted tokens enter the retrieval cache with the full cache's keys and values.
      try middle.copyRows(from: top, positions: copiedThrough..<held)
    }
    copiedThrough = held
  }
}

import LMCore
import TensorCore

/// StreamingLLM's cache rule (Xiao et al. 2023, arXiv 2309.17453): keep the first `sinks` positions (attention
/// sinks) and the most recent ones that fit; older rows are dropped before a pass that would overflow.
///
/// Rows keep the absolute RoPE positions their keys were rotated at (the paper re-rotates keys at their
/// cache slots; with RoPE only query–key distances matter, so this differs only in how far the sinks look).
///
/// Evicting compacts the cache (the recent rows move down behind the sinks), so the cache has `slack` rows
/// beyond the window and compacts only when they are used up: the recent part holds between `window` and
/// `window + slack` rows, and a decoding step copies the window once every `slack` tokens instead of every
/// token.
public final class StreamingWindow: CachePolicy {
  /// Positions at the start that are never dropped.
  public let sinks: Int
  /// Most tokens one pass may append (a long prompt is fed in pieces of this size).
  public let maximumPass: Int
  /// Rows beyond the window that fill up between compactions.
  public let slack: Int
  /// The slack when none is given.
  public static let defaultSlack = 32

  /// A window keeping `sinks` sink rows; the cache's capacity less `slack` sets the recent part.
  public init(sinks: Int = 16, maximumPass: Int = 64, slack: Int = defaultSlack) throws {
    guard sinks >= 0, maximumPass > 0, slack >= 0 else {
      throw GenerationError(
        "StreamingLLM needs sinks >= 0, a positive pass length and slack >= 0, got \(sinks), \(maximumPass), \(slack)")
    }
    self.sinks = sinks
    self.maximumPass = maximumPass
    self.slack = slack
  }

  /// A state of `sinks + window + slack` rows per layer for `model`.
  public func makeState(for model: LanguageModel, window: Int) -> DecodingState {
    model.makeState(batch: 1, capacity: sinks + window + slack)
  }

  public func makeRoom(in state: DecodingState, incoming: Int) throws {
    guard let layers = state.attentionLayers else {
      throw GenerationError("a StreamingLLM window needs attention keys and values in every layer")
    }
    for cache in layers { try makeRoom(in: cache, incoming: incoming) }
  }

  /// Compacts one layer's cache when `incoming` rows would overflow it.
  func makeRoom(in cache: AttentionKV, incoming: Int) throws {
    guard cache.length + incoming > cache.capacity else { return }
    let recent = cache.capacity - sinks - max(slack, incoming)
    guard recent >= 0, cache.length >= sinks + recent else {
      throw GenerationError(
        "a StreamingLLM cache of \(cache.capacity) rows with \(sinks) sinks has no room for \(incoming) new tokens")
    }
    let (k, v) = try cache.heldRows()
    let kept = [0..<sinks, (cache.length - recent)..<cache.length].filter { !$0.isEmpty }
    let keys = try Tensor.concatenate(kept.map { try k.sliced(axis: 2, $0) }, axis: 2)
    let values = try Tensor.concatenate(kept.map { try v.sliced(axis: 2, $0) }, axis: 2)
    // The recent rows stand for consecutive positions, so rejected drafts among them can still be rolled back.
    try cache.load(keys: keys, values: values, position: cache.position, fixedRows: sinks)
  }
}

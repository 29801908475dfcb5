import LMCore
import TensorCore

/// StreamingLLM's cache rule (Xiao et al. 2023, arXiv 2309.17453): keep the first `sinks` positions (attention
/// sinks) and the most recent ones that fit; older rows are dropped before a pass that would overflow.
///
/// Rows keep the absolute RoPE positions their keys were rotated at (the paper re-rotates keys at their
/// cache slots; with RoPE only query–key distances matter, so this differs only in how far the sinks look).
public final class StreamingWindow: CachePolicy {
  /// Positions at the start that are never dropped.
  public let sinks: Int
  /// Most tokens one pass may append (a long prompt is fed in pieces of this size).
  public let maximumPass: Int

  /// A window keeping `sinks` sink rows; the cache's capacity sets the recent part.
  public init(sinks: Int = 16, maximumPass: Int = 64) throws {
    guard sinks >= 0, maximumPass > 0 else {
      throw GenerationError("StreamingLLM needs sinks >= 0 and a positive pass length, got \(sinks), \(maximumPass)")
    }
    self.sinks = sinks
    self.maximumPass = maximumPass
  }

  /// A cache of `sinks + window` rows for `model` with this policy's room for a pass.
  public func makeCache(for model: LanguageModel, window: Int) -> KVCache {
    model.makeCache(batch: 1, capacity: sinks + window)
  }

  public func makeRoom(in cache: KVCache, incoming: Int) throws {
    guard cache.length + incoming > cache.capacity else { return }
    let recent = cache.capacity - sinks - incoming
    guard recent >= 0, cache.length >= sinks + recent else {
      throw GenerationError(
        "a StreamingLLM cache of \(cache.capacity) rows with \(sinks) sinks has no room for \(incoming) new tokens")
    }
    var keys: [Tensor] = []
    var values: [Tensor] = []
    for layer in cache.keys.indices {
      let (k, v) = try cache.heldRows(layer: layer)
      let kept = [0..<sinks, (cache.length - recent)..<cache.length].filter { !$0.isEmpty }
      keys.append(try Tensor.concatenate(kept.map { try k.sliced(axis: 2, $0) }, axis: 2))
      values.append(try Tensor.concatenate(kept.map { try v.sliced(axis: 2, $0) }, axis: 2))
    }
    // The recent rows stand for consecutive positions, so rejected drafts among them can still be rolled back.
    try cache.load(keys: keys, values: values, position: cache.nextPosition, fixedRows: sinks)
  }
}

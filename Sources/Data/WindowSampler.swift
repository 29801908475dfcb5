import TensorCore

/// Where a ``WindowSampler`` stands: its seed and how many windows it has handed out.
///
/// Saved in training checkpoints so that a resumed run draws exactly the windows an uninterrupted
/// run would have drawn.
public struct SamplerState: Codable, Equatable, Sendable {
  /// The seed that fixes every window's position.
  public var seed: UInt64
  /// The index of the next window.
  public var position: UInt64

  /// Creates a state.
  public init(seed: UInt64, position: UInt64 = 0) {
    self.seed = seed
    self.position = position
  }
}

/// A batch of training windows: inputs [B, T] and the next-token targets [B, T] (int64 ids).
public struct TokenBatch: Sendable {
  /// Token ids [B, T].
  public let inputs: Tensor
  /// The ids one position later [B, T].
  public let targets: Tensor
}

/// Draws windows of `context + 1` tokens at seeded random offsets of a shard.
///
/// Window `i` starts at a position that depends only on the seed and `i` (a counter-based hash), so the
/// sampler is reproducible, its state is two integers, and a global batch can be split between ranks:
/// with `ranks` processes each taking `batch` windows, rank `r` takes windows
/// `position + r·batch ..< position + (r+1)·batch`, which together are exactly the `batch·ranks` windows one
/// process would take with the whole batch.
public struct WindowSampler: Sendable {
  /// Tokens per input row T (each window holds T + 1 tokens).
  public let context: Int
  /// The seed and the index of the next window.
  public private(set) var state: SamplerState

  /// A sampler at window 0 of the stream fixed by `seed`.
  public init(seed: UInt64, context: Int) {
    self.init(state: SamplerState(seed: seed), context: context)
  }

  /// A sampler that continues from a saved state.
  public init(state: SamplerState, context: Int) {
    self.state = state
    self.context = context
  }

  /// The first token of window `index` in a shard of `tokenCount` tokens.
  public func windowStart(_ index: UInt64, tokenCount: Int) -> Int {
    var z = state.seed &+ (index &+ 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    z ^= z >> 31
    let choices = UInt64(tokenCount - context)
    return Int(z % choices)
  }

  /// The `batch` windows starting at window index `first`, as inputs and targets.
  public func batch(from shard: TokenShard, count batch: Int, first: UInt64) throws -> TokenBatch {
    guard context > 0, batch > 0 else {
      throw DataError(
        path: shard.path, problem: "cannot draw \(batch) windows of \(context) tokens",
        remedy: "use a positive batch size and context length")
    }
    guard shard.count > context else {
      throw DataError(
        path: shard.path, problem: "holds \(shard.count) tokens, too few for windows of \(context + 1)",
        remedy: "prepare more text or use a shorter context")
    }
    var inputs: [Int64] = []
    var targets: [Int64] = []
    inputs.reserveCapacity(batch * context)
    targets.reserveCapacity(batch * context)
    for row in 0..<batch {
      let start = windowStart(first + UInt64(row), tokenCount: shard.count)
      let window = try shard.tokens(in: start..<(start + context + 1))
      inputs += window[0..<context]
      targets += window[1...context]
    }
    return TokenBatch(
      inputs: Tensor(indices: inputs, shape: [batch, context]),
      targets: Tensor(indices: targets, shape: [batch, context]))
  }

  /// This rank's `batch` windows of the next global batch of `batch · ranks` windows; advances past all of them.
  public mutating func next(
    from shard: TokenShard, batch: Int, rank: Int = 0, ranks: Int = 1
  ) throws -> TokenBatch {
    guard ranks > 0, rank >= 0, rank < ranks else {
      throw DataError(path: shard.path, problem: "rank \(rank) is outside 0..<\(ranks)", remedy: "check the launcher")
    }
    let result = try self.batch(from: shard, count: batch, first: state.position + UInt64(rank * batch))
    state.position += UInt64(batch * ranks)
    return result
  }
}

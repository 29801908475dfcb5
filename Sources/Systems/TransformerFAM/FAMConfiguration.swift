import TensorCore

/// How a ``FAMModel`` attends: the parent's full causal attention, block sliding-window attention (BSWA),
/// or BSWA with feedback attention memory (FAM).
public enum FAMAttentionMode: String, Sendable, CaseIterable, Encodable {
  /// Full causal attention, as the parent was trained (no blocks, no memory).
  case full
  /// Block sliding-window attention: a block sees `memoryBlocks` previous blocks and itself causally.
  case bswa
  /// BSWA plus a per-layer feedback memory of `famLength` activations.
  case fam
}

/// The attention settings of TransformerFAM (arXiv 2404.09173): block size b, memory blocks m, FAM length f.
public struct FAMConfiguration: Sendable, Equatable, Encodable {
  /// The attention mode.
  public var mode: FAMAttentionMode
  /// Block size b (also the stride of the sliding window).
  public var blockSize: Int
  /// Previous blocks m whose keys a block sees unmasked.
  public var memoryBlocks: Int
  /// FAM activations f per layer (only used in `.fam` mode; 0 there gives BSWA).
  public var famLength: Int
  /// TransformerXL-style stop-gradient into the memory blocks (the paper's weaker "M1_SG" baseline).
  public var stopsMemoryGradient: Bool

  /// Creates a configuration.
  public init(
    mode: FAMAttentionMode = .fam, blockSize: Int, memoryBlocks: Int, famLength: Int, stopsMemoryGradient: Bool = false
  ) {
    self.mode = mode
    self.stopsMemoryGradient = stopsMemoryGradient
    self.blockSize = blockSize
    self.memoryBlocks = memoryBlocks
    self.famLength = famLength
  }

  /// The FAM length actually in use: `famLength` in `.fam` mode, else 0.
  public var activeFAMLength: Int { mode == .fam ? famLength : 0 }

  /// The absolute positions of the FAM that summarises block `block` (counted from 0 at `positionOffset`):
  /// the block's last f positions. Block `block + 1` sees this FAM there; the initial FAM sits before block 0.
  public func famPositions(summarising block: Int, positionOffset: Int = 0) -> Range<Int> {
    let end = positionOffset + (block + 1) * blockSize
    return (end - activeFAMLength)..<end
  }

  /// Checks the sizes; the thrown message names the bad setting and its range.
  public func validate() throws {
    guard blockSize > 0 else { throw TensorError("FAMConfiguration", "block size must be positive, got \(blockSize)") }
    guard memoryBlocks >= 0 else {
      throw TensorError("FAMConfiguration", "memory blocks must be 0 or more, got \(memoryBlocks)")
    }
    guard famLength >= 0 else {
      throw TensorError("FAMConfiguration", "FAM length must be 0 or more, got \(famLength)")
    }
    guard famLength <= blockSize || mode != .fam else {
      throw TensorError(
        "FAMConfiguration",
        "FAM length \(famLength) exceeds the block size \(blockSize); FAM takes the block's last f positions")
    }
  }
}

/// The feedback memory carried from block to block: one F [B, f, C] per layer.
public struct FAMState {
  /// Per layer, the FAM F_{τ−1} that the next block attends to.
  public var memory: [Tensor]
  /// True while the memory is the learned initial FAM (its first update then adds no residual, as in Alg. 2).
  public var isInitial: Bool

  /// Creates a state.
  public init(memory: [Tensor], isInitial: Bool) {
    self.memory = memory
    self.isInitial = isInitial
  }

  /// The same state with every tensor cut from the autograd graph (for passing between training steps).
  public func detached() -> FAMState {
    FAMState(memory: memory.map { $0.detached() }, isInitial: isInitial)
  }

  /// Row `index` of the batch, expanded to `batch` rows (Random State Passing shares element 0's memory).
  public func broadcastRow(_ index: Int, to batch: Int) throws -> FAMState {
    let rows = try memory.map { m -> Tensor in
      let row = try m.sliced(axis: 0, index..<(index + 1))
      return try row.expanded(to: [batch, m.shape[1], m.shape[2]]).contiguous()
    }
    return FAMState(memory: rows, isInitial: isInitial)
  }
}

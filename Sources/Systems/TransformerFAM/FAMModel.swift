import Models
import NN
import TensorCore

/// A pretrained Llama run with block sliding-window attention and feedback attention memory
/// (TransformerFAM, arXiv 2404.09173). The only new weights are the initial FAM prompt [f, C].
///
/// Shapes: B batch, T tokens, C width, f FAM length, b block size, L layers.
public final class FAMModel: Module {
  /// The parent model whose weights every mode shares.
  @Child(key: "parent") public var parent: Llama
  /// The learned initial FAM [f, C], added at the embedding level like a prompt (nil when f = 0).
  @Parameter(key: "fam_prompt") public var prompt: Tensor?
  /// The attention settings; `mode` may be switched between calls (the weights stay the same).
  public var configuration: FAMConfiguration

  /// Wraps `parent`; the initial FAM starts as N(0, 0.02²) rows, like token embeddings.
  public init(parent: Llama, configuration: FAMConfiguration, generator: inout RandomGenerator) throws {
    try configuration.validate()
    self.configuration = configuration
    super.init()
    self.parent = parent
    let f = configuration.famLength
    prompt = f > 0 ? Tensor.normal([f, parent.config.hiddenSize], std: 0.02, generator: &generator) : nil
  }

  /// Logits [B, T, V] for ids [B, T] in the configured mode, and the FAM after the last complete block.
  public func logits(_ ids: Tensor, state: FAMState? = nil, positionOffset: Int = 0) throws -> (
    logits: Tensor, state: FAMState
  ) {
    let (h, next) = try hiddenStates(ids, state: state, positionOffset: positionOffset)
    return (try head(h), next)
  }

  /// The output head on final hidden states [..., C].
  public func head(_ h: Tensor) throws -> Tensor {
    try parent.head.map { try $0(h) } ?? parent.embedding.asLinear(h)
  }

  /// Final normalised hidden states [B, T, C] in the configured mode, and the FAM after the last complete block.
  ///
  /// `.full` and `.bswa` run one masked pass per layer; `.fam` runs the single-pass [F; I] form block by block.
  public func hiddenStates(_ ids: Tensor, state: FAMState? = nil, positionOffset: Int = 0) throws -> (
    hidden: Tensor, state: FAMState
  ) {
    let c = configuration
    switch c.mode {
    case .full:
      return (
        try maskedHiddenStates(ids, mask: AttentionMask(causal: true), positionOffset: positionOffset),
        FAMState(memory: [], isInitial: true)
      )
    case .bswa:
      let mask = AttentionMask(causal: true, blockSize: c.blockSize, blocksBack: c.memoryBlocks)
      return (
        try maskedHiddenStates(ids, mask: mask, positionOffset: positionOffset), FAMState(memory: [], isInitial: true)
      )
    case .fam:
      return try blockwiseHiddenStates(ids, state: state, positionOffset: positionOffset)
    }
  }

  /// The learned initial FAM of every layer, for `batch` sequences.
  ///
  /// The prompt rows enter at the embedding level and pass through the layers attending fully among
  /// themselves, at the f positions before block 0; layer ℓ's F₀ is layer ℓ's output on them (App. B.1).
  public func initialState(batch: Int, positionOffset: Int = 0) throws -> FAMState {
    let f = configuration.activeFAMLength
    guard f > 0 else { return FAMState(memory: [], isInitial: true) }
    guard let prompt, prompt.shape == [f, parent.config.hiddenSize] else {
      throw TensorError(
        "FAMModel", "the FAM prompt has shape \(prompt?.shape ?? []) but f = \(f); build the model with this FAM length"
      )
    }
    var z = try prompt.reshaped([1, f, parent.config.hiddenSize])
    var memory: [Tensor] = []
    for l in parent.layers.indices {
      let p = configuration.famPositions(summarising: -1, positionOffset: positionOffset)
      z = try maskedLayer(l, z, mask: AttentionMask(), positionOffset: p.lowerBound)
      memory.append(try z.expanded(to: [batch, f, parent.config.hiddenSize]))
    }
    return FAMState(memory: memory, isInitial: true)
  }

  /// Final normalised hidden states [B, T, C] with one attention `mask` over the whole sequence per layer
  /// (full causal attention, or BSWA as the equivalent block mask).
  public func maskedHiddenStates(_ ids: Tensor, mask: AttentionMask, positionOffset: Int = 0) throws -> Tensor {
    var h = try parent.embedding(ids)  // [B, T, C]
    for l in parent.layers.indices { h = try maskedLayer(l, h, mask: mask, positionOffset: positionOffset) }
    return try parent.norm(h)
  }

  /// The block-by-block forward: per block, per layer, queries [F_{τ−1}; I_τ] over keys [memory; F_{τ−1}; I_τ].
  ///
  /// With `literal` each layer runs Algorithm 2 as written (separate attention and feed-forward for the
  /// FAM rows and the block rows) instead of the single masked pass. Returns the final normalised hidden
  /// states [B, T, C] and the FAM after the last complete block.
  public func blockwiseHiddenStates(
    _ ids: Tensor, state: FAMState? = nil, positionOffset: Int = 0, literal: Bool = false
  ) throws -> (hidden: Tensor, state: FAMState) {
    let (batch, length) = (ids.shape[0], ids.shape[1])
    guard length > 0 else { throw TensorError("FAMModel", "the sequence is empty; give at least one token") }
    let (b, m, f) = (configuration.blockSize, configuration.memoryBlocks, configuration.activeFAMLength)
    let layerCount = parent.layers.count
    let x = try parent.embedding(ids)  // [B, T, C]
    var current = try state ?? initialState(batch: batch, positionOffset: positionOffset)
    guard current.memory.count == (f > 0 ? layerCount : 0) else {
      throw TensorError("FAMModel", "the FAM state has \(current.memory.count) layers, expected \(layerCount)")
    }
    var rings = [[BlockKeys]](repeating: [], count: layerCount)
    var outputs: [Tensor] = []
    for start in stride(from: 0, to: length, by: b) {
      let n = min(b, length - start)
      var h = try x.sliced(axis: 1, start..<(start + n))  // [B, n, C]
      let memoryLength = rings[0].reduce(0) { $0 + $1.keys.shape[2] }
      let bias = f > 0 ? try Self.combinedBias(fam: f, block: n, memory: memoryLength) : nil
      var updated: [Tensor] = []
      for l in 0..<layerCount {
        let input = LayerStepInput(
          block: h, fam: f > 0 ? current.memory[l] : nil, famResidual: !current.isInitial,
          memory: try BlockKeys.joined(rings[l]), position: positionOffset + start,
          famPosition: configuration.famPositions(summarising: start / b - 1, positionOffset: positionOffset).lowerBound
        )
        let step = try literal ? literalStep(l, input) : combinedStep(l, input, bias: bias)
        h = step.block
        if let fam = step.fam { updated.append(fam) }
        if m > 0 {
          rings[l].append(configuration.stopsMemoryGradient ? step.keys.detached() : step.keys)
          if rings[l].count > m { rings[l].removeFirst() }
        }
      }
      outputs.append(h)
      if n == b && f > 0 { current = FAMState(memory: updated, isInitial: false) }
    }
    let hidden = outputs.count == 1 ? outputs[0] : try Tensor.concatenate(outputs, axis: 1)
    return (try parent.norm(hidden), current)
  }
}

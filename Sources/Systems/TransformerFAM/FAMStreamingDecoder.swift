import Models
import NN
import TensorCore

/// Token-by-token inference with BSWA or FAM whose state does not grow with the sequence: per layer a ring
/// of the last m blocks' keys and values, the current partial block's keys and values, and the FAM.
///
/// When a block completes, each layer's FAM is updated from [F; the whole block] through the layer's own
/// feed-forward, exactly as the parallel forward does. Shapes: B batch, C width, G key/value heads, D head width.
public final class FAMStreamingDecoder {
  /// The model (its configuration must be `.bswa` or `.fam`).
  public let model: FAMModel
  /// Absolute position of the next token.
  public private(set) var position: Int
  private let start: Int
  private var rings: [[BlockKeys]]
  private var partial: [BlockKeys?]
  private var fams: [Tensor]
  private var famProjections: [(q: Tensor, k: Tensor, v: Tensor)]
  private var famIsInitial = true

  /// A decoder for `batch` sequences whose first token sits at `positionOffset`.
  public init(model: FAMModel, batch: Int = 1, positionOffset: Int = 0) throws {
    guard model.configuration.mode != .full else {
      throw TensorError("FAMStreamingDecoder", "full attention has no bounded state; use --attention bswa or fam")
    }
    self.model = model
    position = positionOffset
    start = positionOffset
    let layers = model.parent.layers.count
    rings = Array(repeating: [], count: layers)
    partial = Array(repeating: nil, count: layers)
    let state = try withoutGradients { try model.initialState(batch: batch, positionOffset: positionOffset) }
    fams = state.memory.map { $0.contiguous() }
    famProjections = []
    try projectFAM()
  }

  /// Floats held as state now: ring, partial block, FAM and its keys (flat in sequence length).
  public var stateFloatCount: Int {
    let ring = rings.joined().reduce(0) { $0 + $1.keys.count + $1.values.count }
    let open = partial.compactMap { $0 }.reduce(0) { $0 + $1.keys.count + $1.values.count }
    let fam = fams.reduce(0) { $0 + $1.count }
    let projected = famProjections.reduce(0) { $0 + $1.q.count + $1.k.count + $1.v.count }
    return ring + open + fam + projected
  }

  /// Feeds one token per sequence (ids [B]) and returns the next-token logits [B, V].
  public func step(_ ids: [Int]) throws -> Tensor {
    try withoutGradients {
      let parent = model.parent
      let batch = ids.count
      var h = try parent.embedding(Tensor(indices: ids, shape: [batch, 1]))  // [B, 1, C]
      for l in parent.layers.indices {
        let (q, k, v) = try model.project(l, parent.layers[l].attentionNorm(h), position: position)
        let open = try partial[l].map {
          BlockKeys(
            keys: try Tensor.concatenate([$0.keys, k], axis: 2),
            values: try Tensor.concatenate([$0.values, v], axis: 2))
        }
        partial[l] = open ?? BlockKeys(keys: k, values: v)
        var parts = rings[l]
        if !famProjections.isEmpty { parts.append(BlockKeys(keys: famProjections[l].k, values: famProjections[l].v)) }
        parts.append(partial[l]!)
        let visible = try BlockKeys.joined(parts)!
        let y = try Tensor.attention(query: q, key: visible.keys, value: visible.values)  // [B, H, 1, D]
        h = try model.feedForward(l, h + model.outputProjection(l, y))
      }
      position += 1
      if (position - start) % model.configuration.blockSize == 0 { try closeBlock() }
      let last = try parent.norm(h).reshaped([batch, parent.config.hiddenSize])
      return try model.head(last)
    }
  }

  /// Updates every layer's FAM from the completed block and moves the block into the ring.
  private func closeBlock() throws {
    let m = model.configuration.memoryBlocks
    for l in model.parent.layers.indices {
      guard let block = partial[l] else { continue }
      if !fams.isEmpty {
        let p = famProjections[l]
        let keys = try Tensor.concatenate([p.k, block.keys], axis: 2)
        let values = try Tensor.concatenate([p.v, block.values], axis: 2)
        let attended = try model.outputProjection(l, Tensor.attention(query: p.q, key: keys, value: values))
        let a = famIsInitial ? attended : try fams[l] + attended
        fams[l] = try model.feedForward(l, a)
      }
      if m > 0 {
        rings[l].append(block)
        if rings[l].count > m { rings[l].removeFirst() }
      }
      partial[l] = nil
    }
    if !fams.isEmpty { famIsInitial = false }
    try projectFAM()
  }

  /// Queries, keys and values of each layer's FAM at the f positions before the next block.
  private func projectFAM() throws {
    guard !fams.isEmpty else { return }
    let block = (position - start) / model.configuration.blockSize - 1
    let at = model.configuration.famPositions(summarising: block, positionOffset: start).lowerBound
    famProjections = try fams.indices.map { l in
      try model.project(l, model.parent.layers[l].attentionNorm(fams[l]), position: at)
    }
  }
}

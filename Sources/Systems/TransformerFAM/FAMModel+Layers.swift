import Models
import NN
import TensorCore

/// Keys and values [B, G, n, D] of one block at one layer, RoPE already applied.
public struct BlockKeys {
  /// Keys [B, G, n, D].
  public var keys: Tensor
  /// Values [B, G, n, D].
  public var values: Tensor

  /// Creates the pair.
  public init(keys: Tensor, values: Tensor) {
    self.keys = keys
    self.values = values
  }

  /// Both tensors cut from the autograd graph.
  public func detached() -> BlockKeys { BlockKeys(keys: keys.detached(), values: values.detached()) }

  /// The blocks joined along time, oldest first; nil when there are none.
  public static func joined(_ blocks: [BlockKeys]) throws -> BlockKeys? {
    guard let first = blocks.first else { return nil }
    guard blocks.count > 1 else { return first }
    return BlockKeys(
      keys: try Tensor.concatenate(blocks.map(\.keys), axis: 2),
      values: try Tensor.concatenate(blocks.map(\.values), axis: 2))
  }
}

/// What one layer sees for one block.
struct LayerStepInput {
  /// The block's hidden states I_τ [B, n, C] at this layer's input.
  var block: Tensor
  /// The previous FAM F_{τ−1} [B, f, C] of this layer, or nil when f = 0.
  var fam: Tensor?
  /// Whether the FAM update adds F_{τ−1} as its residual (false for the learned initial FAM).
  var famResidual: Bool
  /// The memory blocks' keys and values, or nil.
  var memory: BlockKeys?
  /// Absolute position of the block's first token.
  var position: Int
  /// Absolute position of the FAM rows' first row: F_{τ−1} sits at the last f positions of block τ − 1.
  var famPosition: Int
}

/// What one layer produces for one block.
struct LayerStepOutput {
  /// O_τ [B, n, C], the next layer's input.
  var block: Tensor
  /// F_τ [B, f, C], or nil when f = 0.
  var fam: Tensor?
  /// The block's own keys and values (for the next blocks' memory).
  var keys: BlockKeys
}

// Shapes: B batch, n block tokens, f FAM rows, M memory tokens, H query heads, G key/value heads, D head width.
extension FAMModel {
  /// Queries [B, H, t, D], keys and values [B, G, t, D] of normalised rows h [B, t, C] at positions p ..< p + t.
  func project(_ l: Int, _ h: Tensor, position: Int) throws -> (q: Tensor, k: Tensor, v: Tensor) {
    let c = parent.config
    let a = parent.layers[l].attention
    let (b, t, d) = (h.shape[0], h.shape[1], c.headDimensions)
    let q = try a.queryProjection(h).reshaped([b, t, c.heads, d])
      .rotaryEmbedding(c.rotary, positionOffset: position).transposed(1, 2).contiguous()
    let k = try a.keyProjection(h).reshaped([b, t, c.kvHeads, d])
      .rotaryEmbedding(c.rotary, positionOffset: position).transposed(1, 2).contiguous()
    let v = try a.valueProjection(h).reshaped([b, t, c.kvHeads, d]).transposed(1, 2).contiguous()
    return (q, k, v)
  }

  /// The attention output [B, H, t, D] projected back to [B, t, C].
  func outputProjection(_ l: Int, _ y: Tensor) throws -> Tensor {
    let c = parent.config
    let (b, t) = (y.shape[0], y.shape[2])
    return try parent.layers[l].attention.outputProjection(
      y.transposed(1, 2).reshaped([b, t, c.heads * c.headDimensions]))
  }

  /// The layer's feed-forward with its residual: a + FF(PreLN(a)).
  func feedForward(_ l: Int, _ a: Tensor) throws -> Tensor {
    let layer = parent.layers[l]
    return try a + layer.mlp(layer.mlpNorm(a))
  }

  /// One Llama layer over x [B, T, C] at positions p ..< p + T with one attention mask.
  func maskedLayer(_ l: Int, _ x: Tensor, mask: AttentionMask, positionOffset: Int) throws -> Tensor {
    let (q, k, v) = try project(l, parent.layers[l].attentionNorm(x), position: positionOffset)
    let y = try Tensor.attention(query: q, key: k, value: v, mask: mask)  // [B, H, T, D]
    return try feedForward(l, x + outputProjection(l, y))
  }

  /// The additive mask [1, 1, f + n, M + f + n] of the single pass over [F; I] with keys [memory; F; I]:
  /// FAM rows see F and the whole block; block rows see the memory, F and the block causally.
  public static func combinedBias(fam f: Int, block n: Int, memory m: Int) throws -> Tensor {
    let blocked = -Float.infinity
    let rows = try Tensor.arange(n).reshaped([n, 1])
    let columns = try Tensor.arange(n).reshaped([1, n])
    let future = try columns.compared(.greater, rows)  // [n, n], 1 above the diagonal
    let causal = try Tensor.select(future, Tensor(scalar: blocked), Tensor(scalar: 0))  // [n, n]
    var famRows = [Tensor.zeros([f, f + n])]
    if m > 0 { famRows.insert(Tensor.full([f, m], value: blocked), at: 0) }
    let blockRows = [Tensor.zeros([n, m + f]), causal]
    let top = try Tensor.concatenate(famRows, axis: 1)  // [f, M + f + n]
    let bottom = try Tensor.concatenate(blockRows, axis: 1)  // [n, M + f + n]
    return try Tensor.concatenate([top, bottom], axis: 0).reshaped([1, 1, f + n, m + f + n])
  }

  /// One layer for one block as a single pass over [F_{τ−1}; I_τ] with the combined mask `bias`.
  func combinedStep(_ l: Int, _ input: LayerStepInput, bias: Tensor?) throws -> LayerStepOutput {
    let (x, n) = (input.block, input.block.shape[1])
    let f = input.fam?.shape[1] ?? 0
    // The single pass needs F directly before the block, as the positions of Alg. 2 place it.
    guard f == 0 || input.famPosition + f == input.position else {
      throw TensorError("FAMModel", "the FAM must sit at the f positions before its block")
    }
    let z = try input.fam.map { try Tensor.concatenate([$0, x], axis: 1) } ?? x  // [B, f + n, C]
    let (q, k, v) = try project(
      l, parent.layers[l].attentionNorm(z), position: f > 0 ? input.famPosition : input.position)
    var (keys, values) = (k, v)  // [B, G, f + n, D]
    if let memory = input.memory {
      keys = try Tensor.concatenate([memory.keys, k], axis: 2)  // [B, G, M + f + n, D]
      values = try Tensor.concatenate([memory.values, v], axis: 2)
    }
    let memoryLength = input.memory?.keys.shape[2] ?? 0
    let y: Tensor
    if f > 0, let bias {
      y = try Tensor.attention(query: q, key: keys, value: values, bias: bias)  // [B, H, f + n, D]
    } else {
      y = try Tensor.attention(
        query: q, key: keys, value: values, mask: AttentionMask(causal: true, queryOffset: memoryLength))
    }
    var residual = z
    if let fam = input.fam, !input.famResidual {
      residual = try Tensor.concatenate([Tensor.zeros(fam.shape), x], axis: 1)
    }
    let out = try feedForward(l, residual + outputProjection(l, y))  // [B, f + n, C]
    let blockKeys = BlockKeys(
      keys: try k.sliced(axis: 2, f..<(f + n)), values: try v.sliced(axis: 2, f..<(f + n)))
    guard f > 0 else { return LayerStepOutput(block: out, fam: nil, keys: blockKeys) }
    return LayerStepOutput(
      block: try out.sliced(axis: 1, f..<(f + n)), fam: try out.sliced(axis: 1, 0..<f), keys: blockKeys)
  }

  /// One layer for one block as Algorithm 2 reads: the block rows and the FAM rows each get their own
  /// attention and feed-forward (the reference the single pass is tested against).
  func literalStep(_ l: Int, _ input: LayerStepInput) throws -> LayerStepOutput {
    let layer = parent.layers[l]
    let x = input.block
    let (q, k, v) = try project(l, layer.attentionNorm(x), position: input.position)
    var keyParts = [k]
    var valueParts = [v]
    var famProjection: (q: Tensor, k: Tensor, v: Tensor)?
    if let fam = input.fam {
      let p = try project(l, layer.attentionNorm(fam), position: input.famPosition)
      keyParts.insert(p.k, at: 0)
      valueParts.insert(p.v, at: 0)
      famProjection = p
    }
    let visibleKeys = try Tensor.concatenate(keyParts, axis: 2)  // [B, G, f + n, D]
    let visibleValues = try Tensor.concatenate(valueParts, axis: 2)
    // Block rows: [memory; F; I] with the block causal.
    var blockKeys = visibleKeys
    var blockValues = visibleValues
    if let memory = input.memory {
      blockKeys = try Tensor.concatenate([memory.keys, visibleKeys], axis: 2)
      blockValues = try Tensor.concatenate([memory.values, visibleValues], axis: 2)
    }
    let before = blockKeys.shape[2] - x.shape[1]
    let y = try Tensor.attention(
      query: q, key: blockKeys, value: blockValues, mask: AttentionMask(causal: true, queryOffset: before))
    let out = try feedForward(l, x + outputProjection(l, y))
    let own = BlockKeys(keys: k, values: v)
    guard let fam = input.fam, let famProjection else { return LayerStepOutput(block: out, fam: nil, keys: own) }
    // FAM rows: [F; I], the whole block, never the memory.
    let yF = try Tensor.attention(query: famProjection.q, key: visibleKeys, value: visibleValues)
    let attended = try outputProjection(l, yF)
    let a = input.famResidual ? try fam + attended : attended
    return LayerStepOutput(block: out, fam: try feedForward(l, a), keys: own)
  }
}

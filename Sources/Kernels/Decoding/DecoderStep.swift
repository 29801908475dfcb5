/// The weights of one pre-norm decoder layer with grouped-query attention and a SwiGLU MLP (the Llama
/// block). Linear weights are [out, in], row-major, in any format the few-row GEMV reads (float32,
/// bfloat16, Q8_0).
public struct DecoderLayerPointers {
  /// RMSNorm weight before attention [C].
  public var attentionNorm: UnsafePointer<Float>
  /// Query [H·D, C], key [G·D, C], value [G·D, C] and output [C, H·D] projections.
  public var query, key, value, output: Gemv.Weights
  /// RMSNorm weight before the MLP [C].
  public var mlpNorm: UnsafePointer<Float>
  /// Gate [F, C], up [F, C] and down [C, F] projections.
  public var gate, up, down: Gemv.Weights

  /// Collects one layer's weights.
  public init(
    attentionNorm: UnsafePointer<Float>, query: Gemv.Weights, key: Gemv.Weights, value: Gemv.Weights,
    output: Gemv.Weights, mlpNorm: UnsafePointer<Float>, gate: Gemv.Weights, up: Gemv.Weights, down: Gemv.Weights
  ) {
    (self.attentionNorm, self.query, self.key, self.value, self.output) = (attentionNorm, query, key, value, output)
    (self.mlpNorm, self.gate, self.up, self.down) = (mlpNorm, gate, up, down)
  }
}

/// One sequence of a decoding step: its consecutive input rows, its caches and where they continue.
public struct DecoderSequence {
  /// Keys [G, capacity, D] of each layer.
  public var keys: [UnsafeMutablePointer<Float>]
  /// Values [G, capacity, D] of each layer.
  public var values: [UnsafeMutablePointer<Float>]
  /// Rows each cache can hold.
  public var capacity: Int
  /// The cache row the first token's key and value go to (rows before it are attended to).
  public var row: Int
  /// The sequence position of the first token (RoPE angle; differs from `row` in sparse caches).
  public var position: Int
  /// Tokens of this sequence in the step (consecutive input rows).
  public var tokens: Int

  /// Describes one sequence.
  public init(
    keys: [UnsafeMutablePointer<Float>], values: [UnsafeMutablePointer<Float>], capacity: Int, row: Int,
    position: Int, tokens: Int
  ) {
    (self.keys, self.values, self.capacity) = (keys, values, capacity)
    (self.row, self.position, self.tokens) = (row, position, tokens)
  }
}

/// Sizes and options of a decoding step's layers.
public struct DecoderStepShape {
  /// Width C, query heads H, key/value heads G, head width D, MLP width F.
  public var width, heads, kvHeads, headDimensions, mlpWidth: Int
  /// Dimensions of a head that RoPE rotates (D or fewer), its base, and whether pairs are interleaved.
  public var rotaryDimensions: Int
  /// RoPE frequency base.
  public var rotaryBase: Float
  /// Whether RoPE pairs are (2i, 2i+1) instead of halves.
  public var rotaryInterleaved: Bool
  /// RMSNorm epsilon.
  public var normEpsilon: Float

  /// Creates a shape.
  public init(
    width: Int, heads: Int, kvHeads: Int, headDimensions: Int, mlpWidth: Int, rotaryDimensions: Int,
    rotaryBase: Float, rotaryInterleaved: Bool, normEpsilon: Float
  ) {
    (self.width, self.heads, self.kvHeads, self.headDimensions, self.mlpWidth) = (
      width, heads, kvHeads, headDimensions, mlpWidth
    )
    (self.rotaryDimensions, self.rotaryBase, self.rotaryInterleaved, self.normEpsilon) = (
      rotaryDimensions, rotaryBase, rotaryInterleaved, normEpsilon
    )
  }
}

/// A few tokens through pre-norm decoder layers straight on the kernels: h += o(attention(rope(q), rope(k),
/// v)) over each sequence's KV cache after RMSNorm, then h += down(silu(gate(x)) ⊙ up(x)) after RMSNorm.
///
/// The tokens may belong to several sequences (batched decoding: one token each; speculative verification:
/// a few tokens of one sequence): every weight row is read once for all of them, while each sequence's
/// tokens attend causally to its own cache only. Its reference twin is the per-operation layer path of the
/// model (`decodingStepEqualsTheLayers` and the batched decoding tests compare them).
public enum DecoderStep {
  /// The most tokens one step takes.
  public static var maximumTokens: Int { Gemv.maximumRows }

  /// Runs `layers` over the hidden rows `x` [T, C] (updated in place; T = the sequences' tokens, at most
  /// ``maximumTokens``), writing each token's key and value into its sequence's caches. The caller checks
  /// the sizes.
  public static func run(
    _ x: UnsafeMutablePointer<Float>, layers: [DecoderLayerPointers], sequences: [DecoderSequence],
    shape s: DecoderStepShape
  ) {
    let (c, h, g, d, f) = (s.width, s.heads, s.kvHeads, s.headDimensions, s.mlpWidth)
    let tokens = sequences.reduce(0) { $0 + $1.tokens }
    precondition(tokens >= 1 && tokens <= maximumTokens, "DecoderStep: \(tokens) tokens")
    // Scratch per token: normed input, q, k, v, rotated q by head [H, Ts, D] per sequence, rotated k,
    // attention output by head and by token [T, H·D], log-sum-exp, gate, up, rstd.
    let sizes = [c, h * d, g * d, g * d, h * d, g * d, h * d, h * d, h, f, f, 1].map { $0 * tokens }
    let scratch = UnsafeMutablePointer<Float>.allocate(capacity: sizes.reduce(0, +))
    defer { scratch.deallocate() }
    var regions: [UnsafeMutablePointer<Float>] = []
    var next = 0
    for size in sizes {
      regions.append(scratch + next)
      next += size
    }
    let (xn, q, k, v, qr, kr, att, merged, lse, gate, up, rstd) = (
      regions[0], regions[1], regions[2], regions[3], regions[4], regions[5], regions[6], regions[7], regions[8],
      regions[9], regions[10], regions[11]
    )
    let scale = 1 / Float(d).squareRoot()
    for (layer, w) in layers.enumerated() {
      Normalization.rmsNormForward(
        x, weight: w.attentionNorm, xn, rstd: rstd, rows: tokens, cols: c, eps: s.normEpsilon)
      Gemv.multiplyTransposed(
        m: tokens, k: c, x: xn, ldx: c,
        products: [
          Gemv.MixedProduct(weights: w.query, columns: h * d, y: q, ldy: h * d),
          Gemv.MixedProduct(weights: w.key, columns: g * d, y: k, ldy: g * d),
          Gemv.MixedProduct(weights: w.value, columns: g * d, y: v, ldy: g * d),
        ])
      var start = 0
      for sequence in sequences {
        attend(
          sequence, layer: layer, start: start, shape: s, scale: scale,
          scratch: (q: q, k: k, v: v, qr: qr, kr: kr, att: att, merged: merged, lse: lse))
        start += sequence.tokens
      }
      Gemv.multiplyTransposed(
        m: tokens, k: h * d, x: merged, ldx: h * d,
        products: [Gemv.MixedProduct(weights: w.output, columns: c, y: x, ldy: c, accumulate: true)])
      Normalization.rmsNormForward(x, weight: w.mlpNorm, xn, rstd: rstd, rows: tokens, cols: c, eps: s.normEpsilon)
      Gemv.multiplyTransposed(
        m: tokens, k: c, x: xn, ldx: c,
        products: [
          Gemv.MixedProduct(weights: w.gate, columns: f, y: gate, ldy: f),
          Gemv.MixedProduct(weights: w.up, columns: f, y: up, ldy: f),
        ])
      Elementwise.siluGated(gate, up, gate, count: f * tokens)
      Gemv.multiplyTransposed(
        m: tokens, k: f, x: gate, ldx: f,
        products: [Gemv.MixedProduct(weights: w.down, columns: c, y: x, ldy: c, accumulate: true)])
    }
  }

  /// RoPE, cache write and attention of one sequence's tokens (input rows `start ..< start + tokens`).
  static func attend(
    _ sequence: DecoderSequence, layer: Int, start: Int, shape s: DecoderStepShape, scale: Float,
    scratch: (
      q: UnsafeMutablePointer<Float>, k: UnsafeMutablePointer<Float>, v: UnsafeMutablePointer<Float>,
      qr: UnsafeMutablePointer<Float>, kr: UnsafeMutablePointer<Float>, att: UnsafeMutablePointer<Float>,
      merged: UnsafeMutablePointer<Float>, lse: UnsafeMutablePointer<Float>
    )
  ) {
    let (h, g, d) = (s.heads, s.kvHeads, s.headDimensions)
    let (ts, row, capacity) = (sequence.tokens, sequence.row, sequence.capacity)
    let (q, k, v) = (scratch.q + start * h * d, scratch.k + start * g * d, scratch.v + start * g * d)
    let (qr, kr, att) = (scratch.qr + start * h * d, scratch.kr + start * g * d, scratch.att + start * h * d)
    for (source, target, heads) in [(q, q, h), (k, kr, g)] {
      Rotary.apply(
        source, target, outer: 1, seq: ts, heads: heads, headDim: d, rotaryDim: s.rotaryDimensions,
        base: s.rotaryBase, positionOffset: sequence.position, positions: nil, interleaved: s.rotaryInterleaved,
        inverse: false)
    }
    // Queries by head for the attention kernel: [Ts, H, D] -> [H, Ts, D].
    for t in 0..<ts {
      for head in 0..<h { (qr + (head * ts + t) * d).update(from: q + (t * h + head) * d, count: d) }
    }
    let (cachedKeys, cachedValues) = (sequence.keys[layer], sequence.values[layer])
    for t in 0..<ts {
      for head in 0..<g {
        let slot = (head * capacity + row + t) * d
        (cachedKeys + slot).update(from: kr + (t * g + head) * d, count: d)
        (cachedValues + slot).update(from: v + (t * g + head) * d, count: d)
      }
    }
    Attention.forward(
      q: qr, k: cachedKeys, v: cachedValues, out: att, logSumExp: scratch.lse + start * h,
      shape: AttentionShape(
        batch: 1, heads: h, kvHeads: g, queryLength: ts, keyLength: row + ts, headDim: d, kvHeadStride: capacity * d),
      mask: AttentionMask(causal: true, queryOffset: row), bias: nil, scale: scale)
    // Back to one row per token: [H, Ts, D] -> [Ts, H·D].
    let merged = scratch.merged + start * h * d
    for t in 0..<ts {
      for head in 0..<h { (merged + (t * h + head) * d).update(from: att + (head * ts + t) * d, count: d) }
    }
  }
}

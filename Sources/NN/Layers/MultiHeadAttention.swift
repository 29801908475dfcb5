import TensorCore

/// Multi-head attention with grouped-query heads, optional rotary positions and any ``AttentionMask``.
///
/// Shapes: B batch, T time, C model width, H query heads, G key/value heads, D head width.
public final class MultiHeadAttention: Module {
  /// C -> H·D.
  @Child(key: "q_proj") public var queryProjection: Linear
  /// C -> G·D.
  @Child(key: "k_proj") public var keyProjection: Linear
  /// C -> G·D.
  @Child(key: "v_proj") public var valueProjection: Linear
  /// H·D -> C.
  @Child(key: "o_proj") public var outputProjection: Linear
  /// Query heads H.
  public let heads: Int
  /// Key/value heads G (H is a multiple of G).
  public let kvHeads: Int
  /// Head width D.
  public let headDimensions: Int
  /// Rotary embedding of queries and keys, when used.
  public let rotary: RotaryConfiguration?

  /// A layer of width `dimensions` with `heads` query and `kvHeads` key/value heads.
  public init(
    _ dimensions: Int, heads: Int, kvHeads: Int? = nil, headDimensions: Int? = nil, bias: Bool = false,
    rotary: RotaryConfiguration? = nil, generator: inout RandomGenerator
  ) {
    let d = headDimensions ?? dimensions / heads
    let g = kvHeads ?? heads
    precondition(heads % g == 0, "MultiHeadAttention: \(heads) heads are not a multiple of \(g) key/value heads")
    self.heads = heads
    self.kvHeads = g
    self.headDimensions = d
    self.rotary = rotary
    super.init()
    queryProjection = Linear(dimensions, heads * d, bias: bias, generator: &generator)
    keyProjection = Linear(dimensions, g * d, bias: bias, generator: &generator)
    valueProjection = Linear(dimensions, g * d, bias: bias, generator: &generator)
    outputProjection = Linear(heads * d, dimensions, bias: bias, generator: &generator)
  }

  /// Splits [B, T, n·D] into heads [B, n, T, D]; queries and keys (`positionOffset` non-nil) rotate
  /// when `rotary` is set, values never do.
  func heads(_ x: Tensor, count n: Int, positionOffset: Int?) throws -> Tensor {
    var h = try x.reshaped([x.shape[0], x.shape[1], n, headDimensions])  // [B, T, n, D]
    if let rotary, let positionOffset { h = try h.rotaryEmbedding(rotary, positionOffset: positionOffset) }
    return try h.transposed(1, 2).contiguous()  // [B, n, T, D]
  }

  /// Attends over x [B, T, C]; `prefix` holds keys and values [B, G, P, D] of earlier positions.
  public func callAsFunction(
    _ x: Tensor, mask: AttentionMask = AttentionMask(causal: true), prefix: (keys: Tensor, values: Tensor)? = nil,
    bias: Tensor? = nil
  ) throws -> Tensor {
    let (b, t) = (x.shape[0], x.shape[1])
    let past = prefix?.keys.shape[2] ?? 0
    let q = try heads(queryProjection(x), count: heads, positionOffset: past)
    var k = try heads(keyProjection(x), count: kvHeads, positionOffset: past)
    var v = try heads(valueProjection(x), count: kvHeads, positionOffset: nil)
    if let prefix {
      k = try Tensor.concatenate([prefix.keys, k], axis: 2)
      v = try Tensor.concatenate([prefix.values, v], axis: 2)
    }
    var m = mask
    m.queryOffset = past
    let y = try Tensor.attention(query: q, key: k, value: v, mask: m, bias: bias)  // [B, H, T, D]
    let merged = try y.transposed(1, 2).reshaped([b, t, heads * headDimensions])
    return try outputProjection(merged)
  }
}

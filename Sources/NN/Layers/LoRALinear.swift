import TensorCore

/// A frozen ``Linear`` plus a trainable low-rank update: y = base(x) + (α/r) · x Aᵀ Bᵀ.
///
/// B starts at zero, so wrapping a layer does not change its output until training moves B.
public final class LoRALinear: Module {
  /// The wrapped layer, frozen.
  public let base: Linear
  /// [r, in], initialised like a Linear layer.
  @Parameter(key: "lora_A") public var a: Tensor
  /// [out, r], zeros.
  @Parameter(key: "lora_B") public var b: Tensor
  /// Scale α / r.
  public let scale: Float

  /// Wraps `base` with rank `rank` and scaling `alpha`.
  public init(wrapping base: Linear, rank: Int, alpha: Float, generator: inout RandomGenerator) {
    self.base = base
    self.scale = alpha / Float(rank)
    let bound = 1 / Float(base.inFeatures).squareRoot()
    super.init()
    a = Tensor.uniform([rank, base.inFeatures], low: -bound, high: bound, generator: &generator)
    b = Tensor.zeros([base.outFeatures, rank])
    base.freeze()
  }

  /// base(x) + scale · (x Aᵀ) Bᵀ.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try base(x) + x.linear(weight: a).linear(weight: b) * scale
  }

  /// A plain Linear whose weight includes the update (W + scale · B A), for export.
  public func merged() throws -> Linear {
    let delta = try withoutGradients { try b.matmul(a) * scale }
    return Linear(weight: try base.weight + delta, bias: base.bias)
  }
}

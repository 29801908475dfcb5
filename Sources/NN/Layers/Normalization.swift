import TensorCore

/// Layer normalisation over the last axis with an optional affine transform.
public final class LayerNorm: Module {
  /// Gain γ, when affine.
  @Parameter public var weight: Tensor?
  /// Shift β, when affine with bias.
  @Parameter public var bias: Tensor?
  /// Added to the variance.
  public let eps: Float

  /// γ = 1 and β = 0.
  public init(_ dimensions: Int, eps: Float = 1e-5, affine: Bool = true, bias: Bool = true) {
    self.weight = affine ? Tensor.ones([dimensions]) : nil
    self.bias = affine && bias ? Tensor.zeros([dimensions]) : nil
    self.eps = eps
    super.init()
  }

  /// Normalises `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.layerNorm(weight: weight, bias: bias, eps: eps)
  }
}

/// Root-mean-square normalisation over the last axis (Llama's norm).
public final class RMSNorm: Module {
  /// Gain, initialised to one.
  @Parameter public var weight: Tensor
  /// Added to the mean square.
  public let eps: Float

  /// Gain 1.
  public init(_ dimensions: Int, eps: Float = 1e-5) {
    self.weight = Tensor.ones([dimensions])
    self.eps = eps
    super.init()
  }

  /// Normalises `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.rmsNorm(weight: weight, eps: eps)
  }
}

/// Group normalisation of [N, C, ...] inputs.
public final class GroupNorm: Module {
  /// Per-channel gain.
  @Parameter public var weight: Tensor?
  /// Per-channel shift.
  @Parameter public var bias: Tensor?
  /// Number of groups the channels are split into.
  public let groups: Int
  /// Added to the variance.
  public let eps: Float

  /// γ = 1 and β = 0.
  public init(groups: Int, channels: Int, eps: Float = 1e-5, affine: Bool = true) {
    self.groups = groups
    self.eps = eps
    self.weight = affine ? Tensor.ones([channels]) : nil
    self.bias = affine ? Tensor.zeros([channels]) : nil
    super.init()
  }

  /// Normalises `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.groupNorm(groups: groups, weight: weight, bias: bias, eps: eps)
  }
}

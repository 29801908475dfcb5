import TensorCore

/// y = x Wᵀ + b with W stored [out, in] as in PyTorch and Hugging Face checkpoints.
public final class Linear: Module {
  /// [outFeatures, inFeatures].
  @Parameter public var weight: Tensor
  /// [outFeatures], when the layer has a bias.
  @Parameter public var bias: Tensor?

  /// A layer initialised like PyTorch's: U(-1/√in, 1/√in) for weight and bias.
  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout RandomGenerator) {
    let bound = 1 / Float(inFeatures).squareRoot()
    self.weight = Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, generator: &generator) : nil
    super.init()
  }

  /// Wraps existing weights.
  public init(weight: Tensor, bias: Tensor? = nil) {
    self.weight = weight
    self.bias = bias
    super.init()
  }

  /// Input features.
  public var inFeatures: Int { weight.shape[1] }
  /// Output features.
  public var outFeatures: Int { weight.shape[0] }

  /// Applies the layer over the last axis of `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try x.linear(weight: weight, bias: bias)
  }
}

import TensorCore

/// A lookup table of `count` vectors of size `dimensions`.
public final class Embedding: Module {
  /// [count, dimensions].
  @Parameter public var weight: Tensor

  /// A table initialised N(0, std²) (PyTorch uses std 1; GPT-style models 0.02).
  public init(_ count: Int, _ dimensions: Int, std: Float = 1, generator: inout RandomGenerator) {
    self.weight = Tensor.normal([count, dimensions], std: std, generator: &generator)
    super.init()
  }

  /// Wraps an existing table.
  public init(weight: Tensor) {
    self.weight = weight
    super.init()
  }

  /// Looks up integer ids of any shape; the result adds a trailing axis of size `dimensions`.
  public func callAsFunction(_ ids: Tensor) throws -> Tensor {
    try weight.embedding(ids)
  }

  /// Scores against every row (a tied output head): x [..., dimensions] -> [..., count].
  public func asLinear(_ x: Tensor) throws -> Tensor {
    try x.linear(weight: weight)
  }
}

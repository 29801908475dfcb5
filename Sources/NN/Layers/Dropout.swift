import TensorCore

/// Inverted dropout, active only in training mode.
public final class Dropout: Module {
  /// Probability of zeroing an element.
  public let probability: Float

  /// A dropout layer.
  public init(_ probability: Float) {
    self.probability = probability
    super.init()
  }

  /// Drops elements of `x` in training mode; identity in evaluation mode or when p = 0.
  public func callAsFunction(_ x: Tensor, generator: inout RandomGenerator) throws -> Tensor {
    guard isTraining, probability > 0 else { return x }
    return try x.dropout(probability: probability, generator: &generator)
  }
}

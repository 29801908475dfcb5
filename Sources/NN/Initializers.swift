import Foundation
import TensorCore

/// Standard weight initialisers. Fan-in and fan-out follow PyTorch: for a weight [out, in, k…],
/// fanIn = in·∏k and fanOut = out·∏k.
public enum Initializer: Sendable, Equatable {
  /// All zeros.
  case zeros
  /// All ones.
  case ones
  /// N(0, std²).
  case normal(std: Float)
  /// N(0, std²) redrawn outside ±2 std, as GPT-style code initialises embeddings.
  case truncatedNormal(std: Float)
  /// U(-bound, bound).
  case uniform(bound: Float)
  /// Glorot/Xavier uniform: bound = gain·√(6 / (fanIn + fanOut)).
  case xavierUniform(gain: Float)
  /// Glorot/Xavier normal: std = gain·√(2 / (fanIn + fanOut)).
  case xavierNormal(gain: Float)
  /// He/Kaiming uniform for ReLU-like layers: bound = gain·√(3 / fanIn); PyTorch's Linear default is gain √(1/3).
  case kaimingUniform(gain: Float)
  /// He/Kaiming normal: std = gain / √fanIn (gain √2 for ReLU).
  case kaimingNormal(gain: Float)

  /// (fanIn, fanOut) of a weight shape.
  public static func fans(_ shape: [Int]) -> (Int, Int) {
    guard shape.count >= 2 else { return (shape.first ?? 1, shape.first ?? 1) }
    let receptive = shape.dropFirst(2).reduce(1, *)
    return (shape[1] * receptive, shape[0] * receptive)
  }

  /// A new tensor of `shape` drawn from this initialiser.
  public func make(_ shape: [Int], generator: inout RandomGenerator) -> Tensor {
    let (fanIn, fanOut) = Initializer.fans(shape)
    switch self {
    case .zeros: return Tensor.zeros(shape)
    case .ones: return Tensor.ones(shape)
    case .normal(let std): return Tensor.normal(shape, std: std, generator: &generator)
    case .truncatedNormal(let std):
      // Redraw values beyond two standard deviations, as torch.nn.init.trunc_normal_ does.
      let draws = Tensor.normal([shape.reduce(1, *) * 2 + 64], std: std, generator: &generator).floats
      var kept = draws.filter { abs($0) <= 2 * std }
      while kept.count < shape.reduce(1, *) {
        kept += Tensor.normal([64], std: std, generator: &generator).floats.filter { abs($0) <= 2 * std }
      }
      return Tensor(Array(kept.prefix(shape.reduce(1, *))), shape: shape)
    case .uniform(let bound): return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
    case .xavierUniform(let gain):
      let bound = gain * (6 / Float(fanIn + fanOut)).squareRoot()
      return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
    case .xavierNormal(let gain):
      return Tensor.normal(shape, std: gain * (2 / Float(fanIn + fanOut)).squareRoot(), generator: &generator)
    case .kaimingUniform(let gain):
      let bound = gain * (3 / Float(fanIn)).squareRoot()
      return Tensor.uniform(shape, low: -bound, high: bound, generator: &generator)
    case .kaimingNormal(let gain):
      return Tensor.normal(shape, std: gain / Float(fanIn).squareRoot(), generator: &generator)
    }
  }
}

/// Sums gradients over micro-batches so that one optimizer step sees the gradient of the whole batch.
public struct GradientAccumulator {
  /// The running sums by parameter path.
  public private(set) var sums: [String: Tensor] = [:]
  /// Micro-batches added so far.
  public private(set) var count = 0

  /// An empty accumulator.
  public init() {}

  /// Adds one micro-batch's gradients.
  public mutating func add(_ gradients: [String: Tensor]) throws {
    for (k, g) in gradients {
      sums[k] = try sums[k].map { try $0 + g } ?? g
    }
    count += 1
  }

  /// The mean gradient over the micro-batches added (what one large batch would give when each
  /// micro-batch loss is a mean over equally many tokens).
  public func mean() -> [String: Tensor] {
    guard count > 1 else { return sums }
    return sums.mapValues { $0 * (1 / Float(count)) }
  }

  /// Empties the accumulator.
  public mutating func reset() {
    sums = [:]
    count = 0
  }
}

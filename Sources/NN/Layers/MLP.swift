import TensorCore

/// Activation functions for feed-forward blocks.
public enum Activation: String, Sendable, Codable {
  /// GELU, exact (erf) form.
  case gelu
  /// GELU, tanh approximation (GPT-2's "gelu_new").
  case geluTanh = "gelu_new"
  /// max(x, 0).
  case relu
  /// x · σ(x), also called swish.
  case silu

  /// Applies the activation.
  public func callAsFunction(_ x: Tensor) -> Tensor {
    switch self {
    case .gelu: return x.gelu()
    case .geluTanh: return x.gelu(approximate: true)
    case .relu: return x.relu()
    case .silu: return x.silu()
    }
  }
}

/// Two-layer feed-forward block: down(act(up(x))).
public final class MLP: Module {
  /// The widening projection.
  @Child(key: "fc1") public var up: Linear
  /// The narrowing projection.
  @Child(key: "fc2") public var down: Linear
  /// The activation between them.
  public let activation: Activation

  /// A block of width `hidden`.
  public init(
    _ dimensions: Int, hidden: Int, activation: Activation = .gelu, bias: Bool = true, generator: inout RandomGenerator
  ) {
    self.activation = activation
    super.init()
    up = Linear(dimensions, hidden, bias: bias, generator: &generator)
    down = Linear(hidden, dimensions, bias: bias, generator: &generator)
  }

  /// Applies the block.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try down(activation(up(x)))
  }
}

/// Gated feed-forward block (SwiGLU with SiLU): down(act(gate(x)) ⊙ up(x)), Llama's MLP.
public final class GatedMLP: Module {
  /// The gate projection.
  @Child(key: "gate_proj") public var gate: Linear
  /// The value projection.
  @Child(key: "up_proj") public var up: Linear
  /// The output projection.
  @Child(key: "down_proj") public var down: Linear
  /// The gate's activation.
  public let activation: Activation

  /// A block of width `hidden`, initialised like PyTorch's linear layers.
  public convenience init(
    _ dimensions: Int, hidden: Int, activation: Activation = .silu, bias: Bool = false,
    generator: inout RandomGenerator
  ) {
    self.init(dimensions, hidden: hidden, activation: activation, bias: bias) {
      Linear($0, $1, bias: $2, generator: &generator)
    }
  }

  /// A block of width `hidden` whose projections (gate, up, down, in that order) come from
  /// `linear(inFeatures, outFeatures, bias)`, e.g. ``Linear/placeholder(_:_:bias:)`` for weights a checkpoint fills.
  public init(
    _ dimensions: Int, hidden: Int, activation: Activation = .silu, bias: Bool = false,
    linear: (Int, Int, Bool) -> Linear
  ) {
    self.activation = activation
    super.init()
    gate = linear(dimensions, hidden, bias)
    up = linear(dimensions, hidden, bias)
    down = linear(hidden, dimensions, bias)
  }

  /// Applies the block.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    try down(hidden(x))
  }

  /// residual + the block applied to x, with the residual added by the down projection.
  public func callAsFunction(_ x: Tensor, adding residual: Tensor) throws -> Tensor {
    try down(hidden(x), adding: residual)
  }

  /// act(gate(x)) ⊙ up(x); the gate and up projections share one pass over their weights when decoding.
  func hidden(_ x: Tensor) throws -> Tensor {
    let projections = try Linear.outputs(of: [gate, up], on: x)
    return try activation(projections[0]) * projections[1]
  }
}

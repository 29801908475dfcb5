import TensorCore

/// y = x Wᵀ + b with W stored [out, in] as in PyTorch and Hugging Face checkpoints.
///
/// A layer can carry a LoRA adapter (``attachLoRA(rank:alpha:generator:)``): y = x Wᵀ + b + (α/r) · x Aᵀ Bᵀ,
/// with W and b frozen and A, B stored beside them as `lora_A` [r, in] and `lora_B` [out, r].
public final class Linear: Module {
  /// [outFeatures, inFeatures].
  @Parameter public var weight: Tensor
  /// [outFeatures], when the layer has a bias.
  @Parameter public var bias: Tensor?
  /// LoRA down-projection A [rank, inFeatures], when an adapter is attached.
  @Parameter(key: "lora_A") public var loraA: Tensor? = nil
  /// LoRA up-projection B [outFeatures, rank], zeros when attached.
  @Parameter(key: "lora_B") public var loraB: Tensor? = nil
  /// The adapter's scale α / r (0 without an adapter).
  public private(set) var loraScale: Float = 0
  /// The weight in a decoding format (bf16, Q8_0), when packed for inference (``pack(_:)``): the forward
  /// pass then reads it instead of ``weight``, and records no gradient for it.
  public private(set) var packed: PackedMatrix?

  /// A layer initialised like PyTorch's: U(-1/√in, 1/√in) for weight and bias.
  public init(_ inFeatures: Int, _ outFeatures: Int, bias: Bool = true, generator: inout RandomGenerator) {
    let bound = 1 / Float(inFeatures).squareRoot()
    self.weight = Tensor.uniform([outFeatures, inFeatures], low: -bound, high: bound, generator: &generator)
    self.bias = bias ? Tensor.uniform([outFeatures], low: -bound, high: bound, generator: &generator) : nil
    super.init()
  }

  /// A layer whose weight (and bias) are zeros: a placeholder for weights that a checkpoint fills next,
  /// without the cost of drawing random numbers.
  public static func zeros(_ inFeatures: Int, _ outFeatures: Int, bias: Bool) -> Linear {
    Linear(weight: Tensor.zeros([outFeatures, inFeatures]), bias: bias ? Tensor.zeros([outFeatures]) : nil)
  }

  /// A layer of ``TensorCore/Tensor/placeholder(_:)`` tensors: the shapes of weights that a checkpoint
  /// supplies next, allocating nothing until it does.
  public static func placeholder(_ inFeatures: Int, _ outFeatures: Int, bias: Bool) -> Linear {
    Linear(
      weight: Tensor.placeholder([outFeatures, inFeatures]), bias: bias ? Tensor.placeholder([outFeatures]) : nil)
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
  /// Whether a LoRA adapter is attached.
  public var hasLoRA: Bool { loraA != nil }

  /// Applies the layer over the last axis of `x`.
  public func callAsFunction(_ x: Tensor) throws -> Tensor {
    let y: Tensor
    if let packed {
      let product = try x.linear(packed: packed)
      y = try bias.map { try product + $0 } ?? product
    } else {
      y = try x.linear(weight: weight, bias: bias)
    }
    guard let a = loraA, let b = loraB else { return y }
    return try y + x.linear(weight: a).linear(weight: b) * loraScale
  }

  /// Attaches a LoRA adapter of rank `rank` and scaling `alpha` and freezes W and b.
  ///
  /// A starts like a Linear layer's weight and B at zero, so the output does not change until B is trained.
  public func attachLoRA(rank: Int, alpha: Float, generator: inout RandomGenerator) throws {
    guard rank > 0, rank <= min(inFeatures, outFeatures) else {
      throw TensorError("attachLoRA", "rank \(rank) must be in 1...\(min(inFeatures, outFeatures)) for \(weight.shape)")
    }
    guard !hasLoRA else { throw TensorError("attachLoRA", "the layer already has a LoRA adapter") }
    let bound = 1 / Float(inFeatures).squareRoot()
    loraA = Tensor.uniform([rank, inFeatures], low: -bound, high: bound, generator: &generator)
    loraB = Tensor.zeros([outFeatures, rank])
    loraScale = alpha / Float(rank)
    freeze(["weight", "bias"])
  }

  /// Folds the adapter into the weight (W + (α/r) · B A) and removes it; the output stays the same.
  public func mergeAdapter() throws {
    guard let a = loraA, let b = loraB else { return }
    weight = try withoutGradients { try weight + b.matmul(a) * loraScale }
    loraA = nil
    loraB = nil
    loraScale = 0
  }
}

extension Linear {
  /// Whether the layer is a bare x · Wᵀ (no bias, no adapter) that can join a fused product.
  public var isBare: Bool { bias == nil && loraA == nil }

  /// Packs the weight into `format` for inference (``packed``); `.float32` drops a packed copy. The float32
  /// weight stays as it is (checkpoints save it).
  public func pack(_ format: WeightFormat) throws {
    packed = format == .float32 ? nil : try PackedMatrix(weight, format: format)
  }

  /// Reads `matrix` (e.g. a checkpoint's own Q8_0 blocks) instead of ``weight`` from now on; it must have
  /// the weight's shape.
  public func pack(_ matrix: PackedMatrix) throws {
    guard [matrix.rows, matrix.columns] == weight.shape else {
      throw TensorError.shapes(
        "Linear", [matrix.rows, matrix.columns], weight.shape, "packed and float weights differ")
    }
    packed = matrix
  }

  /// The outputs of several layers applied to the same input, in order. When every layer is bare the
  /// products go through ``TensorCore/Tensor/linear(weights:)`` (one pass over all the weights when
  /// decoding); otherwise each layer runs on its own.
  public static func outputs(of layers: [Linear], on x: Tensor) throws -> [Tensor] {
    guard layers.allSatisfy({ $0.isBare && $0.packed == nil }) else { return try layers.map { try $0(x) } }
    return try x.linear(weights: layers.map(\.weight))
  }

  /// residual + self(x): the layer and the residual connection around it, fused when the layer is bare.
  public func callAsFunction(_ x: Tensor, adding residual: Tensor) throws -> Tensor {
    guard isBare, packed == nil else { return try residual + self(x) }
    return try x.linear(weight: weight, adding: residual)
  }
}

import TensorCore

/// Adam with decoupled weight decay (Loshchilov & Hutter), or classic Adam with L2 decay.
///
/// Parameters whose path `decays(path, tensor)` rejects form the no-decay group (biases and norm
/// gains, by the common convention of ``decayMatricesOnly``).
public final class AdamW: Optimizer {
  /// The learning rate of the next step.
  public var learningRate: Float
  /// Moment decay rates (β₁, β₂).
  public var betas: (Float, Float)
  /// Added to the denominator.
  public var eps: Float
  /// Weight decay coefficient.
  public var weightDecay: Float
  /// Decoupled (AdamW) when true, L2 (Adam) when false.
  public let decoupled: Bool
  /// Whether a parameter belongs to the decayed group.
  public let decays: @Sendable (String, Tensor) -> Bool
  /// Steps taken.
  public private(set) var step = 0
  private var firstMoments: [String: Tensor] = [:]
  private var secondMoments: [String: Tensor] = [:]

  /// Decays tensors of rank ≥ 2 (weights), not vectors (biases, norm gains).
  public static let decayMatricesOnly: @Sendable (String, Tensor) -> Bool = { _, t in t.rank >= 2 }
  /// Decays everything (PyTorch's default for a single parameter group).
  public static let decayAll: @Sendable (String, Tensor) -> Bool = { _, _ in true }

  /// Creates the optimizer with PyTorch's defaults.
  public init(
    learningRate: Float = 1e-3, betas: (Float, Float) = (0.9, 0.999), eps: Float = 1e-8, weightDecay: Float = 0.01,
    decoupled: Bool = true, decays: @escaping @Sendable (String, Tensor) -> Bool = AdamW.decayAll
  ) {
    self.learningRate = learningRate
    self.betas = betas
    self.eps = eps
    self.weightDecay = weightDecay
    self.decoupled = decoupled
    self.decays = decays
  }

  /// One AdamW step over every trainable parameter that has a gradient.
  public func update(_ model: Module, gradients: [String: Tensor], gradientScale: Float) throws {
    let items = try parametersToUpdate(model, gradients, "AdamW")
    step += 1
    for (p, t, g) in items {
      let m = firstMoments[p.path] ?? Tensor.zeros(t.shape)
      let v = secondMoments[p.path] ?? Tensor.zeros(t.shape)
      guard m.shape == t.shape, v.shape == t.shape, m.dtype == .float32, v.dtype == .float32 else {
        throw TensorError(
          "AdamW", "the moments of \(p.path) have shapes \(m.shape) and \(v.shape), the parameter \(t.shape)")
      }
      firstMoments[p.path] = m
      secondMoments[p.path] = v
      let settings = OptimizerKernels.AdamStep(
        learningRate: learningRate, beta1: betas.0, beta2: betas.1, eps: eps,
        weightDecay: decays(p.path, t) ? weightDecay : 0, decoupled: decoupled, step: step)
      t.applyAdam(gradient: g, firstMoment: m, secondMoment: v, settings, gradientScale: gradientScale)
    }
  }

  /// Moments under `m.<path>` and `v.<path>`, and the step count under `step`.
  public func stateTensors() -> [String: Tensor] {
    var out: [String: Tensor] = ["step": Tensor([Float(step)])]
    for (k, t) in firstMoments { out["m." + k] = t }
    for (k, t) in secondMoments { out["v." + k] = t }
    return out
  }

  /// Restores state saved by ``stateTensors()``.
  public func loadState(_ state: [String: Tensor]) throws {
    step = try savedStepCount(state, "AdamW")
    firstMoments = [:]
    secondMoments = [:]
    for (k, t) in state {
      if k.hasPrefix("m.") { firstMoments[String(k.dropFirst(2))] = t.converted(to: .float32).copied() }
      if k.hasPrefix("v.") {
        let v = t.converted(to: .float32).copied()
        // A second moment is a running mean of squares: a negative one would make the step's square root NaN.
        guard (v.floats.min() ?? 0) >= 0 else {
          throw TensorError("AdamW", "optimizer state \(k) holds a negative second moment")
        }
        secondMoments[String(k.dropFirst(2))] = v
      }
    }
  }
}

import TensorCore

/// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and L2 decay.
public final class SGD: Optimizer {
  /// The learning rate of the next step.
  public var learningRate: Float
  /// Momentum μ (0: plain SGD).
  public var momentum: Float
  /// Dampening of the gradient added to the momentum buffer.
  public var dampening: Float
  /// Nesterov momentum.
  public var nesterov: Bool
  /// L2 weight decay.
  public var weightDecay: Float
  /// Steps taken.
  public private(set) var step = 0
  private var buffers: [String: Tensor] = [:]

  /// Creates the optimizer (PyTorch's semantics).
  public init(
    learningRate: Float, momentum: Float = 0, dampening: Float = 0, nesterov: Bool = false, weightDecay: Float = 0
  ) {
    self.learningRate = learningRate
    self.momentum = momentum
    self.dampening = dampening
    self.nesterov = nesterov
    self.weightDecay = weightDecay
  }

  /// One step over every trainable parameter that has a gradient.
  public func update(_ model: Module, gradients: [String: Tensor], gradientScale: Float) throws {
    let items = try parametersToUpdate(model, gradients, "SGD")
    step += 1
    for (p, t, g) in items {
      var buffer: Tensor?
      var first = false
      if momentum != 0 {
        if buffers[p.path] == nil {
          buffers[p.path] = Tensor.zeros(t.shape)
          first = true
        }
        buffer = buffers[p.path]
        if let buffer, buffer.shape != t.shape || buffer.dtype != .float32 {
          throw TensorError("SGD", "the momentum of \(p.path) has shape \(buffer.shape), the parameter \(t.shape)")
        }
      }
      t.applySGD(
        gradient: g, momentumBuffer: buffer, learningRate: learningRate, momentum: momentum, dampening: dampening,
        nesterov: nesterov,
        weightDecay: weightDecay, firstStep: first, gradientScale: gradientScale)
    }
  }

  /// Momentum buffers under `buf.<path>` and the step count.
  public func stateTensors() -> [String: Tensor] {
    var out: [String: Tensor] = ["step": Tensor([Float(step)])]
    for (k, t) in buffers { out["buf." + k] = t }
    return out
  }

  /// Restores state saved by ``stateTensors()``.
  public func loadState(_ state: [String: Tensor]) throws {
    step = try savedStepCount(state, "SGD")
    buffers = [:]
    for (k, t) in state where k.hasPrefix("buf.") {
      buffers[String(k.dropFirst(4))] = t.converted(to: .float32).copied()
    }
  }
}

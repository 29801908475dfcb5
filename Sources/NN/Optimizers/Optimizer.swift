import TensorCore

/// Updates a model's trainable parameters from their gradients.
public protocol Optimizer: AnyObject {
  /// The learning rate of the next step (schedules set it before each step).
  var learningRate: Float { get set }
  /// Number of steps taken.
  var step: Int { get }
  /// Applies one update; `gradientScale` multiplies every gradient first (clipping, averaging).
  func update(_ model: Module, gradients: [String: Tensor], gradientScale: Float) throws
  /// The optimizer's state as named tensors (moments, buffers, step), for checkpoints.
  func stateTensors() -> [String: Tensor]
  /// Restores state saved by ``stateTensors()``.
  func loadState(_ state: [String: Tensor]) throws
}

extension Optimizer {
  /// Applies one update with unscaled gradients.
  public func update(_ model: Module, gradients: [String: Tensor]) throws {
    try update(model, gradients: gradients, gradientScale: 1)
  }
}

/// The step count saved under `step` in an optimizer's state: one whole, non-negative number.
func savedStepCount(_ state: [String: Tensor], _ op: String) throws -> Int {
  guard let s = state["step"], s.count == 1 else { throw TensorError(op, "optimizer state has no step count") }
  let value = s.converted(to: .float32).item()
  guard value.isFinite, value >= 0, value < 1e15, value == value.rounded() else {
    throw TensorError(op, "optimizer state has step count \(value), not a whole non-negative number")
  }
  return Int(value)
}

/// Parameters to update this step: trainable, with a gradient, each storage once (tied weights).
func parametersToUpdate(_ model: Module, _ gradients: [String: Tensor], _ op: String) throws -> [(
  NamedParameter, Tensor, Tensor
)] {
  var seen = Set<ObjectIdentifier>()
  var out: [(NamedParameter, Tensor, Tensor)] = []
  for p in model.trainableParameters() {
    guard let g = gradients[p.path], let t = p.box.tensor else { continue }
    guard seen.insert(ObjectIdentifier(t.storage)).inserted else { continue }
    guard g.shape == t.shape else {
      throw TensorError.shapes(op, t.shape, g.shape, "differ for the gradient of \(p.path)")
    }
    guard t.dtype == .float32, t.isContiguous, !t.storage.isMapped else {
      throw TensorError(op, "parameter \(p.path) must be a contiguous, writable float32 tensor to be trained")
    }
    out.append((p, t, g.contiguous()))
  }
  return out
}

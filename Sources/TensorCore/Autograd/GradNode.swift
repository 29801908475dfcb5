/// One recorded operation in the reverse-mode tape.
///
/// Each tensor produced while gradients are being recorded keeps a node that remembers its inputs and
/// how to turn the gradient of its output into gradients of those inputs. Leaves (the tensors we
/// differentiate with respect to) have no inputs and no backward function.
final class GradNode: @unchecked Sendable {
  /// The operation's name, for debugging.
  let name: String
  /// The inputs, in the order `backward` returns their gradients.
  let inputs: [Tensor]
  /// Maps the output gradient to one gradient (or nil) per input.
  let backward: ((Tensor) throws -> [Tensor?])?
  /// For a slice, where the output sits in its input: the gradient is added into that region of the
  /// input's gradient instead of being padded to full size.
  let slice: (axis: Int, start: Int)?

  init(
    name: String, inputs: [Tensor], backward: ((Tensor) throws -> [Tensor?])?, slice: (axis: Int, start: Int)? = nil
  ) {
    self.name = name
    self.inputs = inputs
    self.backward = backward
    self.slice = slice
  }
}

/// Whether operations record the tape.
///
/// The switch is task-local: concurrent tasks (for example tests running in parallel) each see
/// their own setting. Kernels' worker threads never consult it.
public enum GradMode {
  @TaskLocal static var isDisabled = false

  /// Whether recording is on.
  public static var isEnabled: Bool { !isDisabled }
}

/// Runs `body` without recording gradients (inference, optimizer updates, backward passes).
public func withoutGradients<T>(_ body: () throws -> T) rethrows -> T {
  if GradMode.isDisabled { return try body() }
  return try GradMode.$isDisabled.withValue(true) { try body() }
}

extension Tensor {
  /// Attaches a tape record to `self` when recording is on and some input requires a gradient.
  func recorded(_ name: String, _ inputs: [Tensor], _ backward: @escaping (Tensor) throws -> [Tensor?]) -> Tensor {
    guard GradMode.isEnabled, inputs.contains(where: { $0.node != nil }) else { return self }
    var out = self
    out.node = GradNode(name: name, inputs: inputs, backward: backward)
    return out
  }

  /// Attaches a slice record: the gradient flows into `axis` entries from `start` of the input.
  func recordedSlice(of input: Tensor, axis: Int, start: Int, _ backward: @escaping (Tensor) throws -> [Tensor?])
    -> Tensor
  {
    guard GradMode.isEnabled, input.node != nil else { return self }
    var out = self
    out.node = GradNode(name: "slice", inputs: [input], backward: backward, slice: (axis, start))
    return out
  }

  /// The same values, cut off from the tape: no gradient flows back through the result.
  public func detached() -> Tensor {
    var out = self
    out.node = nil
    return out
  }

  /// The same values as a new leaf of the tape: gradients with respect to it can be asked for.
  public func trackingGradients() -> Tensor {
    var out = self
    out.node = GradNode(name: "leaf", inputs: [], backward: nil)
    return out
  }
}

import Kernels

extension Tensor {
  /// Mean cross-entropy of logits [..., classes] against integer targets [...].
  ///
  /// Targets equal to `ignoreIndex` contribute nothing and are not counted in the mean. With
  /// `labelSmoothing` ε the target distribution is (1-ε)·one-hot + ε/classes, as in PyTorch.
  public func crossEntropy(targets: Tensor, ignoreIndex: Int = -100, labelSmoothing: Float = 0) throws -> Tensor {
    guard let classes = shape.last, rank >= 1 else { throw TensorError("crossEntropy", "logits need a class axis") }
    guard Array(shape.dropLast()) == targets.shape else {
      throw TensorError.shapes(
        "crossEntropy", shape, targets.shape, "do not match: targets must be logits.shape minus the last axis")
    }
    guard labelSmoothing >= 0 && labelSmoothing <= 1 else {
      throw TensorError("crossEntropy", "label smoothing must be in [0, 1], got \(labelSmoothing)")
    }
    let t = try targets.indexTensor("crossEntropy").converted(to: .int32)
    let ids = t.int64s
    if let bad = ids.first(where: { $0 != Int64(ignoreIndex) && ($0 < 0 || $0 >= Int64(classes)) }) {
      throw TensorError(
        "crossEntropy", "target \(bad) is outside 0..<\(classes) (and is not the ignore index \(ignoreIndex))")
    }
    let x = detached().float32Contiguous()
    let rows = count / Swift.max(classes, 1)
    let losses = Tensor(uninitializedShape: [rows])
    let lse = Tensor(uninitializedShape: [rows])
    let counted = CrossEntropy.forward(
      logits: x.pointer(), targets: t.pointer(Int32.self), losses: losses.pointer(), logSumExp: lse.pointer(),
      rows: rows, classes: classes, ignoreIndex: Int32(ignoreIndex), labelSmoothing: labelSmoothing)
    let denominator = Float(Swift.max(counted, 1))
    let total = Float(Reduction.sum(losses.pointer(), count: rows))
    let out = Tensor(scalar: counted == 0 ? .nan : total / denominator)
    return out.recorded("crossEntropy", [self]) { g in
      let scale = Tensor.full([rows], value: g.item() / denominator)
      let dx = Tensor(uninitializedShape: x.shape)
      CrossEntropy.backward(
        logits: x.pointer(), targets: t.pointer(Int32.self), logSumExp: lse.pointer(), dLoss: scale.pointer(),
        dLogits: dx.pointer(), rows: rows, classes: classes, ignoreIndex: Int32(ignoreIndex),
        labelSmoothing: labelSmoothing)
      return [dx]
    }
  }
}

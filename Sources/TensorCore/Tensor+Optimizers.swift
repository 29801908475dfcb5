import Kernels

/// In-place parameter updates, the one place where tensors are mutated.
///
/// The parameter must be a contiguous, writable float32 tensor; moments and buffers are tensors of
/// the same shape owned by the optimizer.
extension Tensor {
  /// Applies one Adam/AdamW step to `self` in place.
  public func applyAdam(
    gradient: Tensor, firstMoment: Tensor, secondMoment: Tensor, _ settings: OptimizerKernels.AdamStep,
    gradientScale: Float
  ) {
    let g = gradient.contiguous()
    precondition(isContiguous && !storage.isMapped && g.count == count, "applyAdam: parameter must be writable")
    OptimizerKernels.adam(
      parameter: pointer(), gradient: g.pointer(), firstMoment: firstMoment.pointer(),
      secondMoment: secondMoment.pointer(), count: count, settings, gradientScale: gradientScale)
  }

  /// Applies one SGD step to `self` in place.
  public func applySGD(
    gradient: Tensor, momentumBuffer: Tensor?, learningRate: Float, momentum: Float, dampening: Float,
    nesterov: Bool, weightDecay: Float, firstStep: Bool, gradientScale: Float
  ) {
    let g = gradient.contiguous()
    precondition(isContiguous && !storage.isMapped && g.count == count, "applySGD: parameter must be writable")
    OptimizerKernels.sgd(
      parameter: pointer(), gradient: g.pointer(), momentumBuffer: momentumBuffer?.pointer(), count: count,
      learningRate: learningRate, momentum: momentum, dampening: dampening, nesterov: nesterov,
      weightDecay: weightDecay, firstStep: firstStep, gradientScale: gradientScale)
  }

  /// Σ x², accumulated in Double.
  public func sumOfSquares() -> Double {
    let c = float32Contiguous()
    return Reduction.sumOfSquares(c.pointer(), count: c.count)
  }
}

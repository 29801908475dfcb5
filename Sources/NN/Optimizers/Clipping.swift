import TensorCore

/// Global-norm gradient clipping.
public enum GradientClipping {
  /// The L2 norm of all gradients together.
  public static func globalNorm(_ gradients: [String: Tensor]) -> Float {
    var total = 0.0
    for g in gradients.values { total += g.sumOfSquares() }
    return Float(total.squareRoot())
  }

  /// The factor that brings the global norm down to `maxNorm` (1 when already below), and the norm itself.
  ///
  /// Pass the factor to an optimizer's `update(_:gradients:gradientScale:)` so that clipping costs no extra pass.
  public static func scale(for gradients: [String: Tensor], maxNorm: Float) -> (scale: Float, norm: Float) {
    let norm = globalNorm(gradients)
    return (norm > maxNorm ? maxNorm / (norm + 1e-6) : 1, norm)
  }
}

import Foundation

/// A learning-rate schedule: the rate for a 0-based step.
public enum LearningRateSchedule: Sendable, Equatable {
  /// The same rate throughout (after an optional linear warmup).
  case constant(peak: Float, warmup: Int)
  /// Linear warmup to `peak`, then cosine decay to `minimum` at `total` steps.
  case cosine(peak: Float, minimum: Float, warmup: Int, total: Int)
  /// Linear warmup, then linear decay to `minimum` at `total` steps.
  case linear(peak: Float, minimum: Float, warmup: Int, total: Int)
  /// Linear warmup, then peak · √warmup / √step (the Transformer paper's schedule).
  case inverseSquareRoot(peak: Float, warmup: Int)

  /// The learning rate at `step` (0-based).
  public func rate(at step: Int) -> Float {
    switch self {
    case .constant(let peak, let warmup):
      return warmupRate(peak, warmup, step) ?? peak
    case .cosine(let peak, let minimum, let warmup, let total):
      if let w = warmupRate(peak, warmup, step) { return w }
      let progress = min(1, Double(step - warmup) / Double(max(1, total - warmup)))
      return minimum + (peak - minimum) * Float(0.5 * (1 + cos(Double.pi * progress)))
    case .linear(let peak, let minimum, let warmup, let total):
      if let w = warmupRate(peak, warmup, step) { return w }
      let progress = min(1, Float(step - warmup) / Float(max(1, total - warmup)))
      return peak + (minimum - peak) * progress
    case .inverseSquareRoot(let peak, let warmup):
      if let w = warmupRate(peak, warmup, step) { return w }
      return peak * Float((Double(max(warmup, 1)) / Double(max(step, 1))).squareRoot())
    }
  }

  private func warmupRate(_ peak: Float, _ warmup: Int, _ step: Int) -> Float? {
    guard step < warmup else { return nil }
    return peak * Float(step + 1) / Float(warmup)
  }
}

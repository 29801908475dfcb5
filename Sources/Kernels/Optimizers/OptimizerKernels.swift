/// In-place parameter updates for the optimizers, one pass over memory each.
public enum OptimizerKernels {
  /// Hyper-parameters of one Adam/AdamW step.
  public struct AdamStep: Sendable {
    /// Learning rate.
    public var learningRate: Float
    /// First-moment decay β₁.
    public var beta1: Float
    /// Second-moment decay β₂.
    public var beta2: Float
    /// Added to √v̂.
    public var eps: Float
    /// Weight decay: decoupled (AdamW) or added to the gradient (Adam).
    public var weightDecay: Float
    /// Whether decay is decoupled from the gradient (AdamW).
    public var decoupled: Bool
    /// 1-based step number, for bias correction.
    public var step: Int

    /// Creates the step description.
    public init(
      learningRate: Float, beta1: Float, beta2: Float, eps: Float, weightDecay: Float, decoupled: Bool, step: Int
    ) {
      self.learningRate = learningRate
      self.beta1 = beta1
      self.beta2 = beta2
      self.eps = eps
      self.weightDecay = weightDecay
      self.decoupled = decoupled
      self.step = step
    }
  }

  /// Adam or AdamW, as PyTorch computes them, with the gradient scaled by `gradientScale` first (clipping).
  public static func adam(
    parameter p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
    firstMoment m: UnsafeMutablePointer<Float>,
    secondMoment v: UnsafeMutablePointer<Float>, count: Int, _ s: AdamStep, gradientScale: Float = 1
  ) {
    let c1 = 1 - pow(Double(s.beta1), Double(s.step))
    let c2 = 1 - pow(Double(s.beta2), Double(s.step))
    let stepSize = Float(Double(s.learningRate) / c1)
    let c2root = Float(c2.squareRoot())
    let decay = s.decoupled ? 1 - s.learningRate * s.weightDecay : 1
    let l2 = s.decoupled ? 0 : s.weightDecay
    let pp = UncheckedSendable(p)
    let pg = UncheckedSendable(g)
    let pm = UncheckedSendable(m)
    let pv = UncheckedSendable(v)
    Parallel.forChunks(count: count, grain: 1 << 15) { r in
      let p = pp.value
      let g = pg.value
      let m = pm.value
      let v = pv.value
      for i in r {
        var grad = g[i] * gradientScale
        if l2 != 0 { grad += l2 * p[i] }
        let mi = s.beta1 * m[i] + (1 - s.beta1) * grad
        let vi = s.beta2 * v[i] + (1 - s.beta2) * grad * grad
        m[i] = mi
        v[i] = vi
        let denominator = vi.squareRoot() / c2root + s.eps
        p[i] = p[i] * decay - stepSize * mi / denominator
      }
    }
  }

  /// SGD with momentum (PyTorch semantics: buf = μ·buf + (1-dampening)·g; Nesterov uses g + μ·buf).
  public static func sgd(
    parameter p: UnsafeMutablePointer<Float>, gradient g: UnsafePointer<Float>,
    momentumBuffer b: UnsafeMutablePointer<Float>?,
    count: Int, learningRate: Float, momentum: Float, dampening: Float, nesterov: Bool, weightDecay: Float,
    firstStep: Bool, gradientScale: Float = 1
  ) {
    let pp = UncheckedSendable(p)
    let pg = UncheckedSendable(g)
    let pb = UncheckedSendable(b)
    Parallel.forChunks(count: count, grain: 1 << 15) { r in
      let p = pp.value
      let g = pg.value
      for i in r {
        var d = g[i] * gradientScale
        if weightDecay != 0 { d += weightDecay * p[i] }
        if let b = pb.value, momentum != 0 {
          let buf = firstStep ? d : momentum * b[i] + (1 - dampening) * d
          b[i] = buf
          d = nesterov ? d + momentum * buf : buf
        }
        p[i] -= learningRate * d
      }
    }
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

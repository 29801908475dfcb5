import Foundation
import TestSupport
import Testing

@testable import NN
@testable import TensorCore

final class OneParameter: Module {
  @Parameter var w: Tensor
  init(_ values: [Float]) {
    w = Tensor(values)
    super.init()
  }
}

@Suite struct OptimizerTests {
  @Test func adamWMatchesHandComputedSteps() throws {
    let m = OneParameter([1.0, -2.0])
    let opt = AdamW(learningRate: 0.1, betas: (0.9, 0.999), eps: 1e-8, weightDecay: 0.01)
    var p: [Double] = [1, -2]
    var mm: [Double] = [0, 0]
    var vv: [Double] = [0, 0]
    let grads: [[Double]] = [[0.5, -1], [0.25, 2], [-1, 0.5]]
    for (t, g) in grads.enumerated() {
      try opt.update(m, gradients: ["w": Tensor(g.map { Float($0) })])
      for i in 0..<2 {
        p[i] *= 1 - 0.1 * 0.01
        mm[i] = 0.9 * mm[i] + 0.1 * g[i]
        vv[i] = 0.999 * vv[i] + 0.001 * g[i] * g[i]
        let mh = mm[i] / (1 - pow(0.9, Double(t + 1)))
        let vh = vv[i] / (1 - pow(0.999, Double(t + 1)))
        p[i] -= 0.1 * mh / (vh.squareRoot() + 1e-8)
      }
      for i in 0..<2 { #expect(abs(Double(m.w.floats[i]) - p[i]) < 1e-5) }
    }
    // The first AdamW step moves every coordinate by about lr (sign of the gradient).
    #expect(abs(Double(OneParameter([0]).w.floats[0])) == 0)
  }

  @Test func adamWithL2AddsDecayToTheGradient() throws {
    let m = OneParameter([2.0])
    let opt = AdamW(learningRate: 0.01, weightDecay: 0.5, decoupled: false)
    try opt.update(m, gradients: ["w": Tensor([0.0])])
    // g = 0 + 0.5 * 2 = 1; first step moves by lr * 1 / (1 + eps).
    #expect(abs(m.w.floats[0] - (2 - 0.01)) < 1e-6)
  }

  @Test func sgdMomentumAndNesterovMatchHandComputedSteps() throws {
    for nesterov in [false, true] {
      let m = OneParameter([1.0])
      let opt = SGD(learningRate: 0.1, momentum: 0.9, nesterov: nesterov, weightDecay: 0.1)
      var p = 1.0
      var buf = 0.0
      for (t, g) in [0.5, -0.25, 1.0].enumerated() {
        try opt.update(m, gradients: ["w": Tensor([Float(g)])])
        let d = g + 0.1 * p
        buf = t == 0 ? d : 0.9 * buf + d
        p -= 0.1 * (nesterov ? d + 0.9 * buf : buf)
        #expect(abs(Double(m.w.floats[0]) - p) < 1e-6)
      }
    }
  }

  @Test func optimizerStateRoundTripsAndContinuesIdentically() throws {
    let a = OneParameter([1, 2, 3])
    let b = OneParameter([1, 2, 3])
    let oa = AdamW(learningRate: 0.05)
    let ob = AdamW(learningRate: 0.05)
    let g = ["w": Tensor([0.1, -0.2, 0.3])]
    try oa.update(a, gradients: g)
    try ob.update(b, gradients: g)
    let restored = AdamW(learningRate: 0.05)
    try restored.loadState(ob.stateTensors())
    try oa.update(a, gradients: g)
    try restored.update(b, gradients: g)
    #expect(a.w.floats == b.w.floats)
    #expect(restored.step == 2)
  }

  @Test func noDecayGroupAndFrozenParametersAreLeftAlone() throws {
    let m = OneParameter([1, 1])
    let opt = AdamW(learningRate: 0.1, weightDecay: 0.5, decays: AdamW.decayMatricesOnly)
    try opt.update(m, gradients: ["w": Tensor([0, 0])])
    #expect(m.w.floats == [1, 1])  // zero gradient, rank-1 parameter: no decay
    m.freeze()
    try opt.update(m, gradients: ["w": Tensor([1, 1])])
    #expect(m.w.floats == [1, 1])
  }

  @Test func clippingAndSchedules() throws {
    let grads = ["a": Tensor([3, 0]), "b": Tensor([4])]
    #expect(abs(GradientClipping.globalNorm(grads) - 5) < 1e-6)
    let (scale, norm) = GradientClipping.scale(for: grads, maxNorm: 1)
    #expect(abs(scale * norm - 1) < 1e-5)
    #expect(GradientClipping.scale(for: grads, maxNorm: 10).scale == 1)
    let cosine = LearningRateSchedule.cosine(peak: 1, minimum: 0.1, warmup: 10, total: 110)
    #expect(cosine.rate(at: 0) == 0.1)
    #expect(cosine.rate(at: 9) == 1)
    #expect(abs(cosine.rate(at: 60) - 0.55) < 1e-6)
    #expect(abs(cosine.rate(at: 110) - 0.1) < 1e-6)
    let linear = LearningRateSchedule.linear(peak: 1, minimum: 0, warmup: 0, total: 4)
    #expect(linear.rate(at: 2) == 0.5)
    let isr = LearningRateSchedule.inverseSquareRoot(peak: 1, warmup: 4)
    #expect(isr.rate(at: 16) == 0.5)
    #expect(LearningRateSchedule.constant(peak: 0.3, warmup: 0).rate(at: 1000) == 0.3)
  }
}

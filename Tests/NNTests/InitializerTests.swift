import Foundation
import TestSupport
import Testing

@testable import NN
@testable import TensorCore

@Suite struct InitializerTests {
  func stats(_ t: Tensor) -> (mean: Double, std: Double, maxAbs: Float) {
    let v = t.floats.map { Double($0) }
    let mean = v.reduce(0, +) / Double(v.count)
    let variance = v.map { ($0 - mean) * ($0 - mean) }.reduce(0, +) / Double(v.count)
    return (mean, variance.squareRoot(), t.floats.map { abs($0) }.max() ?? 0)
  }

  @Test func initialisersHaveTheirDocumentedScale() {
    var rng = RandomGenerator(seed: 1)
    let shape = [256, 128, 3]  // fanIn 384, fanOut 768
    let xu = stats(Initializer.xavierUniform(gain: 1).make(shape, generator: &rng))
    let bound = (6.0 / 1152).squareRoot()
    #expect(abs(xu.std - bound / 3.0.squareRoot()) < 0.01 * bound)
    #expect(Double(xu.maxAbs) <= bound)
    let kn = stats(Initializer.kaimingNormal(gain: Float(2).squareRoot()).make(shape, generator: &rng))
    #expect(abs(kn.std - (2.0 / 384).squareRoot()) < 0.01 * (2.0 / 384).squareRoot())
    let tn = stats(Initializer.truncatedNormal(std: 0.02).make([10_000], generator: &rng))
    #expect(tn.maxAbs <= 0.04)
    #expect(abs(tn.std - 0.02 * 0.88) < 0.001)  // truncation at 2σ shrinks the std to about 0.88σ
    #expect(Initializer.fans([7, 5]) == (5, 7))
    #expect(Initializer.zeros.make([3], generator: &rng).floats == [0, 0, 0])
  }

  @Test func accumulatedMicroBatchesEqualOneBigBatch() throws {
    var rng = RandomGenerator(seed: 2)
    let layer = Linear(4, 3, generator: &rng)
    let x = randomTensor([8, 4], seed: 3)
    let y = randomTensor([8, 3], seed: 4)
    let (_, full) = try valueAndGradient(of: layer) { m in try (m(x) - y).square().mean() }
    var acc = GradientAccumulator()
    for part in try x.chunked(4, axis: 0).indices {
      let xs = try x.sliced(axis: 0, (part * 2)..<(part * 2 + 2))
      let ys = try y.sliced(axis: 0, (part * 2)..<(part * 2 + 2))
      let (_, g) = try valueAndGradient(of: layer) { m in try (m(xs) - ys).square().mean() }
      try acc.add(g)
    }
    let mean = acc.mean()
    #expect(acc.count == 4)
    for (k, g) in full { #expect(allClose(mean[k]!.floats, g.floats, atol: 1e-6), "\(k)") }
  }
}

import TestSupport
import Testing

@testable import NN
@testable import TensorCore

@Suite struct LayerTests {
  @Test func loraStartsAsTheBaseLayerAndMergesExactly() throws {
    var rng = RandomGenerator(seed: 1)
    let base = Linear(6, 4, generator: &rng)
    let lora = LoRALinear(wrapping: base, rank: 2, alpha: 4, generator: &rng)
    let x = randomTensor([3, 6], seed: 2)
    #expect(try lora(x).floats == base(x).floats)
    #expect(lora.trainableParameters().map(\.path).sorted() == ["lora_A", "lora_B"])
    lora.b = randomTensor([4, 2], seed: 3)
    let merged = try lora.merged()
    #expect(allClose(try lora(x).floats, try merged(x).floats, atol: 1e-5))
    let r = try checkGradients(
      of: { v in
        lora.a = v[0]
        lora.b = v[1]
        return try lora(x)
      }, at: [lora.a, lora.b])
    #expect(r.passed, "\(r)")
  }

  @Test func conv1dEqualsItsDefinition() throws {
    var rng = RandomGenerator(seed: 4)
    let conv = Conv1d(3, 2, kernelSize: 3, padding: 1, generator: &rng)
    let x = randomTensor([2, 3, 7], seed: 5)
    let y = try conv(x)
    #expect(y.shape == [2, 2, 7])
    let (xv, wv, bv, yv) = (x.floats, conv.weight.floats, conv.bias!.floats, y.floats)
    for n in 0..<2 {
      for o in 0..<2 {
        for t in 0..<7 {
          var s = bv[o]
          for c in 0..<3 {
            for k in 0..<3 where t - 1 + k >= 0 && t - 1 + k < 7 {
              s += wv[(o * 3 + c) * 3 + k] * xv[(n * 3 + c) * 7 + t - 1 + k]
            }
          }
          #expect(abs(yv[(n * 2 + o) * 7 + t] - s) < 1e-5)
        }
      }
    }
  }

  @Test func dropoutOnlyInTraining() throws {
    let d = Dropout(0.5)
    var rng = RandomGenerator(seed: 6)
    let x = Tensor.ones([1000])
    let trained = try d(x, generator: &rng).floats
    #expect(trained.contains(0) && trained.contains(2))
    d.eval()
    #expect(try d(x, generator: &rng).floats == x.floats)
  }

  @Test func normLayersUseTheirParameters() throws {
    let ln = LayerNorm(4)
    ln.weight = Tensor([1, 2, 3, 4])
    let x = Tensor([1, 2, 3, 4], shape: [1, 4])
    let y = try ln(x).floats
    // mean 2.5, var 1.25: normalised values -1.342, -0.447, 0.447, 1.342 times the gains.
    let expected: [Float] = [-1.3416, -0.8944, 1.3416, 5.3665]
    #expect(allClose(y, expected, atol: 1e-3))
    let gn = GroupNorm(groups: 2, channels: 4)
    #expect(try gn(randomTensor([2, 4, 3], seed: 7)).shape == [2, 4, 3])
    #expect(gn.namedParameters().map(\.path) == ["weight", "bias"])
  }
}

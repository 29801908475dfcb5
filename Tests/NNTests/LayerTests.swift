import TestSupport
import Testing

@testable import NN
@testable import TensorCore

@Suite struct LayerTests {
  @Test func loraStartsAsTheBaseLayerAndMergesExactly() throws {
    var rng = RandomGenerator(seed: 1)
    let lora = Linear(6, 4, generator: &rng)
    let x = randomTensor([3, 6], seed: 2)
    let before = try lora(x).floats
    try lora.attachLoRA(rank: 2, alpha: 4, generator: &rng)
    #expect(try lora(x).floats == before)
    #expect(lora.trainableParameters().map(\.path).sorted() == ["lora_A", "lora_B"])
    lora.loraB = randomTensor([4, 2], seed: 3)
    let adapted = try lora(x).floats
    #expect(!allClose(adapted, before, atol: 1e-3))
    let r = try checkGradients(
      of: { v in
        lora.loraA = v[0]
        lora.loraB = v[1]
        return try lora(x)
      }, at: [lora.loraA!, lora.loraB!])
    #expect(r.passed, "\(r)")
    let beforeMerge = try lora(x).floats
    try lora.mergeAdapter()
    #expect(!lora.hasLoRA && lora.namedParameters().map(\.path).sorted() == ["bias", "weight"])
    #expect(allClose(try lora(x).floats, beforeMerge, atol: 1e-5))
  }

  @Test func addLoRAAdaptsOnlyTheNamedLayersAndFreezesTheRest() throws {
    var rng = RandomGenerator(seed: 7)
    let attention = MultiHeadAttention(8, heads: 2, generator: &rng)
    let paths = try attention.addLoRA(rank: 2, alpha: 2, targets: ["q_proj", "v_proj"], generator: &rng)
    #expect(paths == ["q_proj", "v_proj"])
    #expect(
      attention.trainableParameters().map(\.path).sorted() == [
        "q_proj.lora_A", "q_proj.lora_B", "v_proj.lora_A", "v_proj.lora_B",
      ])
    #expect(throws: TensorError.self) {
      try attention.addLoRA(rank: 2, alpha: 2, targets: ["c_attn"], generator: &rng)
    }
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

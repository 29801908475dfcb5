import TestSupport
import Testing

@testable import NN
@testable import TensorCore

final class TinyBlock: Module {
  @Child(key: "self_attn") var attention: Linear
  let mlp: MLP
  @Parameter var scale: Tensor = Tensor.ones([3])

  init(generator: inout RandomGenerator) {
    self.mlp = MLP(3, hidden: 5, generator: &generator)
    super.init()
    attention = Linear(3, 3, generator: &generator)
  }
}

final class TinyModel: Module {
  @Child(key: "embed_tokens") var embedding: Embedding
  @Child(key: "layers") var blocks: [TinyBlock]
  let norm = RMSNorm(3)
  @Parameter(key: "lm_head") var head: Tensor?

  init(tied: Bool, generator: inout RandomGenerator) {
    super.init()
    embedding = Embedding(7, 3, generator: &generator)
    blocks = [TinyBlock(generator: &generator), TinyBlock(generator: &generator)]
    head = tied ? embedding.weight : nil
  }
}

@Suite struct ModuleTests {
  @Test func parameterPathsFollowDeclarationsAndKeys() {
    var rng = RandomGenerator(seed: 1)
    let m = TinyModel(tied: false, generator: &rng)
    let paths = m.namedParameters().map(\.path)
    #expect(
      paths == [
        "embed_tokens.weight",
        "layers.0.scale", "layers.0.self_attn.weight", "layers.0.self_attn.bias",
        "layers.0.mlp.fc1.weight", "layers.0.mlp.fc1.bias", "layers.0.mlp.fc2.weight", "layers.0.mlp.fc2.bias",
        "layers.1.scale", "layers.1.self_attn.weight", "layers.1.self_attn.bias",
        "layers.1.mlp.fc1.weight", "layers.1.mlp.fc1.bias", "layers.1.mlp.fc2.weight", "layers.1.mlp.fc2.bias",
        "norm.weight",
      ])
    let perBlock = 3 + (9 + 3) + (15 + 5 + 15 + 3)
    #expect(m.parameterCount == 21 + 2 * perBlock + 3)
  }

  @Test func tiedWeightsAreCountedOnceAndShareOneGradient() throws {
    var rng = RandomGenerator(seed: 2)
    let m = TinyModel(tied: true, generator: &rng)
    #expect(m.parameters()["lm_head"] != nil)
    #expect(m.parameterCount == TinyModel(tied: false, generator: &rng).parameterCount)
    let ids = Tensor(indices: [1, 4], shape: [2])
    let (_, grads) = try valueAndGradient(of: m) { model in
      let h = try model.embedding(ids)
      return try h.linear(weight: model.head!).sum()
    }
    let g = grads["embed_tokens.weight"]!.floats
    #expect(g == grads["lm_head"]!.floats)
    // Rows 1 and 4 get the lookup gradient (ones) plus every row gets the head gradient (sum of h).
    #expect(g.contains { $0 != 0 })
  }

  @Test func freezeUpdateAndModes() throws {
    var rng = RandomGenerator(seed: 3)
    let m = TinyModel(tied: false, generator: &rng)
    m.freeze(["layers.0."])
    #expect(m.trainableParameters().allSatisfy { !$0.path.hasPrefix("layers.0.") })
    #expect(m.trainableParameters().count == 16 - 7)
    m.unfreeze()
    #expect(m.trainableParameters().count == 16)
    try m.update(parameters: ["norm.weight": Tensor([2, 2, 2])])
    #expect(m.norm.weight.floats == [2, 2, 2])
    #expect(throws: TensorError.self) { try m.update(parameters: ["norm.weight": Tensor([2, 2])]) }
    #expect(throws: TensorError.self) { try m.update(parameters: ["nope": Tensor([2])]) }
    m.eval()
    #expect(!m.blocks[1].mlp.up.isTraining)
    m.train()
    #expect(m.blocks[1].mlp.up.isTraining)
  }

  @Test func layersMatchTheirDefinitions() throws {
    var rng = RandomGenerator(seed: 4)
    let x = randomTensor([2, 5, 8], seed: 5)
    let mha = MultiHeadAttention(8, heads: 4, kvHeads: 2, rotary: RotaryConfiguration(), generator: &rng)
    let full = try mha(x)
    // Causal: the first 3 positions do not depend on the last 2.
    let prefixOnly = try mha(x.sliced(axis: 1, 0..<3))
    #expect(allClose(try full.sliced(axis: 1, 0..<3).floats, prefixOnly.floats, atol: 1e-5))
    // Prefix (KV-cache style) attention equals full attention for the later positions.
    let k = try mha.heads(mha.keyProjection(x.sliced(axis: 1, 0..<3)), count: 2, positionOffset: 0)
    let v = try mha.heads(mha.valueProjection(x.sliced(axis: 1, 0..<3)), count: 2, positionOffset: nil)
    let tail = try mha(x.sliced(axis: 1, 3..<5), prefix: (k, v))
    #expect(allClose(try full.sliced(axis: 1, 3..<5).floats, tail.floats, atol: 1e-5))
    let mlp = GatedMLP(8, hidden: 12, generator: &rng)
    let y = try mlp(x)
    let expected = try mlp.down(mlp.gate(x).silu() * mlp.up(x))
    #expect(y.floats == expected.floats)
    let r = try checkGradients(of: { try mha($0[0]) }, at: [x])
    #expect(r.passed, "\(r)")
  }
}

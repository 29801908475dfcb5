import Models
import NN
import TensorCore
import Testing
import TransformerFAM

/// A tiny random Llama wrapped for FAM; embeddings are scaled up so that differences are well above noise.
func tinyFAM(
  layers: Int = 2, mode: FAMAttentionMode = .fam, block: Int = 8, memory: Int = 1, fam: Int = 3, seed: UInt64 = 7
) throws -> FAMModel {
  var generator = RandomGenerator(seed: seed)
  let config = LlamaConfiguration(
    vocabularySize: 61, hiddenSize: 32, intermediateSize: 48, layers: layers, heads: 4, kvHeads: 2,
    contextLength: 256)
  let parent = try Llama(config, generator: &generator)
  parent.embedding.weight = parent.embedding.weight * 50
  let model = try FAMModel(
    parent: parent, configuration: FAMConfiguration(mode: mode, blockSize: block, memoryBlocks: memory, famLength: fam),
    generator: &generator)
  model.prompt = model.prompt.map { $0 * 50 }
  return model
}

/// Token ids [1, count] drawn from `generator`.
func randomIDs(_ count: Int, seed: UInt64, vocabulary: Int = 61) -> [Int] {
  var generator = RandomGenerator(seed: seed)
  return (0..<count).map { _ in Int(generator.next() % UInt64(vocabulary)) }
}

/// Largest absolute difference of two tensors.
func maxDifference(_ a: Tensor, _ b: Tensor) -> Float {
  zip(a.contiguous().floats, b.contiguous().floats).map { abs($0 - $1) }.max() ?? 0
}

/// Largest absolute difference of rows `range` (axis 1) of two [1, T, C] tensors.
func maxDifference(_ a: Tensor, _ b: Tensor, rows range: Range<Int>) throws -> Float {
  maxDifference(try a.sliced(axis: 1, range), try b.sliced(axis: 1, range))
}

/// BSWA written out apart from ``FAMModel``: every layer of `model.parent` runs over the whole sequence
/// with an additive bias built here entry by entry (query i sees key j when j <= i and j's block is i's block
/// or one of the `m` before it), through plain attention with that bias and no ``AttentionMask``.
/// Final normalised hidden states [B, T, C] for ids [B, T].
func handMaskedBSWA(_ model: FAMModel, _ ids: Tensor, blockSize b: Int, memory m: Int) throws -> Tensor {
  let c = model.parent.config
  let (batch, t, d) = (ids.shape[0], ids.shape[1], c.headDimensions)
  var visible = [Float](repeating: -.infinity, count: t * t)
  for i in 0..<t {
    for j in 0...i where j / b >= i / b - m { visible[i * t + j] = 0 }
  }
  let bias = Tensor(visible, shape: [1, 1, t, t])
  var h = try model.parent.embedding(ids)  // [B, T, C]
  for layer in model.parent.layers {
    let a = layer.attention
    let x = try layer.attentionNorm(h)
    let q = try a.queryProjection(x).reshaped([batch, t, c.heads, d]).rotaryEmbedding(c.rotary)
      .transposed(1, 2).contiguous()  // [B, H, T, D]
    let k = try a.keyProjection(x).reshaped([batch, t, c.kvHeads, d]).rotaryEmbedding(c.rotary)
      .transposed(1, 2).contiguous()  // [B, G, T, D]
    let v = try a.valueProjection(x).reshaped([batch, t, c.kvHeads, d]).transposed(1, 2).contiguous()
    let y = try Tensor.attention(query: q, key: k, value: v, bias: bias)  // [B, H, T, D]
    h = try h + a.outputProjection(y.transposed(1, 2).reshaped([batch, t, c.heads * d]))
    h = try h + layer.mlp(layer.mlpNorm(h))
  }
  return try model.parent.norm(h)
}

@Suite("TransformerFAM") struct FAMTests {
  @Test("blockwise BSWA (ring of m blocks) and the one-pass mask equal a hand-masked forward, full when m covers all")
  func blockwiseEqualsMask() throws {
    for m in [0, 1, 2] {
      let model = try tinyFAM(mode: .bswa, memory: m)
      let ids = Tensor(indices: randomIDs(45, seed: 1), shape: [1, 45])
      let reference = try handMaskedBSWA(model, ids, blockSize: 8, memory: m)
      let blockwise = try model.blockwiseHiddenStates(ids).hidden
      let masked = try model.maskedHiddenStates(
        ids, mask: AttentionMask(causal: true, blockSize: 8, blocksBack: m))
      #expect(maxDifference(blockwise, masked) < 1e-4)
      #expect(maxDifference(blockwise, reference) < 1e-5, "blockwise, m = \(m)")
      let parallel = try model.hiddenStates(ids).hidden
      #expect(maxDifference(parallel, reference) < 1e-5, "one pass, m = \(m)")
    }
    let wide = try tinyFAM(mode: .bswa, memory: 6)
    let ids = Tensor(indices: randomIDs(45, seed: 2), shape: [1, 45])
    let full = try wide.parent.hiddenStates(ids)
    #expect(maxDifference(try wide.blockwiseHiddenStates(ids).hidden, full) < 1e-4)
    // The hand-masked forward itself: with m covering every block it is the parent's own causal forward.
    #expect(maxDifference(try handMaskedBSWA(wide, ids, blockSize: 8, memory: 6), full) < 1e-5)
  }

  @Test("FAM with f = 0 equals BSWA: the FAM path against a forward masked by hand")
  func zeroFAMIsBSWA() throws {
    for m in [0, 1, 2] {
      let fam = try tinyFAM(mode: .fam, memory: m, fam: 0)
      let ids = Tensor(indices: randomIDs(40, seed: 3), shape: [1, 40])
      let reference = try handMaskedBSWA(fam, ids, blockSize: 8, memory: m)
      #expect(maxDifference(try fam.hiddenStates(ids).hidden, reference) < 1e-5, "m = \(m)")
    }
  }

  @Test("receptive field: one layer, b = 8, m = 2: token 0 reaches BSWA up to 23 only, FAM to the end")
  func receptiveField() throws {
    var ids = randomIDs(64, seed: 4)
    let base = Tensor(indices: ids, shape: [1, 64])
    ids[0] = (ids[0] + 1) % 61
    let changed = Tensor(indices: ids, shape: [1, 64])
    let bswa = try tinyFAM(layers: 1, mode: .bswa, memory: 2)
    let (b0, b1) = (try bswa.hiddenStates(base).hidden, try bswa.hiddenStates(changed).hidden)
    #expect(try maxDifference(b0, b1, rows: 23..<24) > 0)
    #expect(try maxDifference(b0, b1, rows: 24..<64) == 0)
    let fam = try tinyFAM(layers: 1, mode: .fam, memory: 2)
    let (f0, f1) = (try fam.hiddenStates(base).hidden, try fam.hiddenStates(changed).hidden)
    #expect(try maxDifference(f0, f1, rows: 56..<64) > 1e-6)
  }

  @Test("the single pass over [F; I] equals the literal Algorithm 2, outputs and final FAM")
  func singlePassEqualsLiteral() throws {
    for m in [0, 1, 2] {
      let model = try tinyFAM(layers: 2, memory: m, fam: 3)
      let ids = Tensor(indices: randomIDs(2 * 45, seed: 5), shape: [2, 45])
      let single = try model.blockwiseHiddenStates(ids)
      let literal = try model.blockwiseHiddenStates(ids, literal: true)
      #expect(maxDifference(single.hidden, literal.hidden) < 1e-4)
      for (a, b) in zip(single.state.memory, literal.state.memory) { #expect(maxDifference(a, b) < 1e-4) }
      #expect(single.state.isInitial == false)
    }
  }

  @Test("streaming decode equals the parallel forward, and its state stops growing once the ring is full")
  func streamingEqualsParallel() throws {
    for mode in [FAMAttentionMode.fam, .bswa] {
      let model = try tinyFAM(mode: mode, memory: 2, fam: 3)
      let tokens = randomIDs(50, seed: 6)
      let parallel = try withoutGradients { try model.logits(Tensor(indices: tokens, shape: [1, 50])).logits }
      let decoder = try FAMStreamingDecoder(model: model, positionOffset: 0)
      var sizes: [Int] = []
      var worst: Float = 0
      for (t, token) in tokens.enumerated() {
        let logits = try decoder.step([token])  // [1, V]
        let expected = try parallel.sliced(axis: 1, t..<(t + 1)).reshaped([1, 61])
        worst = max(worst, maxDifference(logits, expected))
        if (t + 1) % 8 == 0 { sizes.append(decoder.stateFloatCount) }
      }
      #expect(worst < 1e-3)
      #expect(sizes.count == 6 && Set(sizes.dropFirst(2)).count == 1)
    }
  }

  @Test("causality: later tokens never change earlier outputs; a block's FAM reaches only later blocks")
  func causality() throws {
    let model = try tinyFAM(layers: 2, memory: 0, fam: 3)
    var ids = randomIDs(40, seed: 8)
    let base = Tensor(indices: ids, shape: [1, 40])
    ids[21] = (ids[21] + 5) % 61  // inside block 2 (16..<24)
    let changed = Tensor(indices: ids, shape: [1, 40])
    let (a, b) = (try model.hiddenStates(base).hidden, try model.hiddenStates(changed).hidden)
    #expect(try maxDifference(a, b, rows: 0..<21) == 0)
    #expect(try maxDifference(a, b, rows: 21..<24) > 0)
    // With m = 0 block 3 sees block 2 only through F_2.
    #expect(try maxDifference(a, b, rows: 24..<32) > 1e-6)
  }

  @Test("the last block's loss reaches block-0 tokens; with stop-gradient into memory (BSWA M1_SG) it does not")
  func gradientReachesFirstBlock() throws {
    let ids = (0..<8).map { 50 + $0 } + randomIDs(24, seed: 9, vocabulary: 50)  // ids 50... only in block 0
    let input = Tensor(indices: ids, shape: [1, 32])
    func firstBlockGradient(_ model: FAMModel) throws -> Float {
      let (_, grads) = try valueAndGradient(of: model) { m in
        let h = try m.hiddenStates(input).hidden.sliced(axis: 1, 24..<32)
        return try m.head(h).sum()
      }
      let rows = try #require(grads["parent.model.embed_tokens.weight"]).sliced(axis: 0, 50..<58)
      return rows.contiguous().floats.map(abs).max() ?? 0
    }
    #expect(try firstBlockGradient(tinyFAM(layers: 2, mode: .fam, memory: 0, fam: 3)) > 0)
    let bswa = try tinyFAM(layers: 3, mode: .bswa, memory: 1)
    bswa.configuration.mode = .fam
    bswa.configuration.famLength = 0
    #expect(try firstBlockGradient(bswa) > 0)
    bswa.configuration.stopsMemoryGradient = true
    #expect(try firstBlockGradient(bswa) == 0)
  }

  @Test("FAM positions are the last f positions of the block summarised; a shift of all positions changes nothing")
  func famPositions() throws {
    let c = FAMConfiguration(blockSize: 8, memoryBlocks: 0, famLength: 3)
    #expect(c.famPositions(summarising: 0) == 5..<8)
    #expect(c.famPositions(summarising: 4, positionOffset: 100) == 137..<140)
    #expect(c.famPositions(summarising: -1) == -3..<0)
    let model = try tinyFAM(layers: 2, memory: 1, fam: 3)
    let ids = Tensor(indices: randomIDs(30, seed: 10), shape: [1, 30])
    let shifted = try model.hiddenStates(ids, positionOffset: 1000).hidden
    #expect(maxDifference(try model.hiddenStates(ids).hidden, shifted) < 1e-3)
  }

  @Test("the combined mask: FAM rows see F and the block, block rows the memory, F and the block causally")
  func combinedMask() throws {
    let bias = try FAMModel.combinedBias(fam: 2, block: 3, memory: 4).reshaped([5, 9]).floats
    let visible = bias.map { $0 == 0 }
    let expected: [[Bool]] = [
      [false, false, false, false, true, true, true, true, true],
      [false, false, false, false, true, true, true, true, true],
      [true, true, true, true, true, true, true, false, false],
      [true, true, true, true, true, true, true, true, false],
      [true, true, true, true, true, true, true, true, true],
    ]
    #expect(visible == expected.flatMap { $0 })
  }
}

@Suite("TransformerFAM training") struct FAMTrainingTests {
  @Test("LoRA fine-tuning with FAM on trains only the adapters and the FAM prompt, and lowers the loss")
  func loraFineTuning() throws {
    let model = try tinyFAM(layers: 2, memory: 1, fam: 3)
    var generator = RandomGenerator(seed: 3)
    try model.addLoRA(rank: 2, alpha: 4, targets: ["q_proj", "v_proj", "down_proj"], generator: &generator)
    model.unfreeze(["fam_prompt"])
    let trainable = Set(model.trainableParameters().map(\.path))
    #expect(trainable.contains("fam_prompt"))
    #expect(trainable.allSatisfy { $0 == "fam_prompt" || $0.contains("lora") })
    let frozen = model.parent.layers[0].attention.keyProjection.weight.copied()
    let tokens = randomIDs(33, seed: 12)
    let ids = Tensor(indices: Array(tokens.dropLast()), shape: [1, 32])
    let targets = Tensor(indices: Array(tokens.dropFirst()), shape: [1, 32])
    let trainer = FAMTrainer(
      model: model, options: FAMTrainingOptions(learningRate: 1e-2, randomPositionOffset: true, seed: 1))
    let first = try trainer.step(ids: ids, targets: targets)
    var last = first
    for _ in 0..<8 { last = try trainer.step(ids: ids, targets: targets) }
    #expect(last < first)
    #expect(maxDifference(frozen, model.parent.layers[0].attention.keyProjection.weight) == 0)
  }

  @Test("a passed FAM state continues the sequence: two halves with the state carried equal the whole")
  func statePassingContinues() throws {
    let model = try tinyFAM(layers: 2, memory: 0, fam: 3)
    let tokens = randomIDs(32, seed: 13)
    let whole = try model.hiddenStates(Tensor(indices: tokens, shape: [1, 32])).hidden
    let first = try model.hiddenStates(Tensor(indices: Array(tokens[0..<16]), shape: [1, 16]))
    let second = try model.hiddenStates(
      Tensor(indices: Array(tokens[16..<32]), shape: [1, 16]), state: first.state, positionOffset: 16)
    #expect(try maxDifference(whole, second.hidden.padded(axis: 1, before: 16, after: 0), rows: 16..<32) < 1e-4)
  }
}

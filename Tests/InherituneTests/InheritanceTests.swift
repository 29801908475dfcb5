import Foundation
import Inheritune
import LMCore
import Models
import NN
import TensorCore
import Testing

@Suite struct InheritanceTests {
  @Test func inheritingEverythingReproducesTheParentLogits() throws {
    for parent in try Parents.all() {
      let k = Inheritune.layerCount(of: parent)
      let student = try Inheritune.makeStudent(from: parent, layers: k, options: .everything, seed: 9)
      #expect(try logits(student.model) == logits(parent))
      #expect(student.copied.count == parent.module.namedParameters().count)
      // The fresh model alone is a different function.
      let fresh = try Inheritune.makeStudent(from: parent, layers: k, options: .nothing, seed: 9)
      #expect(try logits(fresh.model) != logits(parent))
    }
  }

  @Test func firstBlocksWithPositionsAndFinalNormEqualTheTruncatedParent() throws {
    for makeParent in [{ try Parents.gpt2() }, { try Parents.gpt2(tied: false) }, { try Parents.llama() }] {
      for n in 1...3 {
        let parent = try makeParent()
        let student = try Inheritune.makeStudent(from: parent, layers: n, options: .everything, seed: 3)
        try truncate(parent, to: 0..<n)
        #expect(try logits(student.model) == logits(parent))
      }
    }
  }

  @Test func lastBlocksKeepTheirAttentionScale() throws {
    let parent = try Parents.gpt2()
    let p = try #require(parent.gpt2, "Parents.gpt2() is not a GPT-2")
    var options = InheritanceOptions.everything
    options.blockChoice = .last
    let student = try Inheritune.makeStudent(from: parent, layers: 2, options: options, seed: 3)
    let s = try #require(student.model.gpt2, "the student of a GPT-2 is not a GPT-2")
    #expect(student.parentBlocks == [2, 3])
    // The expected scales come from the parent's config and the formula 1/√D · 1/(ℓ + 1), with ℓ the parent
    // layer index of each of the last two blocks, not from any block's own field.
    let headScale = 1 / Float(p.config.width / p.config.heads).squareRoot()
    let expectedScales = ((p.config.layers - 2)..<p.config.layers).map { layer in headScale / Float(layer + 1) }
    #expect(expectedScales == [headScale / 3, headScale / 4])
    #expect(s.blocks.map(\.attention.scale) == expectedScales)
    // The student computes the parent's blocks 2 and 3 (with the parent's scales).
    try truncate(parent, to: 2..<4)
    #expect(try logits(student.model) == logits(parent))
    // Saved and reloaded, the blocks keep their layer index.
    let directory = temporaryPath("scale")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try student.save(to: directory)
    let reloaded = try GPT2(contentsOf: directory)
    #expect(reloaded.blocks.map(\.attention.layerIndex) == [2, 3])
    #expect(reloaded.blocks.map(\.attention.scale) == expectedScales)
    #expect(try reloaded(Parents.ids).floats == logits(student.model))
  }

  @Test func mlpOnlyBlocksUseTheirOwnPosition() throws {
    var options = InheritanceOptions.paper
    options.blockParts = .mlp
    options.blockChoice = .last
    let student = try Inheritune.makeStudent(from: try Parents.gpt2(), layers: 2, options: options)
    let s = try #require(student.model.gpt2, "the student of a GPT-2 is not a GPT-2")
    #expect(s.blocks.map(\.attention.layerIndex) == [0, 1])
  }

  @Test func tiedEmbeddingStaysOneTensorThroughAStepAndASave() throws {
    let parent = try Parents.gpt2()
    let before = parent.module.parameters()
    let student = try Inheritune.makeStudent(from: parent, layers: 2, seed: 4)
    let s = try #require(student.model.gpt2, "the student of a GPT-2 is not a GPT-2")
    #expect(s.head == nil)
    #expect(!s.namedParameters().contains { $0.path.hasPrefix("lm_head") })
    let inherited = s.tokenEmbedding.weight.floats
    #expect(inherited == before["transformer.wte.weight"]!.floats)
    let optimizer = AdamW(learningRate: 0.01)
    let (_, gradients) = try valueAndGradient(of: s) { m in try m.nextTokenLoss(Parents.ids) }
    try optimizer.update(s, gradients: gradients)
    let stepped = s.tokenEmbedding.weight.floats
    #expect(stepped != inherited)
    // The step moved the student's only embedding tensor and left the parent's alone.
    #expect(parent.module.parameters()["transformer.wte.weight"]!.floats == before["transformer.wte.weight"]!.floats)
    let directory = temporaryPath("tied")
    defer { try? FileManager.default.removeItem(atPath: directory) }
    try student.save(to: directory)
    let reloaded = try GPT2(contentsOf: directory)
    #expect(reloaded.head == nil)
    #expect(try reloaded(Parents.ids).floats == s(Parents.ids).floats)
  }

  @Test func tiedParentRefusesHalfOfTheTiedPair() throws {
    let options = try InheritanceOptions(list: "blocks,head")
    #expect(throws: InherituneError.self) {
      try Inheritune.makeStudent(from: try Parents.gpt2(), layers: 2, options: options)
    }
    // Untied, the same list is fine.
    _ = try Inheritune.makeStudent(from: try Parents.llama(), layers: 2, options: options)
  }

  @Test func parameterCountsMatchTheClosedForm() throws {
    for parent in try Parents.all() {
      for n in 1...Inheritune.layerCount(of: parent) {
        let student = try Inheritune.makeStudent(from: parent, layers: n, seed: 1)
        #expect(student.module.parameterCount == Inheritune.parameterCount(student.model))
      }
    }
    // The paper's formula 12·n·d² + V·d + T·d for GPT-2 plus the biases and norms, written out here.
    let c = GPT2Configuration(vocabularySize: 100, contextLength: 32, width: 16, layers: 3, heads: 2)
    let d = 16
    #expect(Inheritune.parameterCount(c) == 12 * 3 * d * d + 100 * d + 32 * d + 3 * 13 * d + 2 * d)
    var generator = RandomGenerator(seed: 0)
    #expect(try GPT2(c, generator: &generator).parameterCount == Inheritune.parameterCount(c))
  }

  @Test func studentsOfLayersOutsideTheParentAreRejected() throws {
    let parent = try Parents.llama()
    #expect(throws: InherituneError.self) { try Inheritune.makeStudent(from: parent, layers: 0) }
    #expect(throws: InherituneError.self) { try Inheritune.makeStudent(from: parent, layers: 5) }
  }

  /// Keeps only `blocks` of `parent` (the same block objects, so the same weights and scales).
  private func truncate(_ parent: LoadedModel, to blocks: Range<Int>) throws {
    switch parent {
    case .gpt2(let m): m.blocks = Array(m.blocks[blocks])
    case .llama(let m): m.layers = Array(m.layers[blocks])
    case .bert: Issue.record("unexpected encoder")
    }
  }
}

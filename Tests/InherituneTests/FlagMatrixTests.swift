import Inheritune
import Models
import NN
import TensorCore
import Testing

@Suite struct FlagMatrixTests {
  /// The option sets checked: each group alone, the paper's default, the sub-block parts and block choices.
  static let cases: [InheritanceOptions] = [
    .nothing, .paper, .everything,
    InheritanceOptions(blocks: true, tokenEmbedding: false, head: false),
    InheritanceOptions(blocks: false, tokenEmbedding: true, head: false),
    InheritanceOptions(blocks: false, tokenEmbedding: false, head: true),
    InheritanceOptions(blocks: false, tokenEmbedding: false, head: false, positions: true),
    InheritanceOptions(blocks: false, tokenEmbedding: false, head: false, finalNorm: true),
    InheritanceOptions(blockParts: .attention, blockChoice: .last),
    InheritanceOptions(blockParts: .mlp, blockChoice: .random(seed: 5)),
  ]

  @Test(arguments: 0..<cases.count)
  func onlyTheNamedTensorsComeFromTheParent(_ index: Int) throws {
    let options = Self.cases[index]
    for parent in [try Parents.gpt2(tied: false), try Parents.llama()] {
      let n = 2
      let student = try Inheritune.makeStudent(from: parent, layers: n, options: options, seed: 11)
      let fresh = try Inheritune.makeStudent(from: parent, layers: n, options: .nothing, seed: 11)
      let parentTensors = parent.module.parameters()
      let freshTensors = fresh.module.parameters()
      let blocks = options.blockChoice.indices(count: n, parentLayers: 4)
      for p in student.module.namedParameters() {
        let value = p.box.tensor!.floats
        if let source = expectedSource(p.path, options, blocks) {
          #expect(value == parentTensors[source]!.floats, "\(p.path) should equal the parent's \(source)")
        } else {
          #expect(value == freshTensors[p.path]!.floats, "\(p.path) should keep its fresh value")
          #expect(student.copied[p.path] == nil)
        }
      }
    }
  }

  /// Where `path` should come from, decided from the key spelling alone (independently of `TensorLayout`).
  private func expectedSource(_ path: String, _ o: InheritanceOptions, _ blocks: [Int]) -> String? {
    for prefix in ["model.layers.", "transformer.h."] where path.hasPrefix(prefix) {
      let parts = path.dropFirst(prefix.count).split(separator: ".", maxSplits: 1)
      let index = Int(parts[0])!
      let inner = String(parts[1])
      let attention = ["self_attn.", "input_layernorm.", "attn.", "ln_1."].contains { inner.hasPrefix($0) }
      let wanted = o.blocks && (o.blockParts == .all || (o.blockParts == .attention) == attention)
      return wanted ? "\(prefix)\(blocks[index]).\(inner)" : nil
    }
    let copy: Bool
    switch path {
    case "model.embed_tokens.weight", "transformer.wte.weight": copy = o.tokenEmbedding
    case "lm_head.weight": copy = o.head
    case "transformer.wpe.weight": copy = o.positions
    default: copy = path.hasPrefix("model.norm.") || path.hasPrefix("transformer.ln_f.") ? o.finalNorm : false
    }
    return copy ? path : nil
  }
}

@Suite struct OptionsAndGrowTests {
  @Test func listsRoundTripAndUnknownNamesAreErrors() throws {
    #expect(try InheritanceOptions(list: "blocks,token-embedding,head") == .paper)
    #expect(try InheritanceOptions(list: "all") == .everything)
    #expect(try InheritanceOptions(list: "none") == .nothing)
    for options in FlagMatrixTests.cases {
      #expect(try InheritanceOptions(list: options.list).list == options.list)
    }
    #expect(throws: InherituneError.self) { try InheritanceOptions(list: "blocks,wpe") }
    #expect(BlockChoice(parsing: "random:7") == .random(seed: 7))
    #expect(BlockChoice(parsing: "middle") == nil)
  }

  @Test func blockChoicesPickDistinctOrderedParentBlocks() {
    #expect(BlockChoice.first.indices(count: 3, parentLayers: 8) == [0, 1, 2])
    #expect(BlockChoice.last.indices(count: 3, parentLayers: 8) == [5, 6, 7])
    var seen = Set<[Int]>()
    for seed in 0..<6 as Range<UInt64> {
      let picked = BlockChoice.random(seed: seed).indices(count: 4, parentLayers: 8)
      #expect(picked == picked.sorted() && Set(picked).count == 4 && picked.allSatisfy { (0..<8).contains($0) })
      #expect(picked == BlockChoice.random(seed: seed).indices(count: 4, parentLayers: 8))
      seen.insert(picked)
    }
    #expect(seen.count > 1)
  }

  @Test func growReinheritsTwoMoreBlocksUntilTheTargetIsMet() throws {
    let parent = try Parents.llama(layers: 8)
    let parentBlocks = parent.module.parameters()
    var trained: [Int] = []
    let attempts = try Inheritune.grow(parent: parent, startLayers: 4, target: 1.5) { student in
      let n = student.parentBlocks.count
      trained.append(n)
      // Each round starts from the parent, not from the previous student.
      #expect(student.copied["model.layers.\(n - 1).mlp.up_proj.weight"] == "model.layers.\(n - 1).mlp.up_proj.weight")
      let last = student.module.parameters()["model.layers.\(n - 1).mlp.up_proj.weight"]!
      #expect(last.floats == parentBlocks["model.layers.\(n - 1).mlp.up_proj.weight"]!.floats)
      return 3 - Float(n) / 4  // 2.0 at 4 blocks, 1.5 at 6
    }
    #expect(trained == [4, 6])
    #expect(attempts.map(\.layers) == [4, 6] && attempts.last!.validationLoss == 1.5)
    // A target never met stops at the parent's depth.
    let all = try Inheritune.grow(parent: parent, startLayers: 3, target: 0) { _ in 1 }
    #expect(all.map(\.layers) == [3, 5, 7, 8])
  }
}

import LMCore
import Models
import NN
import TensorCore

/// A student model built from a parent's tensors, and a record of what it inherited.
public struct InheritedModel {
  /// The student (same family and width as the parent, fewer blocks).
  public let model: LoadedModel
  /// For each student block, the parent block it was built from (also the source of its copied tensors).
  public let parentBlocks: [Int]
  /// Student parameter path -> the parent path it was copied from; every other parameter is fresh.
  public let copied: [String: String]

  /// The student as a causal language model.
  public var languageModel: any LanguageModel { model.languageModel! }

  /// The student as a parameter tree.
  public var module: Module { model.module }

  /// Writes the student in Hugging Face layout (`config.json` + `model.safetensors`).
  public func save(to directory: String) throws {
    switch model {
    case .llama(let m): try m.save(to: directory)
    case .gpt2(let m): try m.save(to: directory)
    case .bert: throw InherituneError(directory, "cannot hold a BERT student", "inherit from a causal model")
    }
  }
}

/// Inheritune (arXiv 2404.08634): a small language model initialised from the blocks of a bigger one.
///
/// The student has the parent's family and width and `n` blocks. It is first initialised as a fresh model
/// (the family's own initialisation, seeded), then the tensor groups the ``InheritanceOptions`` name are
/// copied from the parent by parameter path. Block `i` of the student takes parent block `parentBlocks[i]`.
/// For GPT-2 with `scale_attn_by_inverse_layer_idx`, a block whose attention is copied keeps the parent
/// block's layer index ℓ, so its 1/(ℓ + 1) scale travels with it (stored in the student's config).
/// A tied embedding/head is one tensor in both models and stays one tensor.
public enum Inheritune {
  /// The number of blocks in `model`.
  public static func layerCount(of model: LoadedModel) -> Int {
    model.languageModel?.layerCount ?? 0
  }

  /// Whether the output head of `model` is its token embedding.
  public static func isTied(_ model: LoadedModel) -> Bool {
    switch model {
    case .llama(let m): return m.head == nil
    case .gpt2(let m): return m.head == nil
    case .bert: return false
    }
  }

  /// Builds an `n`-block student of `parent`, initialised with `seed`, and copies the tensors `options` names.
  public static func makeStudent(
    from parent: LoadedModel, layers n: Int, options: InheritanceOptions = .paper, seed: UInt64 = 0
  ) throws -> InheritedModel {
    let layout = try TensorLayout.of(parent)
    let k = layerCount(of: parent)
    guard n >= 1, n <= k else {
      throw InherituneError("--layers", "asks for \(n) blocks from a parent with \(k)", "pass 1 ... \(k)")
    }
    if isTied(parent) && options.tokenEmbedding != options.head {
      throw InherituneError(
        "--inherit", "names only one of token-embedding and head, but the parent ties them into one tensor",
        "name both or neither")
    }
    let parentBlocks = options.blockChoice.indices(count: n, parentLayers: k)
    let student = try freshStudent(
      of: parent, parentBlocks: parentBlocks, keepsLayerIndex: options.blocks && options.blockParts != .mlp,
      seed: seed)
    let source = parent.module.parameters()
    var copied: [String: String] = [:]
    for p in student.module.namedParameters() {
      guard let group = layout.group(of: p.path), inherits(group, options) else { continue }
      var from = p.path
      if case .block(let index, _) = group { from = layout.path(p.path, movedToBlock: parentBlocks[index]) }
      guard let tensor = source[from], let own = p.box.tensor, tensor.shape == own.shape else {
        throw InherituneError(
          "parent", "has no tensor \(from) of shape \(p.box.tensor?.shape ?? [])", "check that the parent loads")
      }
      p.box.setTensor(tensor.copied())
      copied[p.path] = from
    }
    return InheritedModel(model: student, parentBlocks: parentBlocks, copied: copied)
  }

  /// Whether `options` copies tensors of `group`.
  public static func inherits(_ group: TensorGroup, _ options: InheritanceOptions) -> Bool {
    switch group {
    case .block(_, let part):
      return options.blocks && (options.blockParts == .all || options.blockParts == part)
    case .tokenEmbedding: return options.tokenEmbedding
    case .head: return options.head
    case .positions: return options.positions
    case .finalNorm: return options.finalNorm
    }
  }

  /// A freshly initialised model like `parent` with one block per entry of `parentBlocks`.
  ///
  /// With `keepsLayerIndex`, GPT-2 block `i` is built as the parent's block `parentBlocks[i]` was (its layer
  /// index ℓ, hence its attention scale); otherwise as block `i`.
  public static func freshStudent(
    of parent: LoadedModel, parentBlocks: [Int], keepsLayerIndex: Bool, seed: UInt64
  ) throws -> LoadedModel {
    var generator = RandomGenerator(seed: seed)
    switch parent {
    case .llama(let m):
      var config = m.config
      config.layers = parentBlocks.count
      return .llama(try Llama(config, generator: &generator))
    case .gpt2(let m):
      var config = m.config
      config.layers = parentBlocks.count
      let indices = keepsLayerIndex ? parentBlocks.map { m.blocks[$0].attention.layerIndex } : nil
      config.attentionLayerIndices = indices == Array(0..<parentBlocks.count) ? nil : indices
      return .gpt2(try GPT2(config, generator: &generator))
    case .bert:
      throw InherituneError("parent", "is a BERT encoder", "pass a causal language model (Llama, llama2.c or GPT-2)")
    }
  }
}

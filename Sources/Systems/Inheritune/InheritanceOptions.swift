/// The tensors a student inherits; everything not named keeps the student's fresh initialisation.
public struct InheritanceOptions: Equatable, Sendable {
  /// Copy transformer blocks.
  public var blocks: Bool
  /// Which parts of each block.
  public var blockParts: BlockParts
  /// Which parent blocks.
  public var blockChoice: BlockChoice
  /// Copy the token embedding.
  public var tokenEmbedding: Bool
  /// Copy the output head (for a tied model the head is the token embedding; see ``Inheritune``).
  public var head: Bool
  /// Copy learned position embeddings (GPT-2 `wpe`; Llama has none, so there the flag copies nothing).
  public var positions: Bool
  /// Copy the final norm.
  public var finalNorm: Bool

  /// Options naming each tensor group explicitly.
  public init(
    blocks: Bool = true, blockParts: BlockParts = .all, blockChoice: BlockChoice = .first,
    tokenEmbedding: Bool = true, head: Bool = true, positions: Bool = false, finalNorm: Bool = false
  ) {
    self.blocks = blocks
    self.blockParts = blockParts
    self.blockChoice = blockChoice
    self.tokenEmbedding = tokenEmbedding
    self.head = head
    self.positions = positions
    self.finalNorm = finalNorm
  }

  /// The paper's GPT-2 code path: blocks plus the tied embedding/head; fresh positions and final norm.
  public static let paper = InheritanceOptions()

  /// Nothing inherited: a same-size model trained from scratch.
  public static let nothing = InheritanceOptions(blocks: false, tokenEmbedding: false, head: false)

  /// Every tensor group (positions are skipped for a model without learned positions).
  public static let everything = InheritanceOptions(positions: true, finalNorm: true)

  /// The names ``init(list:)`` reads, in order.
  public static let groupNames = ["blocks", "token-embedding", "head", "positions", "final-norm"]

  /// Options from a comma-separated list of ``groupNames`` (or `all`, or `none`); throws on an unknown name.
  public init(list: String, blockParts: BlockParts = .all, blockChoice: BlockChoice = .first) throws {
    let names = list.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    var options = InheritanceOptions.nothing
    for name in names {
      switch name {
      case "all": options = .everything
      case "none": options = .nothing
      case "blocks": options.blocks = true
      case "token-embedding": options.tokenEmbedding = true
      case "head": options.head = true
      case "positions": options.positions = true
      case "final-norm": options.finalNorm = true
      default:
        throw InherituneError(
          "--inherit", "has unknown group '\(name)'",
          "use a comma-separated list of \(Self.groupNames.joined(separator: ", ")), all or none")
      }
    }
    options.blockParts = blockParts
    options.blockChoice = blockChoice
    self = options
  }

  /// The groups that are on, as ``init(list:)`` reads them (`none` when empty).
  public var list: String {
    let on = [blocks, tokenEmbedding, head, positions, finalNorm]
    let names = zip(Self.groupNames, on).filter(\.1).map(\.0)
    return names.isEmpty ? "none" : names.joined(separator: ",")
  }
}

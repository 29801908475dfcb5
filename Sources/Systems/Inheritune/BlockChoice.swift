/// Which of a parent's blocks a student inherits, in student order.
public enum BlockChoice: Equatable, Sendable {
  /// Parent blocks 0 ..< n (the paper's method).
  case first
  /// Parent blocks k − n ..< k.
  case last
  /// n distinct parent blocks drawn with `seed`, kept in ascending depth order.
  case random(seed: UInt64)

  /// The parent block indices for a student of `n` blocks taken from a parent of `k` blocks.
  public func indices(count n: Int, parentLayers k: Int) -> [Int] {
    switch self {
    case .first: return Array(0..<n)
    case .last: return Array((k - n)..<k)
    case .random(let seed):
      var state = seed
      var pool = Array(0..<k)
      for i in stride(from: k - 1, to: 0, by: -1) {
        state = state &+ 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        z ^= z >> 31
        pool.swapAt(i, Int(z % UInt64(i + 1)))
      }
      return pool.prefix(n).sorted()
    }
  }

  /// Parses `first`, `last`, `random` or `random:SEED`.
  public init?(parsing text: String) {
    switch text {
    case "first": self = .first
    case "last": self = .last
    case "random": self = .random(seed: 0)
    default:
      guard text.hasPrefix("random:"), let seed = UInt64(text.dropFirst("random:".count)) else { return nil }
      self = .random(seed: seed)
    }
  }

  /// The spelling ``init(parsing:)`` reads.
  public var name: String {
    switch self {
    case .first: return "first"
    case .last: return "last"
    case .random(let seed): return "random:\(seed)"
    }
  }
}

/// Which parts of an inherited block are copied.
///
/// Each part includes the norm in front of it: attention takes `input_layernorm`/`ln_1`, the MLP takes
/// `post_attention_layernorm`/`ln_2`. A part that is not copied keeps the student's fresh initialisation.
public enum BlockParts: String, CaseIterable, Sendable {
  /// The whole block.
  case all
  /// Attention and its pre-norm only.
  case attention
  /// MLP and its pre-norm only.
  case mlp
}

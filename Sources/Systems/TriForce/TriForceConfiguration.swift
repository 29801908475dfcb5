import Generation

/// TriForce's knobs (arXiv 2404.11912; paper defaults).
public struct TriForceConfiguration: Sendable, Equatable {
  /// Prompt rows kept by the retrieval cache (paper: 4096).
  public var budget: Int
  /// Rows per retrieval chunk (paper: 8).
  public var chunk: Int
  /// Draft tokens per middle-level pass, γ1 (paper's best: 2).
  public var draftLength: Int
  /// Middle-level tokens per full-cache verification, γ2 (paper: 6).
  public var middleLength: Int
  /// Attention-sink rows of the draft's StreamingLLM cache (paper: 16).
  public var sinks: Int
  /// Rows of the draft's StreamingLLM cache, sinks included (paper: 256).
  public var draftCache: Int
  /// Rebuild the retrieval cache every this many new tokens (nil: never, the paper code's choice).
  public var rebuildStride: Int?

  /// The paper's defaults.
  public init(
    budget: Int = 4096, chunk: Int = 8, draftLength: Int = 2, middleLength: Int = 6, sinks: Int = 16,
    draftCache: Int = 256, rebuildStride: Int? = nil
  ) {
    self.budget = budget
    self.chunk = chunk
    self.draftLength = draftLength
    self.middleLength = middleLength
    self.sinks = sinks
    self.draftCache = draftCache
    self.rebuildStride = rebuildStride
  }

  /// Checks the ranges; the message names the offending option.
  public func validate() throws {
    guard chunk > 0, budget >= 2 * chunk else {
      throw TriForceError("--budget \(budget) must hold at least two chunks of --chunk \(chunk) tokens")
    }
    guard draftLength > 0, middleLength > 0 else {
      throw TriForceError("--gamma1 and --gamma2 must be positive, got \(draftLength) and \(middleLength)")
    }
    guard sinks >= 0, draftCache >= sinks + 4 * (draftLength + 2) else {
      throw TriForceError("the draft cache (\(draftCache) rows) must exceed its \(sinks) sinks by a few passes")
    }
    if let rebuildStride, rebuildStride <= 0 {
      throw TriForceError("the rebuild stride must be positive, got \(rebuildStride)")
    }
  }

  /// Tokens one pass of the StreamingLLM draft cache may append while catching up on a prompt.
  var draftPass: Int { max(1, (draftCache - sinks) / 2) }
}

/// A TriForce request that cannot be served: what is wrong and what to do, on one line.
public struct TriForceError: Error, CustomStringConvertible {
  /// The message.
  public let description: String
  init(_ message: String) { description = message }
}

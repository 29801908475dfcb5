import Foundation

/// A folder written by ``ShardPreparer/prepare(inputs:encoding:directory:validationFraction:appendEndOfText:field:seed:)``
/// opened as a whole: `meta.json` and the shards it describes, checked against each other, so that a
/// corrupt, truncated or mismatched file is one error naming it before training reads a window.
public struct PreparedShards: Sendable {
  /// The folder.
  public let directory: String
  /// `meta.json`.
  public let meta: PreparedDataset
  /// `train.bin`.
  public let train: TokenShard
  /// `val.bin`; nil when the folder has none and `meta.json` counts no validation tokens.
  public let validation: TokenShard?

  /// Opens `directory`: `meta.json` must be valid (``ShardPreparer/readMeta(from:)``), and each shard must
  /// have its width and token count and hold only ids inside its vocabulary (one pass over the ids).
  public init(directory: String) throws {
    self.directory = directory
    meta = try ShardPreparer.readMeta(from: directory)
    train = try TokenShard(path: (directory as NSString).appendingPathComponent("train.bin"))
    try Self.check(train, against: meta, tokens: meta.trainTokens)
    let validationPath = (directory as NSString).appendingPathComponent("val.bin")
    if FileManager.default.fileExists(atPath: validationPath) {
      let shard = try TokenShard(path: validationPath)
      try Self.check(shard, against: meta, tokens: meta.validationTokens)
      validation = shard
    } else if meta.validationTokens > 0 {
      throw DataError(
        path: validationPath, problem: "is missing, though meta.json counts \(meta.validationTokens) validation tokens",
        remedy: "restore it or rerun `frontier prepare`")
    } else {
      validation = nil
    }
  }

  private static func check(_ shard: TokenShard, against meta: PreparedDataset, tokens: Int) throws {
    let remedy = "the folder's files do not belong together or one is corrupt; rerun `frontier prepare`"
    guard shard.width == meta.width else {
      throw DataError(
        path: shard.path, problem: "holds \(shard.width) ids but meta.json says \(meta.width)", remedy: remedy)
    }
    guard shard.count == tokens else {
      throw DataError(
        path: shard.path, problem: "holds \(shard.count) tokens but meta.json counts \(tokens)", remedy: remedy)
    }
    if let largest = try shard.largestToken(), largest >= meta.vocabularySize {
      throw DataError(
        path: shard.path,
        problem: "holds token id \(largest), outside meta.json's vocabulary of \(meta.vocabularySize)",
        remedy: remedy)
    }
  }
}

extension TokenShard {
  /// The largest id in the shard (nil when it is empty), read in pieces of a million ids.
  public func largestToken() throws -> Int? {
    var largest: Int64?
    var start = 0
    while start < count {
      let end = min(count, start + (1 << 20))
      if let piece = try tokens(in: start..<end).max() { largest = max(largest ?? piece, piece) }
      start = end
    }
    return largest.map { Int($0) }
  }
}

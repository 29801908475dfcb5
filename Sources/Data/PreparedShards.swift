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
  /// have its width, hold only ids inside its vocabulary (``TokenShard/checkIDs(below:in:model:remedy:)``, one
  /// pass over the mapping) and have its token count.
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
    // Ids before counts: a shard written for another vocabulary is named as such even when its length differs.
    try shard.checkIDs(below: meta.vocabularySize, model: "meta.json", remedy: remedy)
    guard shard.count == tokens else {
      throw DataError(
        path: shard.path, problem: "holds \(shard.count) tokens but meta.json counts \(tokens)", remedy: remedy)
    }
  }
}

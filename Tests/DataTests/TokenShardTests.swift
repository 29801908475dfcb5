import Foundation
import Kernels
import Testing

@testable import Data

/// A fresh empty folder under the temporary directory.
func temporaryDirectory(_ name: String) throws -> String {
  let path = NSTemporaryDirectory() + "frontier-data-\(name)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

@Suite struct TokenShardTests {
  @Test func roundTripBothWidths() throws {
    let dir = try temporaryDirectory("roundtrip")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for (width, maxID) in [(TokenWidth.uint16, 65_535), (.uint32, 4_000_000_000)] {
      let tokens = [0, 1, 7, maxID, 42, maxID - 1, 3]
      let path = dir + "/s-\(width).bin"
      try TokenShard.write(tokens, width: width, to: path)
      let shard = try TokenShard(path: path)
      #expect(shard.count == tokens.count)
      #expect(shard.width == width)
      #expect(try shard.tokens(in: 0..<tokens.count) == tokens.map { Int64($0) })
      #expect(try shard.tokens(in: 2..<4) == [7, Int64(maxID)])
      let size = try FileManager.default.attributesOfItem(atPath: path)[.size] as? Int
      #expect(size == TokenShard.headerSize + tokens.count * Int(width.rawValue))
      #expect(throws: DataError.self) { try shard.tokens(in: 5..<8) }
    }
    // Nothing but the two shards is left behind (no temporary files).
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir).count == 2)
  }

  /// An id at or beyond a vocabulary is found by one scan and named with its position and the vocabulary.
  @Test func idsAreCheckedAgainstAVocabulary() throws {
    let dir = try temporaryDirectory("vocabulary")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    for width in [TokenWidth.uint16, .uint32] {
      let path = dir + "/train-\(width).bin"
      var tokens = (0..<5000).map { $0 % 500 }
      tokens[3001] = 600
      tokens[4000] = 700
      try TokenShard.write(tokens, width: width, to: path)
      let shard = try TokenShard(path: path)
      #expect(shard.largestID() == 700 && shard.largestID(in: 0..<3000) == 499)
      #expect(throws: Never.self) { try shard.checkIDs(below: 701) }
      #expect(throws: Never.self) { try shard.checkIDs(below: 512, in: 0..<3001) }
      #expect {
        try shard.checkIDs(below: 512)
      } throws: { error in
        let line = "\(error)"
        return line.contains("train-\(width).bin") && line.contains("token 3001 is id 600")
          && line.contains("vocabulary of 512") && !line.contains("\n")
      }
    }
  }

  /// Copying more ids out of a shard than physical memory holds is one line naming the count and the limit,
  /// before anything is allocated. The shard is a sparse file: its header and size say 1.5 × memory / 8
  /// tokens, and no disk space is used.
  @Test func aReadBeyondMemoryIsRefused() throws {
    let dir = try temporaryDirectory("huge")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let count = Int(MemoryBudget.physicalBytes * 1.5 / 8)
    var header = Array("FRTS".utf8)
    for value in [UInt32(1), 2, 0] { withUnsafeBytes(of: value.littleEndian) { header += $0 } }
    for value in [UInt64(count), 0] { withUnsafeBytes(of: value.littleEndian) { header += $0 } }
    let path = dir + "/train.bin"
    try Data(header).write(to: URL(fileURLWithPath: path))
    let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
    try handle.truncate(atOffset: UInt64(TokenShard.headerSize + 2 * count))
    try handle.close()
    let shard = try TokenShard(path: path)
    #expect(shard.count == count)
    #expect(try shard.tokens(in: 10..<20) == [Int64](repeating: 0, count: 10))
    #expect {
      _ = try shard.tokens(in: 0..<count)
    } throws: { error in
      let line = "\(error)"
      return line.contains("train.bin") && line.contains("tokens \(count)") && line.contains("of physical memory")
    }
  }

  @Test func emptyShardAndWidthChoice() throws {
    let dir = try temporaryDirectory("empty")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try TokenShard.write([], width: .uint16, to: dir + "/e.bin")
    #expect(try TokenShard(path: dir + "/e.bin").count == 0)
    #expect(TokenWidth.fitting(vocabularySize: 65_536) == .uint16)
    #expect(TokenWidth.fitting(vocabularySize: 65_537) == .uint32)
  }

  @Test func rejectsIdsThatDoNotFit() throws {
    let dir = try temporaryDirectory("fit")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    #expect(throws: DataError.self) { try TokenShard.write([1, 70_000], width: .uint16, to: dir + "/x.bin") }
    #expect(throws: DataError.self) { try TokenShard.write([-1], width: .uint32, to: dir + "/x.bin") }
    #expect(!FileManager.default.fileExists(atPath: dir + "/x.bin"))
  }

  @Test func corruptFilesThrowOneLineErrors() throws {
    let dir = try temporaryDirectory("corrupt")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let good = dir + "/good.bin"
    try TokenShard.write(Array(0..<10), width: .uint16, to: good)
    let bytes = [UInt8](try Data(contentsOf: URL(fileURLWithPath: good)))
    func variant(_ name: String, _ edit: (inout [UInt8]) -> Void) throws -> String {
      var b = bytes
      edit(&b)
      let path = dir + "/" + name
      try Data(b).write(to: URL(fileURLWithPath: path))
      return path
    }
    let cases = [
      try variant("magic.bin") { $0[0] = UInt8(ascii: "X") },
      try variant("version.bin") { $0[4] = 9 },
      try variant("width.bin") { $0[8] = 3 },
      try variant("truncated.bin") { $0.removeLast(3) },
      try variant("count.bin") { $0[16] = 11 },
      try variant("short.bin") { $0 = Array($0.prefix(12)) },
      dir + "/missing.bin",
    ]
    for path in cases {
      do {
        _ = try TokenShard(path: path)
        Issue.record("\(path) was accepted")
      } catch let error as DataError {
        #expect(error.description.hasPrefix(path))
        #expect(!error.description.contains("\n"))
      }
    }
  }
}

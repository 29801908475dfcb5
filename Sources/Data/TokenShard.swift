import Foundation
import Kernels

/// The integer width of the tokens in a shard.
public enum TokenWidth: UInt32, Codable, Sendable {
  /// Two bytes per token: vocabularies up to 65,536 ids.
  case uint16 = 2
  /// Four bytes per token.
  case uint32 = 4

  /// The narrowest width that holds every id below `vocabularySize`.
  public static func fitting(vocabularySize: Int) -> TokenWidth {
    vocabularySize <= 65_536 ? .uint16 : .uint32
  }
}

/// A file of token ids: a 32-byte header, then the ids back to back, little-endian.
///
/// Header: magic `FRTS`, version (UInt32, 1), bytes per token (UInt32, 2 or 4), reserved (UInt32),
/// token count (UInt64), reserved (UInt64). The file is read through a memory mapping, so a shard of
/// billions of tokens costs no load time; ``tokens(in:)`` copies out only the window asked for.
public final class TokenShard: @unchecked Sendable {
  /// The header size in bytes.
  public static let headerSize = 32
  /// The first four bytes of every shard.
  public static let magic: [UInt8] = Array("FRTS".utf8)
  /// The format version written and understood.
  public static let version: UInt32 = 1

  /// The file the shard was read from.
  public let path: String
  /// The width of each id.
  public let width: TokenWidth
  /// Number of tokens.
  public let count: Int
  private let file: MappedFile
  private let buffer: Buffer

  /// Maps and validates a shard.
  public init(path: String) throws {
    self.path = path
    let remedy = "recreate it with `frontier prepare`"
    do {
      file = try MappedFile(path: path)
    } catch {
      throw DataError(path: path, problem: "cannot open the token shard (\(error))", remedy: "check the path")
    }
    guard file.size >= Self.headerSize else {
      throw DataError(path: path, problem: "is too short to be a token shard (\(file.size) bytes)", remedy: remedy)
    }
    let header = file.bytes(offset: 0, count: Self.headerSize)
    guard Array(header[0..<4]) == Self.magic else {
      throw DataError(path: path, problem: "is not a token shard (bad magic)", remedy: remedy)
    }
    let version = UInt32(littleEndian: header, at: 4)
    guard version == Self.version else {
      throw DataError(path: path, problem: "has shard format version \(version), expected 1", remedy: remedy)
    }
    guard let width = TokenWidth(rawValue: UInt32(littleEndian: header, at: 8)) else {
      throw DataError(path: path, problem: "has an unknown token width in its header", remedy: remedy)
    }
    let declared = UInt64(header[16..<24].reversed().reduce(UInt64(0)) { $0 << 8 | UInt64($1) })
    let payload = file.size - Self.headerSize
    guard declared <= UInt64(Int.max / 8), Int(declared) * Int(width.rawValue) == payload else {
      throw DataError(
        path: path, problem: "header declares \(declared) tokens but the file holds \(payload) bytes of tokens",
        remedy: "the file is truncated or corrupt; \(remedy)")
    }
    self.width = width
    self.count = Int(declared)
    buffer = Buffer(mapping: file, byteOffset: Self.headerSize, byteCount: payload)
  }

  /// The ids in `range` (copied out of the mapping, 8 bytes each: a range that could not fit in physical
  /// memory is an error naming the count and the limit).
  public func tokens(in range: Range<Int>) throws -> [Int64] {
    guard range.lowerBound >= 0, range.upperBound <= count else {
      throw DataError(
        path: path, problem: "token range \(range) is outside the shard's \(count) tokens",
        remedy: "use a shorter context or a larger shard")
    }
    if range.count >= 1 << 24 { try checkMemory(toRead: range.count) }
    switch width {
    case .uint16:
      return buffer.read(as: UInt16.self, offset: range.lowerBound, count: range.count).map { Int64($0) }
    case .uint32:
      return buffer.read(as: UInt32.self, offset: range.lowerBound, count: range.count).map { Int64($0) }
    }
  }

  /// A cheap identity of the shard's contents: FNV-1a over its token count and up to `samples` ids at
  /// evenly spaced positions. Recorded in training checkpoints, so that a resume on other data is noticed
  /// (while the same shard moved to another folder is not).
  public func fingerprint(samples: Int = 4096) -> UInt64 {
    var hash: UInt64 = 0xcbf2_9ce4_8422_2325
    func mix(_ value: UInt64) {
      for byte in 0..<8 {
        hash ^= (value >> (8 * UInt64(byte))) & 0xFF
        hash = hash &* 0x0000_0100_0000_01B3
      }
    }
    mix(UInt64(count))
    let n = Swift.min(samples, count)
    for i in 0..<n {
      let position = Int((Double(i) * Double(count) / Double(n)).rounded(.down))
      switch width {
      case .uint16: mix(UInt64(buffer.pointer(as: UInt16.self, at: position).pointee))
      case .uint32: mix(UInt64(buffer.pointer(as: UInt32.self, at: position).pointee))
      }
    }
    return hash
  }

  /// Throws one line naming the file, the count and the limit when copying `count` ids out (8 bytes each)
  /// could not fit in physical memory.
  public func checkMemory(toRead count: Int) throws {
    let copy = MemoryTerm("the ids read", [MemoryTerm.Factor("tokens", count)], elementBytes: 8)
    if let problem = MemoryBudget.problem([copy], as: "64-bit ids", whole: "the read") {
      throw DataError(path: path, problem: problem, remedy: "read fewer tokens (e.g. --max-tokens)")
    }
  }

  /// The largest id in `range` (the whole shard by default; 0 when empty): one pass over the mapping.
  public func largestID(in range: Range<Int>? = nil) -> Int {
    let range = range ?? 0..<count
    precondition(range.lowerBound >= 0 && range.upperBound <= count, "token range \(range) outside 0..<\(count)")
    switch width {
    case .uint16: return Int(Self.largest(buffer.pointer(as: UInt16.self, at: range.lowerBound), count: range.count))
    case .uint32: return Int(Self.largest(buffer.pointer(as: UInt32.self, at: range.lowerBound), count: range.count))
    }
  }

  /// Throws one line naming the file, the first id in `range` that is `vocabularySize` or more (and where it
  /// sits), and the vocabulary size, when there is one: a model cannot look such an id up, and would fail
  /// somewhere in the middle of training or evaluation instead. `model` names whose vocabulary it is; `remedy`
  /// replaces the advice to prepare the data with the model's tokenizer.
  public func checkIDs(
    below vocabularySize: Int, in range: Range<Int>? = nil, model: String = "the model",
    remedy: String = "prepare the data with the model's tokenizer (frontier prepare --tokenizer)"
  ) throws {
    let range = range ?? 0..<count
    guard largestID(in: range) >= vocabularySize else { return }
    let position = (range.lowerBound..<range.upperBound).first { index in
      switch width {
      case .uint16: return Int(buffer.pointer(as: UInt16.self, at: index).pointee) >= vocabularySize
      case .uint32: return Int(buffer.pointer(as: UInt32.self, at: index).pointee) >= vocabularySize
      }
    }!
    let id = try tokens(in: position..<(position + 1))[0]
    throw DataError(
      path: path,
      problem:
        "token \(position) is id \(id), outside \(model)'s vocabulary of \(vocabularySize) (ids 0...\(vocabularySize - 1))",
      remedy: remedy)
  }

  /// The largest of `count` values at `values` (a loop the compiler vectorises).
  private static func largest<T: FixedWidthInteger & UnsignedInteger>(_ values: UnsafePointer<T>, count: Int) -> T {
    var result: T = 0
    for i in 0..<count { result = Swift.max(result, values[i]) }
    return result
  }

  /// Writes `tokens` as a shard at `path`, atomically (temporary file, then rename).
  public static func write(_ tokens: [Int], width: TokenWidth, to path: String) throws {
    let limit = width == .uint16 ? Int(UInt16.max) : Int(UInt32.max)
    if let bad = tokens.first(where: { $0 < 0 || $0 > limit }) {
      throw DataError(
        path: path, problem: "token id \(bad) does not fit a \(width) shard",
        remedy: "use a shard width that holds the tokenizer's vocabulary")
    }
    var bytes = magic
    bytes += ByteIO.bytes(of: [version.littleEndian, width.rawValue.littleEndian, UInt32(0)])
    bytes += ByteIO.bytes(of: [UInt64(tokens.count).littleEndian, UInt64(0)])
    switch width {
    case .uint16: bytes += ByteIO.bytes(of: tokens.map { UInt16($0).littleEndian })
    case .uint32: bytes += ByteIO.bytes(of: tokens.map { UInt32($0).littleEndian })
    }
    try AtomicFile.write(bytes, to: path)
  }
}

extension UInt32 {
  /// Reads four little-endian bytes of `bytes` starting at `offset`.
  fileprivate init(littleEndian bytes: [UInt8], at offset: Int) {
    self = bytes[offset..<(offset + 4)].reversed().reduce(UInt32(0)) { $0 << 8 | UInt32($1) }
  }
}

/// Atomic file writes: a temporary file in the same folder, synced, then renamed over the target.
public enum AtomicFile {
  /// Writes `bytes` to `path` atomically.
  public static func write(_ bytes: [UInt8], to path: String) throws {
    let temporary = "\(path).tmp-\(ProcessInfo.processInfo.processIdentifier)-\(UInt32.random(in: 0...UInt32.max))"
    do {
      let writer = try ByteIO.FileWriter(creatingNew: temporary)
      try writer.write(bytes)
      try writer.synchronize()
      try writer.close()
      try ByteIO.rename(temporary, to: path)
    } catch {
      ByteIO.removeFile(temporary)
      throw DataError(
        path: path, problem: "cannot write (\(error))", remedy: "check that the folder exists and is writable")
    }
  }

  /// Writes UTF-8 `text` to `path` atomically.
  public static func write(text: String, to path: String) throws {
    try write(Array(text.utf8), to: path)
  }
}

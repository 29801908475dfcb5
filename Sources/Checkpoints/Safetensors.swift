import Kernels
import TensorCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// One tensor's description in a safetensors file.
public struct SafetensorsEntry: Sendable, Equatable {
  /// The tensor's key in the file, e.g. `model.layers.0.self_attn.q_proj.weight`.
  public let name: String
  /// The stored element type.
  public let dtype: DType
  /// The tensor's dimensions; `[]` for a scalar.
  public let shape: [Int]
  /// Absolute byte offset of the data in the file.
  public let byteOffset: Int
  /// The data's length in bytes (`shape` product times `dtype.byteSize`).
  public let byteCount: Int
}

/// A safetensors file opened with mmap; tensor data is not copied until asked.
///
/// Layout: an 8-byte little-endian header length `N`, `N` bytes of UTF-8 JSON mapping each tensor
/// name to `{"dtype", "shape", "data_offsets"}` (offsets relative to the end of the header) plus an
/// optional `"__metadata__"` object of strings, then the tensor data.
public final class SafetensorsFile: @unchecked Sendable {
  /// The file's path as given to ``init(path:)``.
  public let path: String
  /// The `"__metadata__"` strings (empty when absent).
  public let metadata: [String: String]
  /// Entries in file order (sorted by offset).
  public let entries: [SafetensorsEntry]

  private let mapping: MappedFile
  private let positions: [String: Int]

  /// The entry named `name`, if any.
  public subscript(name: String) -> SafetensorsEntry? {
    positions[name].map { entries[$0] }
  }

  /// Opens `path`, maps it, and fully validates the header.
  ///
  /// Throws a one-line ``CheckpointError`` naming the file for a missing or unreadable file, a file
  /// shorter than 8 bytes, a header longer than the file, a header that is not UTF-8 JSON or not an
  /// object, entries with missing or mistyped keys, unsupported dtypes, bad shapes or offsets, data
  /// lengths that disagree with the shape, data beyond the end of the file, and overlapping entries.
  public init(path: String) throws {
    self.path = path
    do {
      mapping = try MappedFile(path: path)
    } catch let e as MappedFile.MappingError {
      let problem = isDirectory(path) ? "is a directory, not a safetensors file" : e.reason
      throw CheckpointError(path: path, problem: problem, remedy: "check the path and the file's permissions")
    }
    let size = mapping.size
    guard size >= 8 else {
      throw CheckpointError(
        path: path, problem: "file is \(size) bytes, shorter than the 8-byte safetensors header length")
    }
    let lengthBytes = mapping.bytes(offset: 0, count: 8)
    var headerLength: UInt64 = 0
    for (i, b) in lengthBytes.enumerated() { headerLength |= UInt64(b) << (8 * UInt64(i)) }
    guard headerLength <= UInt64(size - 8) else {
      throw CheckpointError(
        path: path,
        problem: "header length \(headerLength) is larger than the file (\(size) bytes)",
        remedy: "the file is truncated or not in safetensors format; download or save it again")
    }
    guard headerLength > 0 else { throw CheckpointError(path: path, problem: "header is empty (length 0)") }
    let header = mapping.bytes(offset: 8, count: Int(headerLength))
    let parsed = try SafetensorsHeader.parse(
      header, dataStart: 8 + Int(headerLength), fileSize: size, path: path)
    metadata = parsed.metadata
    entries = parsed.entries
    var positions: [String: Int] = [:]
    for (i, entry) in entries.enumerated() { positions[entry.name] = i }
    self.positions = positions
  }

  /// Zero-copy view of an entry's bytes (a Buffer wrapping the mapping; keeps the mapping alive).
  ///
  /// `entry` must come from this file.
  public func buffer(for entry: SafetensorsEntry) -> Buffer {
    Buffer(mapping: mapping, byteOffset: entry.byteOffset, byteCount: entry.byteCount)
  }

  /// Reads entry data converted to Float (F32 copied; F16/BF16 converted; I32/I64 converted).
  ///
  /// Throws ``CheckpointError`` when the file has no tensor called `name`.
  public func floats(_ name: String) throws -> [Float] {
    guard let entry = self[name] else {
      let known = entries.prefix(5).map { "\"\($0.name)\"" }.joined(separator: ", ")
      throw CheckpointError(
        path: path, problem: "no tensor named \"\(name)\"",
        remedy: entries.isEmpty ? "the file holds no tensors" : "it holds \(entries.count) tensors, e.g. \(known)")
    }
    let data = buffer(for: entry)
    switch entry.dtype {
    case .float32: return ByteIO.floats(fromFloat32: data)
    case .float16: return ByteIO.floats(fromFloat16: data)
    case .bfloat16: return ByteIO.floats(fromBFloat16: data)
    case .int32: return ByteIO.floats(fromInt32: data)
    case .int64: return ByteIO.floats(fromInt64: data)
    }
  }
}

/// Whether `path` names a directory.
private func isDirectory(_ path: String) -> Bool {
  var info = stat()
  return stat(path, &info) == 0 && (info.st_mode & S_IFMT) == S_IFDIR
}

extension DType {
  /// The dtype codes this package reads and writes, in the order error messages list them.
  static let safetensorsCodes: [(code: String, dtype: DType)] = [
    ("F32", .float32), ("F16", .float16), ("BF16", .bfloat16), ("I32", .int32), ("I64", .int64),
  ]

  /// The dtype for a safetensors code such as `"BF16"`, if supported.
  init?(safetensorsCode code: String) {
    guard let match = Self.safetensorsCodes.first(where: { $0.code == code }) else { return nil }
    self = match.dtype
  }

  /// Position in the Rust library's `Dtype` enum (F16 < BF16 < I32 < F32 < I64), which orders written data.
  var safetensorsRank: Int {
    switch self {
    case .float16: return 0
    case .bfloat16: return 1
    case .int32: return 2
    case .float32: return 3
    case .int64: return 4
    }
  }

  /// The safetensors code for this dtype, e.g. `"F32"`.
  var safetensorsCode: String {
    switch self {
    case .float32: return "F32"
    case .float16: return "F16"
    case .bfloat16: return "BF16"
    case .int32: return "I32"
    case .int64: return "I64"
    }
  }
}

/// Validation of a safetensors JSON header.
enum SafetensorsHeader {
  /// Largest integer accepted in a header (2^53, the largest that every JSON reader holds exactly).
  static let largestInteger = 1 << 53

  /// Parses and validates `header`; data offsets are made absolute by adding `dataStart`.
  static func parse(
    _ header: [UInt8], dataStart: Int, fileSize: Int, path: String
  ) throws(CheckpointError) -> (metadata: [String: String], entries: [SafetensorsEntry]) {
    func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: problem) }
    guard String(validating: header, as: UTF8.self) != nil else { throw fail("header is not valid UTF-8") }
    let root: JSONValue
    do {
      root = try JSONParser.parse(header)
    } catch {
      throw fail("header is not valid JSON: \(error.message) at header byte \(error.offset)")
    }
    guard case .object(let members) = root else {
      throw fail("header is \(root.kindName), expected a JSON object of tensors")
    }
    var metadata: [String: String] = [:]
    var entries: [SafetensorsEntry] = []
    var seen = Set<String>()
    for (name, value) in members {
      guard seen.insert(name).inserted else { throw fail("header names \"\(name)\" twice") }
      if name == "__metadata__" {
        metadata = try parseMetadata(value, fail: fail)
      } else {
        entries.append(try parseEntry(name, value, dataStart: dataStart, fileSize: fileSize, path: path))
      }
    }
    entries.sort { ($0.byteOffset, $0.byteCount, $0.name) < ($1.byteOffset, $1.byteCount, $1.name) }
    var end = dataStart
    var endName = ""
    for entry in entries where entry.byteCount > 0 {
      guard entry.byteOffset >= end else {
        throw fail("tensors \"\(endName)\" and \"\(entry.name)\" overlap")
      }
      end = entry.byteOffset + entry.byteCount
      endName = entry.name
    }
    return (metadata, entries)
  }

  private static func parseMetadata(
    _ value: JSONValue, fail: (String) -> CheckpointError
  ) throws(CheckpointError) -> [String: String] {
    if case .null = value { return [:] }
    guard case .object(let pairs) = value else {
      throw fail("\"__metadata__\" is \(value.kindName), expected an object of strings")
    }
    var metadata: [String: String] = [:]
    for (key, item) in pairs {
      guard case .string(let text) = item else {
        throw fail("\"__metadata__\" value for \"\(key)\" is \(item.kindName), expected a string")
      }
      guard metadata.updateValue(text, forKey: key) == nil else {
        throw fail("\"__metadata__\" names \"\(key)\" twice")
      }
    }
    return metadata
  }

  private static func parseEntry(
    _ name: String, _ value: JSONValue, dataStart: Int, fileSize: Int, path: String
  ) throws(CheckpointError) -> SafetensorsEntry {
    func fail(_ problem: String) -> CheckpointError { CheckpointError(path: path, problem: problem) }
    let label = "tensor \"\(name)\""
    guard case .object(let fields) = value else { throw fail("\(label) is \(value.kindName), expected an object") }
    func field(_ key: String) throws(CheckpointError) -> JSONValue {
      guard let match = fields.first(where: { $0.key == key }) else { throw fail("\(label) has no \"\(key)\"") }
      return match.value
    }
    guard case .string(let code) = try field("dtype") else { throw fail("\(label): \"dtype\" must be a string") }
    guard let dtype = DType(safetensorsCode: code) else {
      let supported = DType.safetensorsCodes.map(\.code).joined(separator: ", ")
      throw CheckpointError(
        path: path, problem: "\(label) has unsupported dtype \"\(code)\" (supported: \(supported))",
        remedy: "convert the checkpoint to one of the supported dtypes")
    }
    let shape = try integers(try field("shape"), "\(label): \"shape\"", fail: fail)
    let offsets = try integers(try field("data_offsets"), "\(label): \"data_offsets\"", fail: fail)
    guard offsets.count == 2 else {
      throw fail("\(label): \"data_offsets\" must hold two numbers [begin, end], not \(offsets.count)")
    }
    let (begin, end) = (offsets[0], offsets[1])
    guard end >= begin else { throw fail("\(label): data_offsets end \(end) is before begin \(begin)") }
    var elements = 1
    for d in shape {
      let (product, overflow) = elements.multipliedReportingOverflow(by: d)
      guard !overflow, product <= largestInteger else { throw fail("\(label): shape \(shape) is too large") }
      elements = product
    }
    let expected = elements * dtype.byteSize
    guard end - begin == expected else {
      throw fail(
        "\(label) has \(end - begin) data bytes but shape \(shape) of \(code) needs \(expected)")
    }
    // begin, end <= 2^53 and dataStart <= fileSize, so these sums cannot overflow.
    guard dataStart + end <= fileSize else {
      throw CheckpointError(
        path: path,
        problem: "\(label) data ends at byte \(dataStart + end), beyond the end of the file (\(fileSize) bytes)",
        remedy: "the file is truncated; download or save it again")
    }
    return SafetensorsEntry(name: name, dtype: dtype, shape: shape, byteOffset: dataStart + begin, byteCount: expected)
  }

  /// Reads an array of non-negative integers no larger than ``largestInteger``.
  private static func integers(
    _ value: JSONValue, _ label: String, fail: (String) -> CheckpointError
  ) throws(CheckpointError) -> [Int] {
    guard case .array(let items) = value else { throw fail("\(label) is \(value.kindName), expected an array") }
    var result: [Int] = []
    result.reserveCapacity(items.count)
    for item in items {
      guard case .number(let text) = item else {
        throw fail("\(label) holds \(item.kindName), expected non-negative integers")
      }
      guard text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else {
        throw fail("\(label) holds \(text), expected non-negative integers")
      }
      guard let n = Int(text), n <= largestInteger else {
        throw fail("\(label) holds \(text), larger than 2^53")
      }
      result.append(n)
    }
    return result
  }
}

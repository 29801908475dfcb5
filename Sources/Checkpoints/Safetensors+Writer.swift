import Kernels
import TensorCore

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// What to write for one tensor.
public struct SafetensorsRecord {
  /// The tensor's key in the file.
  public var name: String
  /// The element type of `bytes`.
  public var dtype: DType
  /// The tensor's dimensions; `[]` for a scalar.
  public var shape: [Int]
  /// Exactly `shape` product times `dtype.byteSize` bytes, little-endian.
  public var bytes: [UInt8]

  /// A record from raw little-endian bytes.
  public init(name: String, dtype: DType, shape: [Int], bytes: [UInt8]) {
    self.name = name
    self.dtype = dtype
    self.shape = shape
    self.bytes = bytes
  }

  /// A `float32` record from `Float` values.
  public init(name: String, shape: [Int], floats: [Float]) {
    self.init(name: name, dtype: .float32, shape: shape, bytes: ByteIO.bytes(of: floats))
  }

  /// An `int32` record from `Int32` values.
  public init(name: String, shape: [Int], int32s: [Int32]) {
    self.init(name: name, dtype: .int32, shape: shape, bytes: ByteIO.bytes(of: int32s))
  }

  /// An `int64` record from `Int64` values.
  public init(name: String, shape: [Int], int64s: [Int64]) {
    self.init(name: name, dtype: .int64, shape: shape, bytes: ByteIO.bytes(of: int64s))
  }
}

/// Writes safetensors files that the Rust/Python `safetensors` library reads.
public enum SafetensorsWriter {
  /// Writes atomically: to `"<path>.tmp-<pid>-<random>"` in the same directory, fsync, then rename over path.
  ///
  /// The output is byte for byte what the Rust library writes: tensors ordered by dtype from the widest
  /// (I64, F32, I32, BF16, F16), then by name (byte order), header keys and data in that same order, so
  /// every tensor's data is aligned to its element size; `"__metadata__"` first when non-empty (keys
  /// sorted); the header padded with spaces to a multiple of 8 bytes. Throws ``CheckpointError`` on
  /// duplicate names, a byte count that disagrees with the shape, or an IO failure, and leaves no
  /// partial file behind.
  public static func write(_ records: [SafetensorsRecord], metadata: [String: String] = [:], to path: String) throws {
    let sorted = records.sorted(by: writesBefore)
    let header = try makeHeader(sorted, metadata: metadata, path: path)
    var lengthBytes = [UInt8](repeating: 0, count: 8)
    for i in 0..<8 { lengthBytes[i] = UInt8(truncatingIfNeeded: UInt64(header.count) >> (8 * UInt64(i))) }

    try writeAtomically(to: path, what: "safetensors file") { file in
      try file.write(lengthBytes)
      try file.write(header)
      for record in sorted { try file.write(record.bytes) }
    }
  }

  /// The Rust library's order: higher dtype rank first (wider elements first), then names by bytes.
  static func writesBefore(_ a: SafetensorsRecord, _ b: SafetensorsRecord) -> Bool {
    if a.dtype.safetensorsRank != b.dtype.safetensorsRank { return a.dtype.safetensorsRank > b.dtype.safetensorsRank }
    return a.name.utf8.lexicographicallyPrecedes(b.name.utf8)
  }

  /// Builds the padded JSON header, validating names and byte counts.
  static func makeHeader(
    _ sorted: [SafetensorsRecord], metadata: [String: String], path: String
  ) throws(CheckpointError) -> [UInt8] {
    func fail(_ problem: String) -> CheckpointError {
      CheckpointError(path: path, problem: problem, remedy: "fix the tensors passed to SafetensorsWriter.write")
    }
    var out: [UInt8] = [UInt8(ascii: "{")]
    var first = true
    func separate() {
      if !first { out.append(UInt8(ascii: ",")) }
      first = false
    }
    if !metadata.isEmpty {
      separate()
      JSONWriter.appendString("__metadata__", to: &out)
      out.append(contentsOf: Array(":{".utf8))
      let keys = metadata.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
      for (i, key) in keys.enumerated() {
        if i > 0 { out.append(UInt8(ascii: ",")) }
        JSONWriter.appendString(key, to: &out)
        out.append(UInt8(ascii: ":"))
        JSONWriter.appendString(metadata[key] ?? "", to: &out)
      }
      out.append(UInt8(ascii: "}"))
    }
    var offset = 0
    var seen = Set<String>()
    for record in sorted {
      let label = "tensor \"\(record.name)\""
      guard record.name != "__metadata__" else { throw fail("a tensor cannot be named \"__metadata__\"") }
      guard seen.insert(record.name).inserted else { throw fail("\(label) is given twice") }
      var elements = 1
      for d in record.shape {
        guard d >= 0 else { throw fail("\(label) has a negative dimension in shape \(record.shape)") }
        let (product, overflow) = elements.multipliedReportingOverflow(by: d)
        guard !overflow else { throw fail("\(label) shape \(record.shape) is too large") }
        elements = product
      }
      let (expected, overflow) = elements.multipliedReportingOverflow(by: record.dtype.byteSize)
      guard !overflow, expected == record.bytes.count else {
        throw fail(
          "\(label) has \(record.bytes.count) bytes but shape \(record.shape) of \(record.dtype) needs "
            + "\(overflow ? "more than Int.max" : String(expected))")
      }
      separate()
      JSONWriter.appendString(record.name, to: &out)
      out.append(contentsOf: Array(":{\"dtype\":".utf8))
      JSONWriter.appendString(record.dtype.safetensorsCode, to: &out)
      out.append(contentsOf: Array(",\"shape\":".utf8))
      JSONWriter.appendIntegers(record.shape, to: &out)
      out.append(contentsOf: Array(",\"data_offsets\":".utf8))
      JSONWriter.appendIntegers([offset, offset + expected], to: &out)
      out.append(UInt8(ascii: "}"))
      offset += expected
    }
    out.append(UInt8(ascii: "}"))
    while out.count % 8 != 0 { out.append(UInt8(ascii: " ")) }
    return out
  }
}

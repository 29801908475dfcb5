import Foundation
import Kernels
import TensorCore
import TestSupport
import Testing

@testable import Checkpoints

/// A fresh empty directory under the system temporary directory.
private func makeScratchDirectory() throws -> String {
  let path = NSTemporaryDirectory() + "safetensors-tests-" + UUID().uuidString
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Writes a safetensors-shaped file by hand: length prefix (or `length` if given), header text, data.
private func writeRaw(_ path: String, header: String, data: [UInt8] = [], length: UInt64? = nil) {
  let h = Array(header.utf8)
  writeRaw(path, headerBytes: h, data: data, length: length)
}

private func writeRaw(_ path: String, headerBytes h: [UInt8], data: [UInt8] = [], length: UInt64? = nil) {
  let n = length ?? UInt64(h.count)
  let prefix = (0..<8).map { UInt8(truncatingIfNeeded: n >> (8 * UInt64($0))) }
  _ = FileManager.default.createFile(atPath: path, contents: Data(prefix + h + data))
}

/// SplitMix64: a small seeded generator so the fuzz cases are reproducible.
private struct SplitMix64: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// A buffer holding `bytes`.
private func buffer(_ bytes: [UInt8]) -> Buffer {
  let b = Buffer(byteCount: bytes.count)
  b.write(bytes)
  return b
}

/// Decodes little-endian float32 bytes by hand.
private func floatsFromLittleEndian(_ bytes: [UInt8]) -> [Float] {
  stride(from: 0, to: bytes.count - 3, by: 4).map { i in
    Float(bitPattern: (0..<4).reduce(UInt32(0)) { $0 | UInt32(bytes[i + $1]) << (8 * UInt32($1)) })
  }
}

/// Bitwise equality of float arrays (NaN payloads and signed zeros included).
private func sameBits(_ a: [Float], _ b: [Float]) -> Bool {
  a.count == b.count && zip(a, b).allSatisfy { $0.bitPattern == $1.bitPattern }
}

private let fixtureDirectory = SharedData.referenceDirectory.appendingPathComponent("fixtures/tiny_llama").path
private let fixtureModel = fixtureDirectory + "/model.safetensors"

@Suite struct SafetensorsRoundTripTests {
  /// Records covering every dtype, special float values, an empty tensor and a scalar.
  static func sampleRecords() -> [SafetensorsRecord] {
    let specials: [Float] = [
      0, -0.0, 1, -1.5, .infinity, -.infinity, .nan, Float(bitPattern: 0x7FC0_1234), Float(bitPattern: 0xFF80_0001),
      .leastNonzeroMagnitude, .greatestFiniteMagnitude, 3.14159,
    ]
    let halfBits: [UInt16] = [0x0000, 0x8000, 0x3C00, 0x7C00, 0xFC00, 0x7E01, 0x0001, 0x7BFF, 0xC500]
    let bf16Bits: [UInt16] = [0x0000, 0x8000, 0x3F80, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0xC0A0]
    return [
      SafetensorsRecord(name: "f32", shape: [3, 4], floats: specials),
      SafetensorsRecord(name: "f16", dtype: .float16, shape: [9], bytes: ByteIO.bytes(of: halfBits)),
      SafetensorsRecord(name: "bf16", dtype: .bfloat16, shape: [2, 2, 2], bytes: ByteIO.bytes(of: bf16Bits)),
      SafetensorsRecord(name: "i32", shape: [5], int32s: [0, -1, .max, .min, 1 << 24 + 1]),
      SafetensorsRecord(name: "i64", shape: [1, 3], int64s: [7, -(1 << 40), .max]),
      SafetensorsRecord(name: "empty", shape: [4, 0, 3], floats: []),
      SafetensorsRecord(name: "scalar", shape: [], floats: [2.5]),
      SafetensorsRecord(name: "odd.f16", dtype: .float16, shape: [1], bytes: [0x00, 0x3C]),
    ]
  }

  @Test func everyDTypeRoundTripsBitExact() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/all.safetensors"
    let records = Self.sampleRecords()
    let meta = ["format": "pt", "note": "quote \" backslash \\ newline \n tab \t bell \u{7} unicode é ✓ 😀"]
    try SafetensorsWriter.write(records, metadata: meta, to: path)

    let file = try SafetensorsFile(path: path)
    #expect(file.metadata == meta)
    #expect(file.entries.count == records.count)
    #expect(file.entries.map(\.byteOffset) == file.entries.map(\.byteOffset).sorted())
    for record in records {
      let entry = try #require(file[record.name])
      #expect(entry.dtype == record.dtype)
      #expect(entry.shape == record.shape)
      #expect(entry.byteCount == record.bytes.count)
      let view = file.buffer(for: entry)
      #expect(view.isMapped)
      #expect(view.bytes(count: view.byteCount) == record.bytes)
    }
    // Header is padded to a multiple of 8 and the data follows in name order.
    let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let n = raw[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    #expect(n % 8 == 0)
    #expect(raw[8 + n - 1] == UInt8(ascii: " ") || raw[8 + n - 1] == UInt8(ascii: "}"))
    // Data follows the Rust library's order (I64, F32, I32, BF16, F16, then by name), so it is aligned.
    #expect(file.entries.allSatisfy { $0.byteOffset % $0.dtype.byteSize == 0 })
    let order = file.entries.map(\.name)
    #expect(order == ["i64", "empty", "f32", "scalar", "i32", "bf16", "f16", "odd.f16"])

    #expect(sameBits(try file.floats("f32"), floatsFromLittleEndian(records[0].bytes)))
    let halves = try file.floats("f16")
    #expect(sameBits(Array(halves[0..<3]), [0, -0.0, 1]))
    #expect(halves[3] == .infinity && halves[4] == -.infinity && halves[5].isNaN)
    #expect(halves[6] == Float(Float16.leastNonzeroMagnitude) && halves[7] == 65504 && halves[8] == -5)
    let brains = try file.floats("bf16")
    #expect(
      sameBits(
        brains,
        [0x0000, 0x8000, 0x3F80, 0x7F80, 0xFF80, 0x7FC1, 0x0001, 0xC0A0].map {
          Float(bitPattern: UInt32($0) << 16)
        }))
    #expect(try file.floats("i32") == [0, -1, Float(Int32.max), Float(Int32.min), Float(1 << 24 + 1)])
    #expect(try file.floats("i64") == [7, -Float(1 << 40), Float(Int64.max)])
    #expect(try file.floats("empty") == [])
    #expect(try file.floats("scalar") == [2.5])
    #expect(try file.floats("odd.f16") == [1])
  }

  /// Known answers of the Rust library's own serialisation tests, rebuilt from their header text.
  @Test func matchesRustKnownAnswers() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    func image(_ header: String, _ data: [Float]) -> [UInt8] {
      let h = Array(header.utf8)
      return (0..<8).map { UInt8(truncatingIfNeeded: h.count >> (8 * $0)) } + h + ByteIO.bytes(of: data)
    }
    let values: [Float] = [0, 1, 2, 3, 4, 5]
    let cases: [([SafetensorsRecord], [String: String], [UInt8])] = [
      (
        [SafetensorsRecord(name: "attn.0", shape: [1, 2, 3], floats: values)], [:],
        image("{\"attn.0\":{\"dtype\":\"F32\",\"shape\":[1,2,3],\"data_offsets\":[0,24]}}", values)
      ),
      (
        [SafetensorsRecord(name: "attn0", shape: [1, 1, 2, 3], floats: values)], [:],
        image("{\"attn0\":{\"dtype\":\"F32\",\"shape\":[1,1,2,3],\"data_offsets\":[0,24]}}       ", values)
      ),
      ([], ["framework": "pt"], image("{\"__metadata__\":{\"framework\":\"pt\"}}     ", [])),
    ]
    for (i, (records, metadata, expected)) in cases.enumerated() {
      let path = dir + "/known\(i).safetensors"
      try SafetensorsWriter.write(records, metadata: metadata, to: path)
      #expect(try [UInt8](Data(contentsOf: URL(fileURLWithPath: path))) == expected)
    }
  }

  @Test func emptyFileWithoutMetadataRoundTrips() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/empty.safetensors"
    try SafetensorsWriter.write([], to: path)
    let raw = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    #expect(raw == [8, 0, 0, 0, 0, 0, 0, 0] + Array("{}      ".utf8))
    let file = try SafetensorsFile(path: path)
    #expect(file.entries.isEmpty && file.metadata.isEmpty)
    #expect(throws: CheckpointError.self) { try file.floats("x") }
  }

  @Test func writeReplacesAnExistingFile() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.safetensors"
    try SafetensorsWriter.write([SafetensorsRecord(name: "a", shape: [1], floats: [1])], to: path)
    try SafetensorsWriter.write([SafetensorsRecord(name: "b", shape: [2], floats: [2, 3])], to: path)
    let file = try SafetensorsFile(path: path)
    #expect(file.entries.map(\.name) == ["b"])
    #expect(try file.floats("b") == [2, 3])
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir) == ["m.safetensors"])
  }
}

@Suite struct SafetensorsFixtureTests {
  static let fixturePresent = FileManager.default.fileExists(atPath: fixtureModel)

  @Test(.enabled(if: fixturePresent, "fixture \(fixtureModel) is absent (\(SharedData.hint))"))
  func readsTinyLlamaFixture() throws {
    let file = try SafetensorsFile(path: fixtureModel)
    #expect(file.metadata == ["format": "pt"])
    #expect(file.entries.count == 21)
    let expectedURL = URL(fileURLWithPath: fixtureDirectory + "/expected.json")
    if let data = try? Data(contentsOf: expectedURL),
      let json = try JSONSerialization.jsonObject(with: data) as? [String: Any],
      let keys = json["model_safetensors_keys"] as? [String]
    {
      #expect(Set(file.entries.map(\.name)) == Set(keys))
    } else {
      Issue.record("expected.json has no model_safetensors_keys; only the entry count was checked")
    }
    let embed = try #require(file["model.embed_tokens.weight"])
    #expect(embed.dtype == .float32 && embed.shape == [256, 64])
    #expect(file["model.layers.0.mlp.down_proj.weight"]?.shape == [64, 172])
    #expect(file["model.norm.weight"]?.shape == [64])
    let norm = try file.floats("model.norm.weight")
    #expect(norm.count == 64 && norm.allSatisfy(\.isFinite))
  }

  /// Rewriting the fixtures (written by the Rust library; one all-F32, one mixing I64 and F32) with our
  /// writer reproduces them byte for byte.
  @Test(
    .enabled(if: fixturePresent, "fixture \(fixtureModel) is absent (\(SharedData.hint))"),
    arguments: ["model.safetensors", "expected.safetensors"])
  func rewritingFixtureIsByteIdentical(name: String) throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let source = fixtureDirectory + "/" + name
    try #require(FileManager.default.fileExists(atPath: source), "\(source) is absent")
    let file = try SafetensorsFile(path: source)
    let records = file.entries.map { e in
      SafetensorsRecord(
        name: e.name, dtype: e.dtype, shape: e.shape, bytes: file.buffer(for: e).bytes(count: e.byteCount))
    }
    let copy = dir + "/copy.safetensors"
    try SafetensorsWriter.write(records, metadata: file.metadata, to: copy)
    let original = try Data(contentsOf: URL(fileURLWithPath: source))
    let rewritten = try Data(contentsOf: URL(fileURLWithPath: copy))
    #expect(original == rewritten)
  }
}

@Suite struct SafetensorsMalformedTests {
  /// Expects opening `path` to throw a CheckpointError that names the file and mentions `fragment`.
  private func expectRejected(_ path: String, _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation) {
    do {
      _ = try SafetensorsFile(path: path)
      Issue.record("accepted a malformed file (\(fragment))", sourceLocation: sourceLocation)
    } catch let error as CheckpointError {
      #expect(error.description.hasPrefix(path + ": "), sourceLocation: sourceLocation)
      #expect(!error.description.contains("\n"), sourceLocation: sourceLocation)
      #expect(error.description.contains(fragment), "\(error)", sourceLocation: sourceLocation)
    } catch {
      Issue.record("threw \(type(of: error)), not CheckpointError: \(error)", sourceLocation: sourceLocation)
    }
  }

  private func entry(_ dtype: String = "F32", _ shape: String = "[2]", _ offsets: String = "[0,8]") -> String {
    "{\"dtype\":\"\(dtype)\",\"shape\":\(shape),\"data_offsets\":\(offsets)}"
  }

  @Test func everyMalformedCaseThrowsNamingTheFile() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var counter = 0
    func check(
      header: String, data: [UInt8] = [UInt8](repeating: 0, count: 8), length: UInt64? = nil,
      _ fragment: String, sourceLocation: SourceLocation = #_sourceLocation
    ) {
      counter += 1
      let path = dir + "/case\(counter).safetensors"
      writeRaw(path, header: header, data: data, length: length)
      expectRejected(path, fragment, sourceLocation: sourceLocation)
    }
    expectRejected(dir + "/missing.safetensors", "cannot open")
    expectRejected(dir, "is a directory")
    _ = FileManager.default.createFile(atPath: dir + "/short", contents: Data([1, 2, 3]))
    expectRejected(dir + "/short", "shorter than the 8-byte")
    check(header: "{}", length: 1000, "larger than the file")
    check(header: "{}", length: .max, "larger than the file")
    check(header: "", data: [], "header is empty")
    let badUTF8 = dir + "/utf8.safetensors"
    writeRaw(badUTF8, headerBytes: Array("{\"a\":\"".utf8) + [0xFF, 0xFE] + Array("\"}".utf8))
    expectRejected(badUTF8, "UTF-8")
    check(header: "{\"a\":", "not valid JSON")
    check(header: "{\"a\":1,}", "not valid JSON")
    check(header: "{\"x\":" + entry() + "} trailing", "not valid JSON")
    check(header: String(repeating: "[", count: 10_000), "nesting")
    check(header: "[1, 2]", "expected a JSON object")
    check(header: "\"text\"", "expected a JSON object")
    check(header: "{\"x\":" + entry() + ",\"x\":" + entry() + "}", "twice")
    check(header: "{\"x\":[1]}", "expected an object")
    check(header: "{\"x\":{\"shape\":[2],\"data_offsets\":[0,8]}}", "no \"dtype\"")
    check(header: "{\"x\":{\"dtype\":\"F32\",\"data_offsets\":[0,8]}}", "no \"shape\"")
    check(header: "{\"x\":{\"dtype\":\"F32\",\"shape\":[2]}}", "no \"data_offsets\"")
    check(header: "{\"x\":{\"dtype\":4,\"shape\":[2],\"data_offsets\":[0,8]}}", "must be a string")
    check(header: "{\"x\":" + entry("F64") + "}", "unsupported dtype \"F64\" (supported: F32, F16, BF16, I32, I64)")
    check(header: "{\"x\":" + entry("F32", "[-2]") + "}", "non-negative integers")
    check(header: "{\"x\":" + entry("F32", "[2.0]") + "}", "non-negative integers")
    check(header: "{\"x\":" + entry("F32", "[2e0]") + "}", "non-negative integers")
    check(header: "{\"x\":" + entry("F32", "[\"2\"]") + "}", "non-negative integers")
    check(header: "{\"x\":" + entry("F32", "2") + "}", "expected an array")
    check(header: "{\"x\":" + entry("F32", "[2]", "[0]") + "}", "two numbers [begin, end], not 1")
    check(header: "{\"x\":" + entry("F32", "[2]", "[8,0]") + "}", "before begin")
    check(header: "{\"x\":" + entry("F32", "[3]", "[0,8]") + "}", "needs 12")
    check(header: "{\"x\":" + entry("F32", "[4]", "[0,16]") + "}", "beyond the end of the file")
    check(header: "{\"x\":" + entry("F32", "[1]", "[9007199254740980,9007199254740984]") + "}", "beyond the end")
    check(header: "{\"x\":" + entry("F32", "[1]", "[99999999999999999999,100000000000000000004]") + "}", "2^53")
    check(header: "{\"x\":" + entry("F32", "[1]", "[9007199254740993,9007199254740997]") + "}", "2^53")
    check(header: "{\"x\":" + entry("F32", "[4294967296,4294967296]", "[0,8]") + "}", "too large")
    check(header: "{\"x\":" + entry("F32", "[2]", "[0,8]") + ",\"y\":" + entry("F32", "[1]", "[4,8]") + "}", "overlap")
    check(header: "{\"__metadata__\":{\"a\":1}}", "expected a string")
    check(header: "{\"__metadata__\":[]}", "expected an object of strings")
  }

  @Test func acceptsPaddingGapsEmptyTensorsAndNullMetadata() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/ok.safetensors"
    let header =
      "{\"__metadata__\":null,\"b\":" + entry("F32", "[1]", "[4,8]") + ",\"a\":" + entry("F32", "[1]", "[0,4]")
      + ",\"e\":" + entry("I64", "[0,5]", "[4,4]") + "}    \t\n  "
    writeRaw(path, header: header, data: ByteIO.bytes(of: [Float(1), 2, 3]))
    let file = try SafetensorsFile(path: path)
    #expect(file.metadata.isEmpty)
    #expect(file.entries.map(\.name) == ["a", "e", "b"])
    #expect(file.entries[0].byteOffset == 8 + header.utf8.count)
    #expect(try file.floats("b") == [2])
    #expect(try file.floats("e") == [])
  }

  @Test func unknownNameThrowsNamingTheFile() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.safetensors"
    try SafetensorsWriter.write([SafetensorsRecord(name: "w", shape: [1], floats: [1])], to: path)
    let file = try SafetensorsFile(path: path)
    let error = try #require(throws: CheckpointError.self) { try file.floats("nope") }
    #expect(error.description.hasPrefix(path) && error.description.contains("\"nope\""))
  }

  /// Randomly changes 1-3 bytes of `bytes[range]`: a random value or one flipped bit.
  private func corrupt(_ bytes: [UInt8], in range: Range<Int>, using rng: inout SplitMix64) -> [UInt8] {
    var out = bytes
    for _ in 0..<Int.random(in: 1...3, using: &rng) {
      let i = Int.random(in: range, using: &rng)
      if rng.next() & 1 == 0 {
        out[i] = UInt8.random(in: 0...255, using: &rng)
      } else {
        out[i] ^= 1 << UInt8.random(in: 0...7, using: &rng)
      }
    }
    return out
  }

  /// Truncating a valid file at every length and flipping random header bytes never crashes.
  @Test func truncationAndCorruptionNeverCrash() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/valid.safetensors"
    let records = [
      SafetensorsRecord(name: "w", shape: [2], floats: [1, -2]),
      SafetensorsRecord(name: "ids", shape: [1], int64s: [3]),
      SafetensorsRecord(name: "s", dtype: .bfloat16, shape: [], bytes: [0x80, 0x3F]),
      SafetensorsRecord(name: "h", dtype: .float16, shape: [3], bytes: [0, 0x3C, 0, 0x40, 0, 0xC2]),
    ]
    try SafetensorsWriter.write(records, metadata: ["k": "v"], to: path)
    let valid = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let headerEnd = 8 + valid[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let probe = dir + "/probe.safetensors"
    var opened = 0
    func attempt(_ bytes: [UInt8]) {
      try? Data(bytes).write(to: URL(fileURLWithPath: probe))
      do {
        let file = try SafetensorsFile(path: probe)
        for entry in file.entries { _ = try file.floats(entry.name) }
        opened += 1
      } catch let error as CheckpointError {
        #expect(error.path == probe)
      } catch {
        Issue.record("unexpected error type \(type(of: error))")
      }
    }
    for length in 0...valid.count { attempt(Array(valid[0..<length])) }
    #expect(opened == 1)  // only the complete file opens: the last tensor's data ends at the end
    var rng = SplitMix64(state: 0x5AFE_7E45)
    for _ in 0..<300 { attempt(corrupt(valid, in: 0..<headerEnd, using: &rng)) }
  }

  /// Many more corrupted headers, validated in memory (no file IO): always a result or a CheckpointError.
  @Test func corruptedHeadersNeverCrashInMemory() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/valid.safetensors"
    try SafetensorsWriter.write(SafetensorsRoundTripTests.sampleRecords(), metadata: ["k": "v"], to: path)
    let valid = try [UInt8](Data(contentsOf: URL(fileURLWithPath: path)))
    let headerEnd = 8 + valid[0..<8].enumerated().reduce(0) { $0 | Int($1.element) << (8 * $1.offset) }
    let header = Array(valid[8..<headerEnd])
    var rng = SplitMix64(state: 0xC0FF_EE00)
    var accepted = 0
    for _ in 0..<5000 {
      let bytes = corrupt(header, in: 0..<header.count, using: &rng)
      do {
        let parsed = try SafetensorsHeader.parse(bytes, dataStart: headerEnd, fileSize: valid.count, path: path)
        #expect(parsed.entries.allSatisfy { $0.byteOffset >= headerEnd && $0.byteOffset + $0.byteCount <= valid.count })
        accepted += 1
      } catch {
        #expect(error.path == path)
      }
    }
    #expect(accepted < 5000)
  }
}

@Suite struct SafetensorsWriterFailureTests {
  private func entriesIn(_ dir: String) -> [String] {
    (try? FileManager.default.contentsOfDirectory(atPath: dir)) ?? []
  }

  @Test func missingDirectoryThrowsAndLeavesNothing() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/no-such-dir/m.safetensors"
    let error = try #require(throws: CheckpointError.self) {
      try SafetensorsWriter.write([SafetensorsRecord(name: "a", shape: [1], floats: [1])], to: path)
    }
    #expect(error.description.hasPrefix(path + ": "))
    #expect(entriesIn(dir).isEmpty)
  }

  @Test func badRecordsThrowAndKeepTheOldFile() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let path = dir + "/m.safetensors"
    try SafetensorsWriter.write([SafetensorsRecord(name: "a", shape: [1], floats: [1])], to: path)
    let before = try Data(contentsOf: URL(fileURLWithPath: path))
    let bad: [[SafetensorsRecord]] = [
      [SafetensorsRecord(name: "a", shape: [1], floats: [1]), SafetensorsRecord(name: "a", shape: [1], floats: [2])],
      [SafetensorsRecord(name: "a", shape: [2], floats: [1])],
      [SafetensorsRecord(name: "a", dtype: .float16, shape: [1], bytes: [0, 0, 0])],
      [SafetensorsRecord(name: "a", shape: [-1], floats: [])],
      [SafetensorsRecord(name: "a", shape: [Int.max, 2], floats: [])],
      [SafetensorsRecord(name: "__metadata__", shape: [], floats: [1])],
    ]
    for records in bad {
      #expect(throws: CheckpointError.self) { try SafetensorsWriter.write(records, to: path) }
    }
    #expect(try Data(contentsOf: URL(fileURLWithPath: path)) == before)
    #expect(entriesIn(dir) == ["m.safetensors"])
  }

  @Test func unwritableTargetThrowsAndRemovesTemporary() throws {
    let dir = try makeScratchDirectory()
    defer { try? FileManager.default.removeItem(atPath: dir) }
    // Renaming a file over a non-empty directory fails after the temporary file was written.
    let path = dir + "/target"
    try FileManager.default.createDirectory(atPath: path + "/inside", withIntermediateDirectories: true)
    #expect(throws: CheckpointError.self) {
      try SafetensorsWriter.write([SafetensorsRecord(name: "a", shape: [1], floats: [1])], to: path)
    }
    #expect(entriesIn(dir) == ["target"])
  }
}

@Suite struct ByteIOConversionTests {
  static let sizes = [0, 1, 7, 15, 16, 17, 33, 100, 1000]

  @Test func float16MatchesReferenceForEveryBitPattern() {
    let all = buffer(ByteIO.bytes(of: (0...UInt16.max).map { $0 }))
    let fast = ByteIO.floats(fromFloat16: all)
    let reference = ByteIO.floatsReference(fromFloat16: all)
    #expect(fast.count == 65536)
    let mismatches = zip(fast, reference).filter { a, b in a.isNaN ? !b.isNaN : a.bitPattern != b.bitPattern }
    #expect(mismatches.isEmpty)
  }

  @Test func conversionsMatchReferencesAtAwkwardSizesAndOffsets() throws {
    var rng = SplitMix64(state: 42)
    for n in Self.sizes {
      for shift in 0..<3 {  // unaligned starts
        let raw = (0..<(n * 4 + shift)).map { _ in UInt8.random(in: 0...255, using: &rng) }
        let mapping = try mappedCopy(raw)
        let b2 = Buffer(mapping: mapping, byteOffset: shift, byteCount: n * 2)
        let b4 = Buffer(mapping: mapping, byteOffset: shift, byteCount: n * 4)
        let f16 = ByteIO.floats(fromFloat16: b2)
        let f16r = ByteIO.floatsReference(fromFloat16: b2)
        #expect(zip(f16, f16r).allSatisfy { $0.isNaN ? $1.isNaN : $0.bitPattern == $1.bitPattern } && f16.count == n)
        #expect(sameBits(ByteIO.floats(fromBFloat16: b2), ByteIO.floatsReference(fromBFloat16: b2)))
        #expect(ByteIO.floats(fromInt32: b4) == ByteIO.floatsReference(fromInt32: b4))
        let expected = floatsFromLittleEndian(Array(raw[shift..<(shift + n * 4)]))
        #expect(sameBits(ByteIO.floats(fromFloat32: b4), expected))
      }
    }
  }

  @Test func largeConversionsSplitAcrossThreadsCorrectly() {
    let n = (1 << 18) + 5
    let values = (0..<n).map { Int32($0) - Int32(n / 2) }
    let b = buffer(ByteIO.bytes(of: values))
    #expect(ByteIO.floats(fromInt32: b) == values.map(Float.init))
    let bf = buffer(ByteIO.bytes(of: (0..<n).map { UInt16(truncatingIfNeeded: $0) }))
    #expect(sameBits(ByteIO.floats(fromBFloat16: bf), ByteIO.floatsReference(fromBFloat16: bf)))
    let i64 = (0..<1000).map { Int64($0) * 3 - 1500 }
    #expect(ByteIO.floats(fromInt64: buffer(ByteIO.bytes(of: i64))) == i64.map(Float.init))
  }
}

/// Maps a temporary file holding `bytes` (to test reads from odd offsets of a real mapping).
private func mappedCopy(_ bytes: [UInt8]) throws -> MappedFile {
  let path = NSTemporaryDirectory() + "bytes-" + UUID().uuidString
  _ = FileManager.default.createFile(atPath: path, contents: Data(bytes + [0]))
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try MappedFile(path: path)
}

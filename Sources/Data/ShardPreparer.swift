import Foundation

/// Text to token ids, as `frontier prepare` needs it (any tokenizer can be adapted to this).
public protocol TokenEncoding {
  /// A short name recorded in `meta.json` (e.g. the tokenizer file).
  var name: String { get }
  /// Number of ids the encoding can produce.
  var vocabularySize: Int { get }
  /// The end-of-text id placed between documents, if the encoding has one.
  var endOfText: Int? { get }
  /// The ids of `text`.
  func encode(_ text: String) throws -> [Int]
}

/// The fallback encoding: UTF-8 bytes as ids 0...255, end of text 256.
public struct ByteEncoding: TokenEncoding {
  /// Creates the encoding.
  public init() {}
  /// `bytes`.
  public var name: String { "bytes" }
  /// 257: the bytes and the end-of-text id.
  public var vocabularySize: Int { 257 }
  /// 256.
  public var endOfText: Int? { 256 }
  /// The UTF-8 bytes of `text`.
  public func encode(_ text: String) throws -> [Int] { text.utf8.map { Int($0) } }
}

/// An encoding made of a closure, for wiring a tokenizer without this target knowing its type.
public struct ClosureEncoding: TokenEncoding {
  /// A short name recorded in `meta.json`.
  public let name: String
  /// Number of ids.
  public let vocabularySize: Int
  /// The end-of-text id, if any.
  public let endOfText: Int?
  private let body: (String) throws -> [Int]

  /// Wraps `encode`.
  public init(name: String, vocabularySize: Int, endOfText: Int?, encode: @escaping (String) throws -> [Int]) {
    self.name = name
    self.vocabularySize = vocabularySize
    self.endOfText = endOfText
    self.body = encode
  }

  /// Calls the closure.
  public func encode(_ text: String) throws -> [Int] { try body(text) }
}

/// What `frontier prepare` wrote, saved as `meta.json` beside the shards.
public struct PreparedDataset: Codable, Equatable, Sendable {
  /// The encoding's name.
  public var tokenizer: String
  /// Number of ids the encoding can produce.
  public var vocabularySize: Int
  /// The end-of-text id placed after each document, if any.
  public var endOfText: Int?
  /// Bytes per token in the shards.
  public var width: TokenWidth
  /// Tokens in `train.bin`.
  public var trainTokens: Int
  /// Tokens in `val.bin`.
  public var validationTokens: Int
  /// Documents read.
  public var documents: Int
  /// Documents held out for validation (0 when the split was taken from the end of one document).
  public var validationDocuments: Int
  /// The input files.
  public var sources: [String]
}

/// Reads documents from text or JSONL files and writes `train.bin`, `val.bin` and `meta.json`.
public enum ShardPreparer {
  /// Splits `path` into documents.
  ///
  /// JSONL (`.jsonl`, or whenever `field` is given): one document per line (LF or CRLF), the string under
  /// `field` (default `text`). Plain text: documents separated by `<|endoftext|>` when the file has it, else by
  /// blank lines.
  public static func documents(atPath path: String, field: String? = nil) throws -> [String] {
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError(path: path, problem: "cannot read the input file", remedy: "check the path passed to --input")
    }
    let text: String
    if let valid = String(data: data, encoding: .utf8) {
      text = valid
    } else {
      // Old Gutenberg files carry stray Latin-1 bytes: keep the text, mark the bytes as U+FFFD, and say so.
      text = String(decoding: data, as: UTF8.self)
      let replaced = text.unicodeScalars.filter { $0 == "\u{FFFD}" }.count
      FileHandle.standardError.write(
        "warning: \(path): \(replaced) invalid UTF-8 sequences replaced by U+FFFD\n".data(using: .utf8)!)
    }
    if path.hasSuffix(".jsonl") || field != nil {
      return try jsonLines(text, field: field ?? "text", path: path)
    }
    let normalized = text.replacingOccurrences(of: "\r\n", with: "\n")
    let separator = normalized.contains("<|endoftext|>") ? "<|endoftext|>" : "\n\n"
    return normalized.components(separatedBy: separator)
      .map { $0.trimmingCharacters(in: .whitespacesAndNewlines) }
      .filter { !$0.isEmpty }
  }

  private static func jsonLines(_ text: String, field: String, path: String) throws -> [String] {
    var out: [String] = []
    for (number, line) in TextLines.split(text).enumerated() {
      let trimmed = line.trimmingCharacters(in: .whitespaces)
      if trimmed.isEmpty { continue }
      let object = try? JSONSerialization.jsonObject(with: Data(trimmed.utf8))
      guard let record = object as? [String: Any] else {
        throw DataError(
          path: path, problem: "line \(number + 1) is not a JSON object", remedy: "write one JSON object per line")
      }
      guard let value = record[field] as? String else {
        throw DataError(
          path: path, problem: "line \(number + 1) has no string field \"\(field)\"",
          remedy: "name the text field with --field")
      }
      out.append(value)
    }
    return out
  }

  /// Whether document `index` goes to validation: a seeded hash below `fraction`.
  static func isValidation(_ index: Int, fraction: Double, seed: UInt64) -> Bool {
    var z = seed &+ UInt64(index + 1) &* 0x9E37_79B9_7F4A_7C15
    z = (z ^ (z >> 31)) &* 0xD6E8_FEB8_6659_FD93
    z ^= z >> 32
    return Double(z >> 11) / Double(1 << 53) < fraction
  }

  /// Tokenizes `inputs` and writes the shards and `meta.json` into `directory` (created if needed).
  ///
  /// Whole documents are held out for validation (at least one when there are two or more); with a single
  /// document the last `validationFraction` of its tokens is held out instead. With `appendEndOfText` each
  /// document is followed by the encoding's end-of-text id; otherwise documents are joined by a blank line.
  @discardableResult
  public static func prepare(
    inputs: [String], encoding: TokenEncoding, directory: String, validationFraction: Double = 0.01,
    appendEndOfText: Bool = false, field: String? = nil, seed: UInt64 = 0
  ) throws -> PreparedDataset {
    guard validationFraction >= 0, validationFraction < 1 else {
      throw DataError(
        path: directory, problem: "validation fraction \(validationFraction) is outside [0, 1)",
        remedy: "pass --val-fraction between 0 and 1")
    }
    let eos = appendEndOfText ? encoding.endOfText : nil
    if appendEndOfText && eos == nil {
      throw DataError(
        path: encoding.name, problem: "the tokenizer has no end-of-text id",
        remedy: "drop --eos or use another tokenizer")
    }
    var documents: [String] = []
    for path in inputs { documents += try Self.documents(atPath: path, field: field) }
    guard !documents.isEmpty else {
      throw DataError(
        path: inputs.joined(separator: ","), problem: "holds no text", remedy: "pass files with text to --input")
    }
    var held = documents.indices.map { isValidation($0, fraction: validationFraction, seed: seed) }
    if documents.count == 1 { held = [false] }
    if documents.count >= 2 && validationFraction > 0 {
      if !held.contains(true) { held[held.count - 1] = true }
      if !held.contains(false) { held[0] = false }
    }
    var train: [Int] = []
    var validation: [Int] = []
    for (i, document) in documents.enumerated() {
      var ids = try encoding.encode(eos == nil ? document + "\n\n" : document)
      if let eos { ids.append(eos) }
      if let bad = ids.first(where: { $0 < 0 || $0 >= encoding.vocabularySize }) {
        throw DataError(
          path: encoding.name, problem: "produced id \(bad) outside its vocabulary of \(encoding.vocabularySize)",
          remedy: "check the tokenizer file")
      }
      if held[i] { validation += ids } else { train += ids }
    }
    if documents.count == 1 && validationFraction > 0 && train.count > 1 {
      let cut = train.count - min(train.count - 1, max(1, Int(Double(train.count) * validationFraction)))
      validation = Array(train[cut...])
      train.removeSubrange(cut...)
    }
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
    let width = TokenWidth.fitting(vocabularySize: encoding.vocabularySize)
    try TokenShard.write(train, width: width, to: (directory as NSString).appendingPathComponent("train.bin"))
    try TokenShard.write(validation, width: width, to: (directory as NSString).appendingPathComponent("val.bin"))
    let meta = PreparedDataset(
      tokenizer: encoding.name, vocabularySize: encoding.vocabularySize, endOfText: eos, width: width,
      trainTokens: train.count, validationTokens: validation.count, documents: documents.count,
      validationDocuments: documents.count == 1 ? 0 : held.filter { $0 }.count, sources: inputs)
    try writeMeta(meta, to: directory)
    return meta
  }

  /// Writes `meta.json` into `directory`, atomically.
  public static func writeMeta(_ meta: PreparedDataset, to directory: String) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let data = try encoder.encode(meta)
    try AtomicFile.write([UInt8](data), to: (directory as NSString).appendingPathComponent("meta.json"))
  }

  /// Reads `meta.json` from a prepared directory and checks its values: a positive vocabulary that the token
  /// width can hold, an end-of-text id inside it, counts that are not negative and at most as many held-out
  /// documents as documents.
  public static func readMeta(from directory: String) throws -> PreparedDataset {
    let path = (directory as NSString).appendingPathComponent("meta.json")
    guard let data = FileManager.default.contents(atPath: path) else {
      throw DataError(path: path, problem: "is missing", remedy: "run `frontier prepare --out \(directory)` first")
    }
    let meta: PreparedDataset
    do {
      meta = try JSONDecoder().decode(PreparedDataset.self, from: data)
    } catch {
      throw DataError(path: path, problem: "is not a valid dataset description", remedy: "rerun `frontier prepare`")
    }
    let widest = meta.width == .uint16 ? 1 << 16 : 1 << 32
    var problem: String?
    if !(1...widest).contains(meta.vocabularySize) {
      problem = "vocabularySize \(meta.vocabularySize) is outside 1...\(widest) (what \(meta.width) ids hold)"
    } else if let eos = meta.endOfText, !(0..<meta.vocabularySize).contains(eos) {
      problem = "endOfText \(eos) is outside the vocabulary of \(meta.vocabularySize)"
    } else if let (name, value) = [
      ("trainTokens", meta.trainTokens), ("validationTokens", meta.validationTokens), ("documents", meta.documents),
      ("validationDocuments", meta.validationDocuments),
    ].first(where: { $0.1 < 0 }) {
      problem = "\(name) is \(value), a negative count"
    } else if meta.validationDocuments > meta.documents {
      problem = "validationDocuments \(meta.validationDocuments) exceeds documents \(meta.documents)"
    }
    if let problem { throw DataError(path: path, problem: problem, remedy: "rerun `frontier prepare`") }
    return meta
  }
}

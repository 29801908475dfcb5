import Foundation

/// Turns text into token ids and back.
///
/// Every tokenizer in this module is an immutable value after loading (a shared encode cache is
/// guarded internally), so one instance can be used from several threads.
public protocol Tokenizer: Sendable {
  /// The number of token ids, special tokens included.
  var vocabularySize: Int { get }
  /// The beginning-of-sequence token, when the vocabulary has one.
  var bosTokenID: Int? { get }
  /// The end-of-sequence token, when the vocabulary has one.
  var eosTokenID: Int? { get }
  /// The padding token, when the vocabulary has one.
  var padTokenID: Int? { get }
  /// The unknown-token id, when the vocabulary has one.
  var unknownTokenID: Int? { get }

  /// Encodes `text`. With `addSpecialTokens` the tokenizer adds what its format adds around a sequence
  /// (BOS for llama2.c, `[CLS]`/`[SEP]` for BERT, nothing for GPT-2 unless configured).
  func encode(_ text: String, addSpecialTokens: Bool) -> [Int]

  /// Decodes `ids` to text. Ids outside the vocabulary are skipped; bytes that do not form valid UTF-8
  /// become U+FFFD. With `skipSpecialTokens` special tokens produce no text.
  func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String

  /// The vocabulary string of `id` in the format's own spelling (e.g. `Ġworld`, `##ing`, `<0x0A>`).
  func token(for id: Int) -> String?

  /// The id of a vocabulary string in the format's own spelling.
  func tokenID(for token: String) -> Int?
}

extension Tokenizer {
  /// Encodes `text` with the format's special tokens added (as Hugging Face's `encode` does).
  public func encode(_ text: String) -> [Int] { encode(text, addSpecialTokens: true) }

  /// Decodes `ids`, keeping special tokens.
  public func decode(_ ids: [Int]) -> String { decode(ids, skipSpecialTokens: false) }
}

/// An error loading, parsing or saving a tokenizer: one line naming the file, what is wrong and what to do.
public struct TokenizerError: Error, CustomStringConvertible, LocalizedError, Sendable {
  /// The file involved.
  public let path: String
  /// What is wrong with it.
  public let problem: String
  /// What the user can do about it.
  public let remedy: String

  /// Creates an error for `path`.
  public init(path: String, problem: String, remedy: String = "check that the file is a complete tokenizer file") {
    self.path = path
    self.problem = problem.replacingOccurrences(of: "\n", with: " ")
    self.remedy = remedy
  }

  /// One line: file, problem, remedy.
  public var description: String { "\(path): \(problem); \(remedy)" }

  /// The same line, for `localizedDescription`.
  public var errorDescription: String? { description }

  /// Throws unless every id is in 0..<10,000,000 (ids index arrays, so they must be sane).
  static func checkIDs(_ ids: [Int], path: String) throws {
    if let bad = ids.first(where: { $0 < 0 || $0 >= 10_000_000 }) {
      throw TokenizerError(
        path: path, problem: "token id \(bad) is outside 0..<10000000", remedy: "fix the vocabulary's ids")
    }
  }
}

/// Reads whole files with one clear error line on failure.
enum FileBytes {
  static func read(_ path: String) throws -> Data {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw TokenizerError(path: path, problem: "file not found", remedy: "check the path")
    }
    if isDirectory.boolValue {
      throw TokenizerError(path: path, problem: "is a directory, not a file", remedy: "pass the tokenizer file")
    }
    do {
      return try Data(contentsOf: URL(fileURLWithPath: path))
    } catch {
      throw TokenizerError(path: path, problem: "cannot be read", remedy: "check the file's permissions")
    }
  }

  static func readJSON(_ path: String) throws -> [String: Any] {
    let data = try read(path)
    let object: Any
    do {
      object = try JSONSerialization.jsonObject(with: data)
    } catch {
      throw TokenizerError(path: path, problem: "is not valid JSON", remedy: "re-download or re-save the file")
    }
    guard let dictionary = object as? [String: Any] else {
      throw TokenizerError(path: path, problem: "JSON top level is not an object", remedy: "pass a tokenizer JSON file")
    }
    return dictionary
  }

  /// The lines of a text file: split at "\n", each line without a trailing "\r", so that a file saved with
  /// CRLF line endings reads as its LF twin. (Splitting a `String` at the Character "\n" would not split
  /// "\r\n", which Swift treats as one Character.)
  static func lines(_ data: Data) -> [Substring] {
    String(decoding: data, as: UTF8.self).unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
      .map { line in Substring(line.last == "\r" ? line.dropLast() : line) }
  }

  /// Writes `data` atomically (temporary file + rename).
  static func writeAtomically(_ data: Data, to path: String) throws {
    do {
      try data.write(to: URL(fileURLWithPath: path), options: .atomic)
    } catch {
      throw TokenizerError(
        path: path, problem: "cannot be written", remedy: "check that the folder exists and is writable")
    }
  }
}

/// Splits text around special-token strings so that they map to their ids instead of being tokenized.
struct SpecialTokenSplitter: Sendable {
  /// Special strings as UTF-8 with their ids, longest first.
  private let tokens: [([UInt8], Int)]
  private let firstBytes: Set<UInt8>

  init(_ specials: [String: Int]) {
    tokens = specials.filter { !$0.key.isEmpty }.map { (Array($0.key.utf8), $0.value) }
      .sorted { $0.0.count != $1.0.count ? $0.0.count > $1.0.count : $0.0.lexicographicallyPrecedes($1.0) }
    firstBytes = Set(tokens.map { $0.0[0] })
  }

  var isEmpty: Bool { tokens.isEmpty }

  /// A segment of the input: either plain text (as UTF-8 bytes range) or a special token id.
  enum Segment {
    case text(Range<Int>)
    case special(Int)
  }

  func split(_ bytes: [UInt8]) -> [Segment] {
    if tokens.isEmpty { return [.text(0..<bytes.count)] }
    var segments: [Segment] = []
    var textStart = 0
    var i = 0
    while i < bytes.count {
      if firstBytes.contains(bytes[i]), let (length, id) = match(bytes, at: i) {
        if textStart < i { segments.append(.text(textStart..<i)) }
        segments.append(.special(id))
        i += length
        textStart = i
      } else {
        i += 1
      }
    }
    if textStart < bytes.count { segments.append(.text(textStart..<bytes.count)) }
    return segments
  }

  private func match(_ bytes: [UInt8], at i: Int) -> (Int, Int)? {
    for (token, id) in tokens where i + token.count <= bytes.count {
      var equal = true
      for k in 0..<token.count where bytes[i + k] != token[k] {
        equal = false
        break
      }
      if equal { return (token.count, id) }
    }
    return nil
  }
}

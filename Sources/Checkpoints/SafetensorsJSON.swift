/// A parsed JSON value. Objects keep their keys in file order; numbers keep their source text so
/// that callers decide how strictly to interpret them.
enum JSONValue {
  case object([(key: String, value: JSONValue)])
  case array([JSONValue])
  case string(String)
  case number(String)
  case bool(Bool)
  case null

  /// A short name of the value's kind, for error messages.
  var kindName: String {
    switch self {
    case .object: return "an object"
    case .array: return "an array"
    case .string: return "a string"
    case .number: return "a number"
    case .bool: return "a boolean"
    case .null: return "null"
    }
  }
}

/// Why a JSON text was rejected, and the byte offset where it was noticed.
struct JSONError: Error {
  let message: String
  let offset: Int
}

/// A small strict JSON parser (RFC 8259) over UTF-8 bytes.
///
/// It rejects trailing commas, comments, leading zeros, unescaped control characters, lone
/// surrogates and nesting deeper than ``maximumDepth``, and never traps on any input.
struct JSONParser {
  /// Deepest nesting of arrays and objects accepted (keeps recursion bounded).
  static let maximumDepth = 64

  private let bytes: [UInt8]
  private var index = 0
  private var depth = 0

  private init(_ bytes: [UInt8]) { self.bytes = bytes }

  /// Parses one JSON value that fills `bytes` apart from surrounding whitespace.
  static func parse(_ bytes: [UInt8]) throws(JSONError) -> JSONValue {
    var parser = JSONParser(bytes)
    parser.skipWhitespace()
    let value = try parser.parseValue()
    parser.skipWhitespace()
    guard parser.index == bytes.count else { throw parser.error("unexpected text after the end of the value") }
    return value
  }

  private func error(_ message: String) -> JSONError { JSONError(message: message, offset: index) }

  private var current: UInt8? { index < bytes.count ? bytes[index] : nil }

  private mutating func skipWhitespace() {
    while let b = current, b == 0x20 || b == 0x09 || b == 0x0A || b == 0x0D { index += 1 }
  }

  private mutating func expect(_ byte: UInt8, _ what: String) throws(JSONError) {
    guard current == byte else { throw error("expected \(what)") }
    index += 1
  }

  private mutating func parseValue() throws(JSONError) -> JSONValue {
    guard let b = current else { throw error("unexpected end of text") }
    switch b {
    case UInt8(ascii: "{"): return try parseObject()
    case UInt8(ascii: "["): return try parseArray()
    case UInt8(ascii: "\""): return .string(try parseString())
    case UInt8(ascii: "t"): try parseLiteral("true"); return .bool(true)
    case UInt8(ascii: "f"): try parseLiteral("false"); return .bool(false)
    case UInt8(ascii: "n"): try parseLiteral("null"); return .null
    case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return .number(try parseNumber())
    default: throw error("unexpected character")
    }
  }

  private mutating func parseLiteral(_ word: String) throws(JSONError) {
    for expected in word.utf8 {
      guard current == expected else { throw error("invalid literal (expected \(word))") }
      index += 1
    }
  }

  private mutating func enter() throws(JSONError) {
    depth += 1
    guard depth <= Self.maximumDepth else { throw error("nesting deeper than \(Self.maximumDepth) levels") }
  }

  private mutating func parseObject() throws(JSONError) -> JSONValue {
    try enter()
    index += 1  // "{"
    var members: [(key: String, value: JSONValue)] = []
    skipWhitespace()
    if current == UInt8(ascii: "}") {
      index += 1
      depth -= 1
      return .object(members)
    }
    while true {
      skipWhitespace()
      guard current == UInt8(ascii: "\"") else { throw error("expected a string key") }
      let key = try parseString()
      skipWhitespace()
      try expect(UInt8(ascii: ":"), "':' after an object key")
      skipWhitespace()
      members.append((key, try parseValue()))
      skipWhitespace()
      if current == UInt8(ascii: ",") {
        index += 1
        continue
      }
      try expect(UInt8(ascii: "}"), "',' or '}' in an object")
      depth -= 1
      return .object(members)
    }
  }

  private mutating func parseArray() throws(JSONError) -> JSONValue {
    try enter()
    index += 1  // "["
    var elements: [JSONValue] = []
    skipWhitespace()
    if current == UInt8(ascii: "]") {
      index += 1
      depth -= 1
      return .array(elements)
    }
    while true {
      skipWhitespace()
      elements.append(try parseValue())
      skipWhitespace()
      if current == UInt8(ascii: ",") {
        index += 1
        continue
      }
      try expect(UInt8(ascii: "]"), "',' or ']' in an array")
      depth -= 1
      return .array(elements)
    }
  }

  /// Parses a number and returns its text, checked against the JSON grammar.
  private mutating func parseNumber() throws(JSONError) -> String {
    let start = index
    if current == UInt8(ascii: "-") { index += 1 }
    guard let first = current, isDigit(first) else { throw error("invalid number") }
    index += 1
    if first == UInt8(ascii: "0"), let next = current, isDigit(next) {
      throw error("invalid number (leading zero)")
    }
    skipDigits()
    if current == UInt8(ascii: ".") {
      index += 1
      guard let d = current, isDigit(d) else { throw error("invalid number (no digits after '.')") }
      skipDigits()
    }
    if current == UInt8(ascii: "e") || current == UInt8(ascii: "E") {
      index += 1
      if current == UInt8(ascii: "+") || current == UInt8(ascii: "-") { index += 1 }
      guard let d = current, isDigit(d) else { throw error("invalid number (no digits in exponent)") }
      skipDigits()
    }
    return String(decoding: bytes[start..<index], as: UTF8.self)
  }

  private func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

  private mutating func skipDigits() {
    while let b = current, isDigit(b) { index += 1 }
  }

  /// Parses a string starting at its opening quote, decoding escapes.
  private mutating func parseString() throws(JSONError) -> String {
    index += 1  // opening quote
    var out: [UInt8] = []
    while true {
      guard let b = current else { throw error("unterminated string") }
      index += 1
      switch b {
      case UInt8(ascii: "\""):
        guard let text = String(validating: out, as: UTF8.self) else { throw error("string is not valid UTF-8") }
        return text
      case UInt8(ascii: "\\"):
        try parseEscape(into: &out)
      case 0..<0x20:
        index -= 1
        throw error("unescaped control character in a string")
      default:
        out.append(b)
      }
    }
  }

  private mutating func parseEscape(into out: inout [UInt8]) throws(JSONError) {
    guard let e = current else { throw error("unterminated escape") }
    index += 1
    switch e {
    case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
    case UInt8(ascii: "b"): out.append(0x08)
    case UInt8(ascii: "f"): out.append(0x0C)
    case UInt8(ascii: "n"): out.append(0x0A)
    case UInt8(ascii: "r"): out.append(0x0D)
    case UInt8(ascii: "t"): out.append(0x09)
    case UInt8(ascii: "u"):
      var code = try parseHex4()
      if (0xD800..<0xDC00).contains(code) {
        guard current == UInt8(ascii: "\\") else { throw error("lone high surrogate in \\u escape") }
        index += 1
        guard current == UInt8(ascii: "u") else { throw error("lone high surrogate in \\u escape") }
        index += 1
        let low = try parseHex4()
        guard (0xDC00..<0xE000).contains(low) else { throw error("invalid low surrogate in \\u escape") }
        code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)
      } else if (0xDC00..<0xE000).contains(code) {
        throw error("lone low surrogate in \\u escape")
      }
      guard let scalar = Unicode.Scalar(code) else { throw error("invalid \\u escape") }
      out.append(contentsOf: String(Character(scalar)).utf8)
    default:
      throw error("invalid escape character")
    }
  }

  private mutating func parseHex4() throws(JSONError) -> UInt32 {
    var value: UInt32 = 0
    for _ in 0..<4 {
      guard let b = current else { throw error("unterminated \\u escape") }
      let digit: UInt8
      switch b {
      case UInt8(ascii: "0")...UInt8(ascii: "9"): digit = b - UInt8(ascii: "0")
      case UInt8(ascii: "a")...UInt8(ascii: "f"): digit = b - UInt8(ascii: "a") + 10
      case UInt8(ascii: "A")...UInt8(ascii: "F"): digit = b - UInt8(ascii: "A") + 10
      default: throw error("invalid hex digit in \\u escape")
      }
      value = value << 4 | UInt32(digit)
      index += 1
    }
    return value
  }
}

/// Writes JSON text the way serde_json does (compact, same escapes), so files match the Rust library byte for byte.
enum JSONWriter {
  /// Appends `text` as a quoted JSON string.
  static func appendString(_ text: String, to out: inout [UInt8]) {
    let hex = Array("0123456789abcdef".utf8)
    out.append(UInt8(ascii: "\""))
    for b in text.utf8 {
      switch b {
      case UInt8(ascii: "\""): out.append(contentsOf: [UInt8(ascii: "\\"), b])
      case UInt8(ascii: "\\"): out.append(contentsOf: [UInt8(ascii: "\\"), b])
      case 0x08: out.append(contentsOf: Array("\\b".utf8))
      case 0x0C: out.append(contentsOf: Array("\\f".utf8))
      case 0x0A: out.append(contentsOf: Array("\\n".utf8))
      case 0x0D: out.append(contentsOf: Array("\\r".utf8))
      case 0x09: out.append(contentsOf: Array("\\t".utf8))
      case 0..<0x20:
        out.append(contentsOf: Array("\\u00".utf8))
        out.append(hex[Int(b >> 4)])
        out.append(hex[Int(b & 0xF)])
      default: out.append(b)
      }
    }
    out.append(UInt8(ascii: "\""))
  }

  /// Appends `[a,b,c]`.
  static func appendIntegers(_ values: [Int], to out: inout [UInt8]) {
    out.append(UInt8(ascii: "["))
    for (i, v) in values.enumerated() {
      if i > 0 { out.append(UInt8(ascii: ",")) }
      out.append(contentsOf: String(v).utf8)
    }
    out.append(UInt8(ascii: "]"))
  }
}

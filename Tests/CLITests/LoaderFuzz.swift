import Foundation

/// SplitMix64: every choice of the loader fuzz comes from one of these, seeded by the loader and the case
/// number, so any case replays on its own.
struct FuzzRandom {
  private var state: UInt64

  init(seed: UInt64) { state = seed }

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// A number in 0 ..< n (n > 0); the modulo bias is irrelevant here.
  mutating func below(_ n: Int) -> Int { Int(next() % UInt64(max(n, 1))) }

  /// One of `items` (not empty).
  mutating func pick<T>(_ items: [T]) -> T { items[below(items.count)] }

  /// True with probability `p`.
  mutating func chance(_ p: Double) -> Bool { Double(next() >> 11) * 0x1p-53 < p }
}

/// A little-endian integer of a binary header that a mutation may set to an extreme value.
struct HeaderField {
  var name: String
  var offset: Int
  /// 1, 4 or 8 bytes.
  var width: Int
}

/// The mutations: byte-level damage of any file, and token-level edits of JSON text. Each returns a short
/// description for the report.
enum Mutator {
  /// One random byte-level mutation of `bytes`: bit flips, a run overwritten with 0x00, 0xFF or random
  /// bytes, truncation, a duplicated or removed chunk, or (when `fields` are given) a header integer set to
  /// 0, -1, a huge value or a neighbour of its own.
  static func mutateBytes(_ bytes: inout [UInt8], fields: [HeaderField] = [], rng: inout FuzzRandom) -> String {
    if bytes.isEmpty { bytes = [0] }
    // Weights of flip, overwrite, truncate, duplicate, remove and (with fields) a header value.
    let weights = [25, 20, 15, 10, 10, fields.isEmpty ? 0 : 20]
    var roll = rng.below(weights.reduce(0, +))
    let kind = weights.firstIndex { w in
      roll -= w
      return roll < 0
    }
    switch kind {
    case 0:
      let flips = 1 + rng.below(8)
      var at: [Int] = []
      for _ in 0..<flips {
        let i = rng.below(bytes.count)
        bytes[i] ^= 1 << UInt8(rng.below(8))
        at.append(i)
      }
      return "flip \(flips) bits at \(at)"
    case 1:
      let start = rng.below(bytes.count)
      let count = min(1 + rng.below(16), bytes.count - start)
      let mode = rng.below(3)
      for i in start..<(start + count) {
        bytes[i] = mode == 0 ? 0 : mode == 1 ? 0xFF : UInt8(truncatingIfNeeded: rng.next())
      }
      return "overwrite \(count) bytes at \(start) with \(["0x00", "0xFF", "random bytes"][mode])"
    case 2:
      let cut = rng.below(bytes.count)
      bytes.removeSubrange(cut...)
      return "truncate to \(cut) bytes"
    case 3:
      let start = rng.below(bytes.count)
      let count = 1 + rng.below(min(64, bytes.count - start))
      let chunk = Array(bytes[start..<(start + count)])
      let at = rng.below(bytes.count + 1)
      bytes.insert(contentsOf: chunk, at: at)
      return "duplicate \(count) bytes from \(start) at \(at)"
    case 4:
      let start = rng.below(bytes.count)
      let count = 1 + rng.below(min(64, bytes.count - start))
      bytes.removeSubrange(start..<(start + count))
      return "remove \(count) bytes at \(start)"
    default:
      let field = rng.pick(fields)
      guard field.offset + field.width <= bytes.count else { return "no header field to set (file too short)" }
      let value = extremeValue(for: field, in: bytes, rng: &rng)
      for i in 0..<field.width { bytes[field.offset + i] = UInt8(truncatingIfNeeded: value >> (8 * UInt64(i))) }
      return "set \(field.name) to \(field.width == 8 ? String(value) : String(signed(value, field.width)))"
    }
  }

  /// A value for `field`: 0, 1, -1, the extremes of its width, large powers of two, random, or its current
  /// value plus or minus one or doubled.
  private static func extremeValue(for field: HeaderField, in bytes: [UInt8], rng: inout FuzzRandom) -> UInt64 {
    var current: UInt64 = 0
    for i in 0..<field.width { current |= UInt64(bytes[field.offset + i]) << (8 * UInt64(i)) }
    let mask: UInt64 = field.width == 8 ? .max : (1 << (8 * UInt64(field.width))) - 1
    let candidates: [UInt64] =
      switch field.width {
      case 1: [0, 1, 2, 0x7F, 0x80, 0xFF]
      case 4: [0, 1, 0xFFFF_FFFF, 0x7FFF_FFFF, 0x8000_0000, 1 << 20, 1 << 30, 1 << 16, 3]
      default:
        [0, 1, .max, UInt64(Int64.max), 1 << 62, 1 << 53 + 1, 1 << 32, UInt64(bytes.count), UInt64(bytes.count) &- 7]
      }
    switch rng.below(4) {
    case 0: return rng.next() & mask
    case 1: return rng.pick([current &+ 1, current &- 1, current &* 2, current &* 1000]) & mask
    default: return rng.pick(candidates) & mask
    }
  }

  private static func signed(_ value: UInt64, _ width: Int) -> Int64 {
    width == 4 ? Int64(Int32(bitPattern: UInt32(truncatingIfNeeded: value))) : Int64(Int8(bitPattern: UInt8(value)))
  }

  /// Values a JSON mutation writes in place of another: wrong types, empty containers, zero, negative,
  /// fractional, huge and out-of-range numbers, NaN and infinities (not JSON at all), odd strings.
  static let replacements: [String] = [
    "\"x\"", "\"\"", "true", "false", "null", "[]", "{}", "0", "-1", "1", "2", "0.5", "-0.0", "1e18", "-1e18",
    "1e308", "1e999", "-1e999", "NaN", "Infinity", "-Infinity", "9223372036854775807", "9223372036854775808",
    "-9223372036854775809", "18446744073709551616", "4294967296", "2147483648", "65536", "1000000000",
    "\"\\u0000\"", "\"\\ud800\"", "\"NaN\"", "[1e18, 1e18]", "[-1]", "{\"a\": 1}",
    "\"" + String(repeating: "ab", count: 5000) + "\"",
  ]

  /// Numbers a JSON mutation writes in place of a number.
  static let numbers: [String] = [
    "0", "-1", "1", "2", "3", "7", "0.5", "-0.0", "1e18", "-1e18", "1e308", "1e999", "NaN", "-Infinity",
    "9223372036854775807", "9223372036854775808", "18446744073709551616", "4294967296", "2147483647", "65535",
    "65536", "1000000", "1000000000", "1e-45", "3.4e38", "1e39",
  ]

  /// One to three token-level JSON edits of `bytes`: a value replaced (by a wrong type, a huge or negative
  /// number, NaN, ...), a container replaced, a key renamed or duplicated, a member deleted, duplicated or
  /// wrapped in an array. Falls back to a byte mutation when the text has no tokens to edit.
  static func mutateJSON(_ bytes: inout [UInt8], rng: inout FuzzRandom) -> String {
    var done: [String] = []
    for _ in 0..<(rng.chance(0.7) ? 1 : 2 + rng.below(2)) {
      let tokens = JSONLexer.tokens(bytes)
      guard let edit = jsonEdit(bytes, tokens, rng: &rng) else {
        done.append(mutateBytes(&bytes, rng: &rng))
        continue
      }
      bytes.replaceSubrange(edit.range, with: Array(edit.text.utf8))
      done.append(edit.what)
    }
    return done.joined(separator: "; ")
  }

  private static func jsonEdit(
    _ bytes: [UInt8], _ tokens: [JSONLexer.Token], rng: inout FuzzRandom
  ) -> (range: Range<Int>, text: String, what: String)? {
    let values = tokens.indices.filter { tokens[$0].isScalar && !tokens[$0].isKey }
    let keys = tokens.indices.filter { tokens[$0].isKey }
    let numberTokens = values.filter { tokens[$0].kind == .number }
    func text(_ r: Range<Int>) -> String { String(decoding: bytes[r], as: UTF8.self) }
    func clip(_ s: String) -> String { s.count > 24 ? String(s.prefix(24)) + "…" : s }
    switch rng.below(100) {
    case ..<30 where !numberTokens.isEmpty:
      let t = tokens[rng.pick(numberTokens)]
      let old = text(t.range)
      let derived: [String] =
        Double(old).map { v in
          [String(Int64(exactly: v.rounded()).map { $0 &+ 1 } ?? 1), String(-v), "\(old)e18", String(v * 1000)]
        } ?? ["-1"]
      let new = rng.chance(0.3) ? rng.pick(derived) : rng.pick(Self.numbers)
      return (t.range, new, "number \(clip(old)) -> \(clip(new))")
    case ..<55 where !values.isEmpty:
      let t = tokens[rng.pick(values)]
      let new = rng.pick(replacements)
      return (t.range, new, "value \(clip(text(t.range))) -> \(clip(new))")
    case ..<65:
      let opens = tokens.indices.filter { tokens[$0].kind == .open && $0 > 0 }
      guard !opens.isEmpty else { return nil }
      let open = rng.pick(opens)
      guard let close = JSONLexer.matchingClose(tokens, open) else { return nil }
      let start = tokens[open].range.lowerBound
      let new = rng.pick(["null", "\"x\"", "1e18", "[]", "{}", "0", "[[]]"])
      return (start..<tokens[close].range.upperBound, new, "container at \(start) -> \(new)")
    case ..<78 where !keys.isEmpty:
      let t = tokens[rng.pick(keys)]
      let new = rng.chance(0.5) ? text(tokens[rng.pick(keys)].range) : rng.pick(["\"x\"", "\"\"", "\"__metadata__\""])
      return (t.range, new, "key \(clip(text(t.range))) -> \(clip(new))")
    case ..<90 where !keys.isEmpty:
      let k = rng.pick(keys)
      guard let end = JSONLexer.valueEnd(tokens, after: k) else { return nil }
      var range = tokens[k].range.lowerBound..<tokens[end].range.upperBound
      if end + 1 < tokens.count, tokens[end + 1].kind == .comma {
        range = range.lowerBound..<tokens[end + 1].range.upperBound
      } else if k > 0, tokens[k - 1].kind == .comma {
        range = tokens[k - 1].range.lowerBound..<range.upperBound
      }
      if rng.chance(0.5) { return (range, "", "delete member \(clip(text(tokens[k].range)))") }
      let member = text(tokens[k].range.lowerBound..<tokens[end].range.upperBound)
      return (range.lowerBound..<range.lowerBound, member + ",", "duplicate member \(clip(member))")
    default:
      guard !values.isEmpty else { return nil }
      let t = tokens[rng.pick(values)]
      let old = text(t.range)
      let new = rng.chance(0.5) ? "[\(old)]" : "{\"v\": \(old)}"
      return (t.range, new, "wrap \(clip(old))")
    }
  }
}

/// A forgiving JSON tokenizer for the mutations: strings, numbers, literals and punctuation with their
/// byte ranges, so edits keep the rest of the text intact.
enum JSONLexer {
  enum Kind { case string, number, literal, open, close, comma, colon, other }

  struct Token {
    var range: Range<Int>
    var kind: Kind
    /// A string followed by a colon.
    var isKey = false
    var isScalar: Bool { kind == .string || kind == .number || kind == .literal }
  }

  static func tokens(_ b: [UInt8]) -> [Token] {
    var out: [Token] = []
    var i = 0
    while i < b.count {
      let c = b[i]
      let start = i
      switch c {
      case 0x20, 0x09, 0x0A, 0x0D:
        i += 1
        continue
      case UInt8(ascii: "\""):
        i += 1
        while i < b.count && b[i] != UInt8(ascii: "\"") { i += b[i] == UInt8(ascii: "\\") ? 2 : 1 }
        i = min(i + 1, b.count)
        out.append(Token(range: start..<i, kind: .string))
      case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
        while i < b.count, "0123456789+-.eE".utf8.contains(b[i]) { i += 1 }
        out.append(Token(range: start..<i, kind: .number))
      case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"):
        while i < b.count, (UInt8(ascii: "a")...UInt8(ascii: "z")).contains(b[i] | 0x20) { i += 1 }
        out.append(Token(range: start..<i, kind: .literal))
      default:
        i += 1
        let kind: Kind =
          switch c {
          case UInt8(ascii: "{"), UInt8(ascii: "["): .open
          case UInt8(ascii: "}"), UInt8(ascii: "]"): .close
          case UInt8(ascii: ","): .comma
          case UInt8(ascii: ":"): .colon
          default: .other
          }
        out.append(Token(range: start..<i, kind: kind))
      }
    }
    for j in out.indices.dropLast() where out[j].kind == .string && out[j + 1].kind == .colon { out[j].isKey = true }
    return out
  }

  /// The index of the token closing the container opened at `open`.
  static func matchingClose(_ tokens: [Token], _ open: Int) -> Int? {
    var depth = 0
    for j in open..<tokens.count {
      if tokens[j].kind == .open { depth += 1 }
      if tokens[j].kind == .close {
        depth -= 1
        if depth == 0 { return j }
      }
    }
    return nil
  }

  /// The last token of the value of the key at `key` (`key`, colon, value).
  static func valueEnd(_ tokens: [Token], after key: Int) -> Int? {
    let value = key + 2
    guard value < tokens.count, tokens[key + 1].kind == .colon else { return nil }
    return tokens[value].kind == .open ? matchingClose(tokens, value) : value
  }
}

extension Mutator {
  /// One edit of a line-oriented text: a line deleted, duplicated, swapped with another, replaced by junk
  /// (empty, three words, a lone brace, a byte-order mark, a very long line), split in two, given a CR, or
  /// joined with another line.
  static func mutateLines(_ bytes: inout [UInt8], rng: inout FuzzRandom) -> String {
    var lines = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map(Array.init)
    guard !lines.isEmpty else { return mutateBytes(&bytes, rng: &rng) }
    let i = rng.below(lines.count)
    let what: String
    switch rng.below(7) {
    case 0:
      lines.remove(at: i)
      what = "delete line \(i + 1)"
    case 1:
      lines.insert(lines[i], at: i)
      what = "duplicate line \(i + 1)"
    case 2:
      let j = rng.below(lines.count)
      lines.swapAt(i, j)
      what = "swap lines \(i + 1) and \(j + 1)"
    case 3:
      let junk = rng.pick([
        "", "a b c", "{", "}", "x", " ", "null", "[]", "\u{FEFF}", String(repeating: "z", count: 100_000),
      ])
      lines[i] = Array(junk.utf8)
      what = "line \(i + 1) -> \(junk.prefix(12).debugDescription)"
    case 4:
      let cut = rng.below(lines[i].count + 1)
      lines.insert(Array(lines[i][cut...]), at: i + 1)
      lines[i] = Array(lines[i][..<cut])
      what = "split line \(i + 1) at \(cut)"
    case 5:
      lines[i].append(0x0D)
      what = "CR at the end of line \(i + 1)"
    default:
      let j = rng.below(lines.count)
      lines[i] += lines[j]
      what = "append line \(j + 1) to line \(i + 1)"
    }
    bytes = Array(lines.joined(separator: [0x0A]))
    return what
  }
}

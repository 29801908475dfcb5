/// GPT-2's byte-level alphabet and pre-tokenizer.
public enum ByteLevel {
  /// GPT-2's `bytes_to_unicode`: printable Latin-1 bytes map to themselves, the other 68 bytes to
  /// U+0100 onwards in byte order (so a space is `Ġ`, U+0120).
  public static let byteToScalar: [Unicode.Scalar] = {
    var table = [Unicode.Scalar](repeating: " ", count: 256)
    var extra: UInt32 = 256
    for b in 0..<256 {
      let printable = (0x21...0x7E).contains(b) || (0xA1...0xAC).contains(b) || (0xAE...0xFF).contains(b)
      if printable {
        table[b] = Unicode.Scalar(UInt32(b))!
      } else {
        table[b] = Unicode.Scalar(extra)!
        extra += 1
      }
    }
    return table
  }()

  /// The inverse of ``byteToScalar``.
  public static let scalarToByte: [UInt32: UInt8] = {
    var map: [UInt32: UInt8] = [:]
    for (b, s) in byteToScalar.enumerated() { map[s.value] = UInt8(b) }
    return map
  }()

  /// The byte-level spelling of raw bytes (`" world"` -> `"Ġworld"`).
  public static func encode(_ bytes: some Sequence<UInt8>) -> String {
    var s = String.UnicodeScalarView()
    for b in bytes { s.append(byteToScalar[Int(b)]) }
    return String(s)
  }

  /// The raw bytes of a byte-level string, or nil when it holds a character outside the alphabet.
  public static func decode(_ text: String) -> [UInt8]? {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(text.unicodeScalars.count)
    for s in text.unicodeScalars {
      guard let b = scalarToByte[s.value] else { return nil }
      bytes.append(b)
    }
    return bytes
  }

  // Scalar classes for the GPT-2 pattern.
  static let letter: UInt8 = 0
  static let number: UInt8 = 1
  static let whitespace: UInt8 = 2
  static let other: UInt8 = 3

  private static let asciiClass: [UInt8] = (0..<128).map { b -> UInt8 in
    let s = Unicode.Scalar(UInt8(b))
    if s.properties.isWhitespace { return whitespace }
    if (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) { return letter }
    if (0x30...0x39).contains(b) { return number }
    return other
  }

  @inline(__always)
  static func scalarClass(_ value: UInt32) -> UInt8 {
    if value < 128 { return asciiClass[Int(value)] }
    guard let scalar = Unicode.Scalar(value) else { return other }
    if scalar.properties.isWhitespace { return whitespace }
    switch scalar.properties.generalCategory {
    case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return letter
    case .decimalNumber, .letterNumber, .otherNumber: return number
    default: return other
    }
  }

  /// Splits UTF-8 text into GPT-2 pre-tokens, returned as byte ranges. Implements
  /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+` by hand over Unicode
  /// scalars (`\s` is the Unicode White_Space property; the optional prefix is U+0020 only).
  public static func pretokenize(_ utf8: [UInt8]) -> [Range<Int>] {
    // Decode scalars: class and starting byte offset of each.
    var classes: [UInt8] = []
    var starts: [Int32] = []
    classes.reserveCapacity(utf8.count)
    starts.reserveCapacity(utf8.count + 1)
    var p = 0
    let count = utf8.count
    while p < count {
      let b0 = UInt32(utf8[p])
      var value = b0
      var length = 1
      if b0 >= 0xF0, p + 3 < count {
        value = (b0 & 0x07) << 18 | (UInt32(utf8[p + 1]) & 0x3F) << 12 | (UInt32(utf8[p + 2]) & 0x3F) << 6
        value |= UInt32(utf8[p + 3]) & 0x3F
        length = 4
      } else if b0 >= 0xE0, p + 2 < count {
        value = (b0 & 0x0F) << 12 | (UInt32(utf8[p + 1]) & 0x3F) << 6 | (UInt32(utf8[p + 2]) & 0x3F)
        length = 3
      } else if b0 >= 0xC0, p + 1 < count {
        value = (b0 & 0x1F) << 6 | (UInt32(utf8[p + 1]) & 0x3F)
        length = 2
      }
      classes.append(scalarClass(value))
      starts.append(Int32(p))
      p += length
    }
    starts.append(Int32(count))
    let n = classes.count
    var pieces: [Range<Int>] = []
    pieces.reserveCapacity(n / 3 + 1)

    @inline(__always) func runEnd(_ from: Int, _ cls: UInt8) -> Int {
      var e = from
      while e < n && classes[e] == cls { e += 1 }
      return e
    }
    @inline(__always) func isSpace(_ i: Int) -> Bool { utf8[Int(starts[i])] == 0x20 }

    var i = 0
    while i < n {
      var end = -1
      let byte = utf8[Int(starts[i])]
      if byte == 0x27, let length = contractionLength(utf8, Int(starts[i])) {
        end = i + length
      } else {
        var cls = classes[i]
        var from = i
        if byte == 0x20 && i + 1 < n && classes[i + 1] != whitespace {
          cls = classes[i + 1]
          from = i + 1
        }
        if cls != whitespace {
          end = runEnd(from, cls)
        } else {
          let e = runEnd(i, whitespace)
          end = (e == n || e - i == 1) ? e : e - 1
        }
      }
      pieces.append(Int(starts[i])..<Int(starts[end]))
      i = end
    }
    return pieces
  }

  /// Length in scalars of `'s 't 're 've 'm 'll 'd` at `p` (an apostrophe), or nil.
  @inline(__always)
  private static func contractionLength(_ utf8: [UInt8], _ p: Int) -> Int? {
    guard p + 1 < utf8.count else { return nil }
    let c1 = utf8[p + 1]
    switch c1 {
    case UInt8(ascii: "s"), UInt8(ascii: "t"), UInt8(ascii: "m"), UInt8(ascii: "d"): return 2
    default: break
    }
    guard p + 2 < utf8.count else { return nil }
    let c2 = utf8[p + 2]
    switch (c1, c2) {
    case (UInt8(ascii: "r"), UInt8(ascii: "e")), (UInt8(ascii: "v"), UInt8(ascii: "e")),
      (UInt8(ascii: "l"), UInt8(ascii: "l")):
      return 3
    default: return nil
    }
  }
}

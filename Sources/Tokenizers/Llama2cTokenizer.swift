import Foundation

/// The tokenizer of karpathy/llama2.c (`tokenizer.bin`, `tok512.bin`): SentencePiece-style BPE over
/// pieces with scores, encoded and decoded exactly as llama2.c's `run.c` does.
///
/// File format (little-endian): Int32 `max_token_length`, then for each token Float32 score, Int32
/// byte length, the bytes. The vocabulary size is not stored; pass it or let the loader read to EOF.
/// Ids 0, 1, 2 are `<unk>`, BOS and EOS; ids 3...258 are the byte pieces `<0x00>`...`<0xFF>`.
public final class Llama2cTokenizer: Tokenizer, @unchecked Sendable {
  /// Each token's piece bytes (`▁` already stored as a space).
  public let pieces: [[UInt8]]
  /// Each token's merge score (higher merges first).
  public let scores: [Float]
  /// The longest piece, as stored in the file header.
  public let maxTokenLength: Int
  /// Piece bytes -> id (the first id when a piece repeats, like llama2.c's lookup).
  let pieceToID: [[UInt8]: Int]
  /// `(left << 32) | right` -> (priority = -score, merged id), for every pair whose concatenation is a piece.
  let pairs: [UInt64: (Double, Int32)]
  /// The id each token is looked up as (its piece's first id).
  let canonical: [Int32]

  public var vocabularySize: Int { pieces.count }
  public var bosTokenID: Int? { pieces.count > 1 ? 1 : nil }
  public var eosTokenID: Int? { pieces.count > 2 ? 2 : nil }
  public var padTokenID: Int? { nil }
  public var unknownTokenID: Int? { pieces.isEmpty ? nil : 0 }

  /// Loads `path`. With `vocabularySize` nil, tokens are read until the end of the file.
  /// Throws a one-line ``TokenizerError`` for a missing, truncated or malformed file, or one whose ids
  /// 3...258 are not the byte pieces `<0x00>`...`<0xFF>` that encoding falls back to.
  public convenience init(path: String, vocabularySize: Int? = nil) throws {
    let data = try FileBytes.read(path)
    try self.init(data: data, vocabularySize: vocabularySize, source: path)
  }

  /// Parses tokenizer bytes; `source` names the file in errors.
  public init(data: Data, vocabularySize: Int? = nil, source: String = "tokenizer.bin") throws {
    let bytes = [UInt8](data)
    var offset = 0
    func truncated(_ what: String) -> TokenizerError {
      TokenizerError(
        path: source, problem: "file is truncated (\(what) at byte \(offset) of \(bytes.count))",
        remedy: "re-download the tokenizer or pass the right vocabulary size")
    }
    func readUInt32() -> UInt32? {
      guard offset + 4 <= bytes.count else { return nil }
      let v =
        UInt32(bytes[offset]) | UInt32(bytes[offset + 1]) << 8 | UInt32(bytes[offset + 2]) << 16
        | UInt32(bytes[offset + 3]) << 24
      offset += 4
      return v
    }
    guard let header = readUInt32() else { throw truncated("header") }
    let maxLength = Int(Int32(bitPattern: header))
    guard maxLength > 0 && maxLength < 1 << 20 else {
      throw TokenizerError(
        path: source, problem: "max_token_length \(maxLength) is not plausible",
        remedy: "pass a llama2.c tokenizer.bin file")
    }
    if let size = vocabularySize, size <= 0 {
      throw TokenizerError(path: source, problem: "vocabulary size \(size) must be positive", remedy: "pass e.g. 32000")
    }
    var pieces: [[UInt8]] = []
    var scores: [Float] = []
    while vocabularySize.map({ pieces.count < $0 }) ?? (offset < bytes.count) {
      let id = pieces.count
      guard let scoreBits = readUInt32() else { throw truncated("score of token \(id)") }
      guard let lengthBits = readUInt32() else { throw truncated("length of token \(id)") }
      let length = Int(Int32(bitPattern: lengthBits))
      guard length >= 0 && length <= maxLength else {
        throw TokenizerError(
          path: source, problem: "token \(id) has length \(length) outside 0...\(maxLength)",
          remedy: "pass a llama2.c tokenizer.bin file and the right vocabulary size")
      }
      guard offset + length <= bytes.count else { throw truncated("bytes of token \(id)") }
      pieces.append(Array(bytes[offset..<(offset + length)]))
      scores.append(Float(bitPattern: scoreBits))
      offset += length
    }
    // llama2.c's byte fallback (run.c's encode) emits byte b as id b + 3, so ids 3...258 must be the pieces
    // <0x00>...<0xFF>: without them some text would encode to the wrong tokens or to none.
    guard pieces.count >= 259 else {
      throw TokenizerError(
        path: source,
        problem: "has \(pieces.count) tokens, fewer than <unk>, <s>, </s> and the 256 byte pieces (259) it must hold",
        remedy: "pass a complete llama2.c tokenizer.bin file (and the right vocabulary size)")
    }
    if let b = (0..<256).first(where: { Self.rawByte(pieces[$0 + 3][...]) != UInt8($0) }) {
      throw TokenizerError(
        path: source,
        problem: "token \(b + 3) is \(String(decoding: pieces[b + 3], as: UTF8.self).debugDescription), not the byte "
          + "piece \(String(format: "<0x%02X>", b)) that llama2.c's byte fallback puts there",
        remedy: "the file is corrupt or not a llama2.c tokenizer; pass a llama2.c tokenizer.bin file")
    }
    self.pieces = pieces
    self.scores = scores
    self.maxTokenLength = maxLength
    var pieceToID: [[UInt8]: Int] = [:]
    for (id, piece) in pieces.enumerated() where pieceToID[piece] == nil { pieceToID[piece] = id }
    self.pieceToID = pieceToID
    self.canonical = pieces.map { Int32(pieceToID[$0] ?? 0) }
    var pairs: [UInt64: (Double, Int32)] = [:]
    for (id, piece) in pieces.enumerated() where piece.count >= 2 && pieceToID[piece] == id {
      guard scores[id] > -1e10 else { continue }  // llama2.c's best_score starts at -1e10
      for k in 1..<piece.count {
        guard let left = pieceToID[Array(piece[..<k])], let right = pieceToID[Array(piece[k...])] else { continue }
        pairs[UInt64(left) << 32 | UInt64(right)] = (-Double(scores[id]), Int32(id))
      }
    }
    self.pairs = pairs
  }

  public func token(for id: Int) -> String? {
    guard id >= 0 && id < pieces.count else { return nil }
    return String(decoding: pieces[id], as: UTF8.self)
  }

  public func tokenID(for token: String) -> Int? { pieceToID[Array(token.utf8)] }

  /// Encodes like llama2.c's `encode(text, bos: addSpecialTokens, eos: false)`.
  public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
    encode(text, bos: addSpecialTokens, eos: false)
  }

  /// llama2.c's `encode`: optional BOS, a dummy-prefix `" "` token for non-empty text, one piece per
  /// code point (else one token per byte, id = byte + 3), then highest-score pair merges (ties: leftmost).
  public func encode(_ text: String, bos: Bool, eos: Bool) -> [Int] {
    var symbols: [Int32] = []
    symbols.reserveCapacity(text.utf8.count + 3)
    if bos, let id = bosTokenID { symbols.append(Int32(id)) }
    if !text.isEmpty, let space = pieceToID[[0x20]] { symbols.append(Int32(space)) }
    var buffer: [UInt8] = []
    for scalar in text.unicodeScalars {
      buffer.removeAll(keepingCapacity: true)
      if let units = UTF8.encode(scalar) { buffer.append(contentsOf: units) }
      if let id = pieceToID[buffer] {
        symbols.append(Int32(id))
      } else {
        for b in buffer where Int(b) + 3 < pieces.count { symbols.append(Int32(b) + 3) }
      }
    }
    let pairs = self.pairs
    let canonical = self.canonical
    PairMerger.merge(&symbols) { a, b in
      pairs[UInt64(UInt32(bitPattern: canonical[Int(a)])) << 32 | UInt64(UInt32(bitPattern: canonical[Int(b)]))]
    }
    var ids = symbols.map { Int($0) }
    if eos, let id = eosTokenID { ids.append(id) }
    return ids
  }

  /// The raw bytes `ids` decode to, following llama2.c's `decode`: BOS and EOS produce nothing, the piece
  /// right after BOS loses a leading space, `<0xNN>` pieces become the byte NN.
  public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) -> [UInt8] {
    var out: [UInt8] = []
    var previous = -1
    for id in ids where id >= 0 && id < pieces.count {
      defer { previous = id }
      if id == bosTokenID || id == eosTokenID || (skipSpecialTokens && id == unknownTokenID) { continue }
      var piece = pieces[id][...]
      if previous == bosTokenID && piece.first == 0x20 { piece = piece.dropFirst() }
      if let byte = Self.rawByte(piece) {
        out.append(byte)
      } else {
        out.append(contentsOf: piece)
      }
    }
    return out
  }

  public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
    String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
  }

  /// The byte of a `<0xNN>` piece (two hex digits, either case), else nil.
  static func rawByte(_ piece: ArraySlice<UInt8>) -> UInt8? {
    guard piece.count == 6 else { return nil }
    let p = Array(piece)
    guard p[0] == UInt8(ascii: "<"), p[1] == UInt8(ascii: "0"), p[2] == UInt8(ascii: "x"), p[5] == UInt8(ascii: ">"),
      let high = hexValue(p[3]), let low = hexValue(p[4])
    else { return nil }
    return high << 4 | low
  }

  private static func hexValue(_ c: UInt8) -> UInt8? {
    switch c {
    case UInt8(ascii: "0")...UInt8(ascii: "9"): return c - UInt8(ascii: "0")
    case UInt8(ascii: "a")...UInt8(ascii: "f"): return c - UInt8(ascii: "a") + 10
    case UInt8(ascii: "A")...UInt8(ascii: "F"): return c - UInt8(ascii: "A") + 10
    default: return nil
    }
  }
}

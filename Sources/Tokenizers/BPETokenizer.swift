import Foundation

/// GPT-2 style byte-level BPE: text is split by GPT-2's pre-tokenizer pattern, each pre-token's UTF-8
/// bytes start as single-byte tokens, and adjacent pairs merge lowest rank first.
///
/// Load it from `vocab.json` + `merges.txt`, a Hugging Face `tokenizer.json` or a tiktoken rank file
/// (see `BPETokenizer+Loading.swift`). Encoding caches each pre-token's ids; the cache is shared by
/// all callers and guarded by a lock, so concurrent `encode` calls on one instance serialise.
public final class BPETokenizer: Tokenizer, @unchecked Sendable {
  /// Merge rank and resulting token for one pair.
  struct Merge {
    var rank: Int32
    var merged: Int32
  }

  /// Raw bytes of every id (special tokens: their UTF-8 text).
  let tokenBytes: [[UInt8]]
  /// The id of each single byte.
  let byteTokens: [Int32]
  /// `(left << 32) | right` -> merge.
  let merges: [UInt64: Merge]
  /// Bytes of a regular token -> id (used by `ignoreMerges` and `tokenID(for:)`).
  let bytesToID: [[UInt8]: Int]
  /// Special (added) tokens recognised in input text.
  public let specialTokens: [String: Int]
  let specialIDs: Set<Int>
  let splitter: SpecialTokenSplitter
  /// When true a pre-token that is itself a vocabulary entry maps straight to it (HF `ignore_merges`).
  let ignoreMerges: Bool
  /// When true a space is prepended to text that does not start with one (HF `add_prefix_space`).
  public let addsPrefixSpace: Bool

  public let bosTokenID: Int?
  public let eosTokenID: Int?
  public let padTokenID: Int?
  public let unknownTokenID: Int?
  /// Whether `encode(_:addSpecialTokens: true)` puts ``bosTokenID`` first.
  public let addsBOS: Bool

  private let lock = NSLock()
  /// FNV-1a hash of a pre-token -> (its bytes, its ids); a hash collision just skips the cache.
  private var cache: [UInt64: (word: [UInt8], ids: [Int32])] = [:]
  private static let cacheLimit = 200_000

  /// Builds a tokenizer from raw token bytes (index = id), ordered merges and special tokens.
  ///
  /// `mergePairs[r]` is the pair merged with rank `r`; its result must be in `tokens`. Every byte
  /// must have a single-byte token. `source` names the file in error messages.
  init(
    tokens: [[UInt8]], mergePairs: [(Int, Int)], specialTokens: [String: Int], ignoreMerges: Bool = false,
    addsPrefixSpace: Bool = false, addsBOS: Bool = false, source: String
  ) throws {
    var bytesToID: [[UInt8]: Int] = [:]
    bytesToID.reserveCapacity(tokens.count)
    let specialIDs = Set(specialTokens.values)
    for (id, bytes) in tokens.enumerated() where !specialIDs.contains(id) && !bytes.isEmpty && bytesToID[bytes] == nil {
      bytesToID[bytes] = id
    }
    var byteTokens = [Int32](repeating: -1, count: 256)
    for b in 0..<256 {
      guard let id = bytesToID[[UInt8(b)]] else {
        throw TokenizerError(
          path: source, problem: "vocabulary has no token for byte \(b)",
          remedy: "use a byte-level BPE vocabulary (all 256 bytes present)")
      }
      byteTokens[b] = Int32(id)
    }
    var merges: [UInt64: Merge] = [:]
    merges.reserveCapacity(mergePairs.count)
    for (rank, (a, b)) in mergePairs.enumerated() {
      guard let merged = bytesToID[tokens[a] + tokens[b]] else {
        throw TokenizerError(
          path: source, problem: "merge \(rank + 1) produces a token missing from the vocabulary",
          remedy: "use the merges file that belongs to this vocabulary")
      }
      let key = UInt64(a) << 32 | UInt64(b)
      if merges[key] == nil { merges[key] = Merge(rank: Int32(rank), merged: Int32(merged)) }
    }
    self.tokenBytes = tokens
    self.byteTokens = byteTokens
    self.merges = merges
    self.bytesToID = bytesToID
    self.specialTokens = specialTokens
    self.specialIDs = specialIDs
    self.splitter = SpecialTokenSplitter(specialTokens)
    self.ignoreMerges = ignoreMerges
    self.addsPrefixSpace = addsPrefixSpace
    let endOfText = specialTokens["<|endoftext|>"]
    self.bosTokenID = specialTokens["<|begin_of_text|>"] ?? specialTokens["<s>"] ?? endOfText
    self.eosTokenID = specialTokens["<|end_of_text|>"] ?? specialTokens["</s>"] ?? endOfText
    self.padTokenID = specialTokens["<pad>"] ?? specialTokens["<|pad|>"]
    self.unknownTokenID = specialTokens["<unk>"]
    self.addsBOS = addsBOS
  }

  public var vocabularySize: Int { tokenBytes.count }

  /// The ordered merges as (left id, right id), lowest rank first.
  public var mergeList: [(Int, Int)] {
    merges.sorted { $0.value.rank < $1.value.rank }.map { (Int($0.key >> 32), Int($0.key & 0xFFFF_FFFF)) }
  }

  public func token(for id: Int) -> String? {
    guard id >= 0 && id < tokenBytes.count else { return nil }
    if specialIDs.contains(id) { return String(decoding: tokenBytes[id], as: UTF8.self) }
    return ByteLevel.encode(tokenBytes[id])
  }

  public func tokenID(for token: String) -> Int? {
    if let id = specialTokens[token] { return id }
    guard let bytes = ByteLevel.decode(token) else { return nil }
    return bytesToID[bytes]
  }

  public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
    var ids: [Int] = []
    if addSpecialTokens && addsBOS, let bos = bosTokenID { ids.append(bos) }
    var utf8 = Array(text.utf8)
    if addsPrefixSpace && utf8.first != 0x20 { utf8.insert(0x20, at: 0) }
    ids.reserveCapacity(utf8.count / 3)
    for segment in splitter.split(utf8) {
      switch segment {
      case .special(let id): ids.append(id)
      case .text(let range): encodeOrdinary(utf8, range, into: &ids)
      }
    }
    return ids
  }

  /// Encodes text with no special-token handling at all (special strings are tokenized as text).
  public func encodeOrdinary(_ text: String) -> [Int] {
    let utf8 = Array(text.utf8)
    var ids: [Int] = []
    encodeOrdinary(utf8, 0..<utf8.count, into: &ids)
    return ids
  }

  private func encodeOrdinary(_ utf8: [UInt8], _ range: Range<Int>, into ids: inout [Int]) {
    let part = Array(utf8[range])
    lock.lock()
    defer { lock.unlock() }
    if cache.count > Self.cacheLimit { cache.removeAll(keepingCapacity: true) }
    for piece in ByteLevel.pretokenize(part) {
      let word = part[piece]
      var hash: UInt64 = 0xcbf2_9ce4_8422_2325
      for b in word { hash = (hash ^ UInt64(b)) &* 0x100_0000_01b3 }
      if let cached = cache[hash] {
        if cached.word.elementsEqual(word) {
          for id in cached.ids { ids.append(Int(id)) }
          continue
        }
        let symbols = mergeWord(word)
        for id in symbols { ids.append(Int(id)) }
        continue
      }
      let symbols = mergeWord(word)
      cache[hash] = (Array(word), symbols)
      for id in symbols { ids.append(Int(id)) }
    }
  }

  /// Runs the BPE merges over one pre-token's bytes.
  func mergeWord(_ word: ArraySlice<UInt8>, forceHeap: Bool = false) -> [Int32] {
    if ignoreMerges, let id = bytesToID[Array(word)] { return [Int32(id)] }
    var symbols = word.map { byteTokens[Int($0)] }
    let merges = self.merges
    PairMerger.merge(&symbols, forceHeap: forceHeap) { a, b in
      guard let m = merges[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] else { return nil }
      return (Double(m.rank), m.merged)
    }
    return symbols
  }

  /// The raw bytes that `ids` stand for (special tokens as their UTF-8 text unless skipped).
  public func decodeBytes(_ ids: [Int], skipSpecialTokens: Bool = false) -> [UInt8] {
    var bytes: [UInt8] = []
    bytes.reserveCapacity(ids.count * 4)
    for id in ids where id >= 0 && id < tokenBytes.count {
      if skipSpecialTokens && specialIDs.contains(id) { continue }
      bytes.append(contentsOf: tokenBytes[id])
    }
    return bytes
  }

  public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
    String(decoding: decodeBytes(ids, skipSpecialTokens: skipSpecialTokens), as: UTF8.self)
  }
}

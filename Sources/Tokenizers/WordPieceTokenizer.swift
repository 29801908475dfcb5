import Foundation

/// BERT's WordPiece tokenizer as Hugging Face `tokenizers` runs it from a `tokenizer.json`:
/// BertNormalizer (clean text, pad CJK characters, strip accents, lower-case), BertPreTokenizer
/// (split on whitespace and isolate punctuation), greedy longest-match WordPiece with `##` continuations,
/// and `[CLS] … [SEP]` around the sequence when special tokens are added.
public final class WordPieceTokenizer: Tokenizer, @unchecked Sendable {
  /// Token -> id.
  let vocabulary: [String: Int]
  /// Id -> token.
  let tokens: [String]
  /// Added tokens matched in raw text before normalisation (`[CLS]`, `[MASK]`, …).
  let splitter: SpecialTokenSplitter
  let specialIDs: Set<Int>
  /// Continuation prefix, `##` for BERT.
  public let continuingPrefix: String
  /// Words longer than this many scalars become one unknown token.
  public let maxInputCharactersPerWord: Int
  /// Lower-case the text (BERT uncased).
  public let lowercases: Bool
  /// Remove accents (NFD, then drop nonspacing marks); HF's default follows `lowercases`.
  public let stripsAccents: Bool
  /// Surround CJK ideographs with spaces so each becomes its own word.
  public let separatesChineseCharacters: Bool
  /// Drop control characters and map every whitespace to a space.
  public let cleansText: Bool

  public let unknownTokenID: Int?
  /// `[CLS]`, put first when special tokens are added.
  public let classifierTokenID: Int?
  /// `[SEP]`, put last when special tokens are added.
  public let separatorTokenID: Int?
  public let padTokenID: Int?
  public var bosTokenID: Int? { classifierTokenID }
  public var eosTokenID: Int? { separatorTokenID }
  public var vocabularySize: Int { tokens.count }

  /// Loads a `tokenizer.json` whose model is WordPiece. Throws a one-line ``TokenizerError``.
  public convenience init(tokenizerJSON path: String) throws {
    try self.init(tokenizerJSON: try FileBytes.readJSON(path), path: path)
  }

  init(tokenizerJSON json: [String: Any], path: String) throws {
    guard let model = json["model"] as? [String: Any], model["type"] as? String == "WordPiece",
      let vocabulary = model["vocab"] as? [String: Int]
    else {
      throw TokenizerError(
        path: path, problem: "model is not a WordPiece model with a \"vocab\"", remedy: "pass a BERT tokenizer.json")
    }
    var specials: [String: Int] = [:]
    for item in json["added_tokens"] as? [[String: Any]] ?? [] {
      if let id = item["id"] as? Int, let content = item["content"] as? String { specials[content] = id }
    }
    try TokenizerError.checkIDs(Array(vocabulary.values) + Array(specials.values), path: path)
    let size = max(vocabulary.values.max() ?? -1, specials.values.max() ?? -1) + 1
    var tokens = [String](repeating: "", count: size)
    for (token, id) in vocabulary where id >= 0 { tokens[id] = token }
    for (token, id) in specials where id >= 0 { tokens[id] = token }
    self.vocabulary = vocabulary.merging(specials) { a, _ in a }
    self.tokens = tokens
    self.splitter = SpecialTokenSplitter(specials)
    self.specialIDs = Set(specials.values)
    continuingPrefix = model["continuing_subword_prefix"] as? String ?? "##"
    maxInputCharactersPerWord = model["max_input_chars_per_word"] as? Int ?? 100
    let normalizer = json["normalizer"] as? [String: Any] ?? [:]
    let isBert = normalizer["type"] as? String == "BertNormalizer"
    lowercases = isBert && (normalizer["lowercase"] as? Bool ?? true)
    stripsAccents = isBert && (normalizer["strip_accents"] as? Bool ?? lowercases)
    separatesChineseCharacters = isBert && (normalizer["handle_chinese_chars"] as? Bool ?? true)
    cleansText = isBert && (normalizer["clean_text"] as? Bool ?? true)
    let unk = model["unk_token"] as? String ?? "[UNK]"
    unknownTokenID = self.vocabulary[unk]
    classifierTokenID = self.vocabulary["[CLS]"]
    separatorTokenID = self.vocabulary["[SEP]"]
    padTokenID = self.vocabulary["[PAD]"]
  }

  public func token(for id: Int) -> String? { id >= 0 && id < tokens.count ? tokens[id] : nil }
  public func tokenID(for token: String) -> Int? { vocabulary[token] }

  public func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
    var ids: [Int] = []
    if addSpecialTokens, let cls = classifierTokenID { ids.append(cls) }
    let utf8 = Array(text.utf8)
    for segment in splitter.split(utf8) {
      switch segment {
      case .special(let id): ids.append(id)
      case .text(let range):
        let part = String(decoding: utf8[range], as: UTF8.self)
        for word in words(in: normalize(part)) { appendWordPieces(word, to: &ids) }
      }
    }
    if addSpecialTokens, let sep = separatorTokenID { ids.append(sep) }
    return ids
  }

  /// The BertNormalizer steps, in Hugging Face's order.
  func normalize(_ text: String) -> String {
    var scalars = String.UnicodeScalarView()
    for s in text.unicodeScalars {
      if cleansText {
        if s.value == 0 || s.value == 0xFFFD || Self.isControl(s) { continue }
        if Self.isWhitespace(s) {
          scalars.append(" ")
          continue
        }
      }
      if separatesChineseCharacters && Self.isChinese(s) {
        scalars.append(" ")
        scalars.append(s)
        scalars.append(" ")
      } else {
        scalars.append(s)
      }
    }
    var result = String(scalars)
    if stripsAccents {
      let decomposed = result.decomposedStringWithCanonicalMapping.unicodeScalars
      result = String(String.UnicodeScalarView(decomposed.filter { $0.properties.generalCategory != .nonspacingMark }))
    }
    return lowercases ? result.lowercased() : result
  }

  /// BertPreTokenizer: words separated by whitespace, each punctuation character its own word.
  func words(in text: String) -> [[Unicode.Scalar]] {
    var words: [[Unicode.Scalar]] = []
    var current: [Unicode.Scalar] = []
    for s in text.unicodeScalars {
      if Self.isWhitespace(s) {
        if !current.isEmpty { words.append(current) }
        current.removeAll()
      } else if Self.isPunctuation(s) {
        if !current.isEmpty { words.append(current) }
        current.removeAll()
        words.append([s])
      } else {
        current.append(s)
      }
    }
    if !current.isEmpty { words.append(current) }
    return words
  }

  /// Greedy longest-match-first; a word with an unmatched remainder becomes one unknown token.
  func appendWordPieces(_ word: [Unicode.Scalar], to ids: inout [Int]) {
    if word.count > maxInputCharactersPerWord {
      if let unk = unknownTokenID { ids.append(unk) }
      return
    }
    var pieces: [Int] = []
    var start = 0
    while start < word.count {
      var end = word.count
      var found: Int?
      while end > start {
        var candidate = String(String.UnicodeScalarView(word[start..<end]))
        if start > 0 { candidate = continuingPrefix + candidate }
        if let id = vocabulary[candidate] {
          found = id
          break
        }
        end -= 1
      }
      guard let id = found else {
        if let unk = unknownTokenID { ids.append(unk) }
        return
      }
      pieces.append(id)
      start = end
    }
    ids.append(contentsOf: pieces)
  }

  /// Joins tokens with spaces, glues `##` continuations, then applies HF's tokenization-space cleanup.
  public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
    var out = ""
    for id in ids where id >= 0 && id < tokens.count {
      if skipSpecialTokens && specialIDs.contains(id) { continue }
      let token = tokens[id]
      if token.hasPrefix(continuingPrefix) {
        out += token.dropFirst(continuingPrefix.count)
      } else {
        if !out.isEmpty { out += " " }
        out += token
      }
    }
    for (from, to) in [
      (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"), (" n't", "n't"), (" 'm", "'m"),
      (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ] {
      out = out.replacingOccurrences(of: from, with: to)
    }
    return out
  }

  static func isWhitespace(_ s: Unicode.Scalar) -> Bool {
    s == "\t" || s == "\n" || s == "\r" || s.properties.isWhitespace
  }

  static func isControl(_ s: Unicode.Scalar) -> Bool {
    if s == "\t" || s == "\n" || s == "\r" { return false }
    switch s.properties.generalCategory {
    case .control, .format, .unassigned, .privateUse, .surrogate: return true
    default: return false
    }
  }

  static func isPunctuation(_ s: Unicode.Scalar) -> Bool {
    if s.isASCII {
      let v = s.value
      return (0x21...0x2F).contains(v) || (0x3A...0x40).contains(v) || (0x5B...0x60).contains(v)
        || (0x7B...0x7E).contains(v)
    }
    switch s.properties.generalCategory {
    case .connectorPunctuation, .dashPunctuation, .closePunctuation, .finalPunctuation, .initialPunctuation,
      .otherPunctuation, .openPunctuation:
      return true
    default: return false
    }
  }

  static func isChinese(_ s: Unicode.Scalar) -> Bool {
    switch s.value {
    case 0x4E00...0x9FFF, 0x3400...0x4DBF, 0x20000...0x2A6DF, 0x2A700...0x2B73F, 0x2B740...0x2B81F,
      0x2B920...0x2CEAF, 0xF900...0xFAFF, 0x2F800...0x2FA1F:
      return true
    default: return false
    }
  }
}

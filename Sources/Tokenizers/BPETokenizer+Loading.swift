import Foundation

extension BPETokenizer {
  /// Loads GPT-2's `vocab.json` (byte-level string -> id) and `merges.txt` (one `left right` pair a line,
  /// an optional `#version` first line). `specialTokens` defaults to `<|endoftext|>` when the vocabulary
  /// has it. Throws a one-line ``TokenizerError`` for a missing or malformed file.
  public convenience init(vocabularyFile: String, mergesFile: String, specialTokens: [String: Int]? = nil) throws {
    let json = try FileBytes.readJSON(vocabularyFile)
    var vocabulary: [String: Int] = [:]
    for (key, value) in json {
      guard let id = value as? Int, id >= 0 else {
        throw TokenizerError(path: vocabularyFile, problem: "entry \"\(key)\" has no non-negative integer id")
      }
      vocabulary[key] = id
    }
    let data = try FileBytes.read(mergesFile)
    var pairs: [(String, String)] = []
    for (index, trimmed) in FileBytes.lines(data).enumerated() {
      if trimmed.isEmpty || (index == 0 && trimmed.hasPrefix("#version")) { continue }
      let parts = trimmed.split(separator: " ", omittingEmptySubsequences: false)
      guard parts.count == 2 else {
        throw TokenizerError(
          path: mergesFile, problem: "line \(index + 1) is not two tokens separated by one space",
          remedy: "pass a GPT-2 merges.txt file")
      }
      pairs.append((String(parts[0]), String(parts[1])))
    }
    var specials = specialTokens ?? [:]
    if specialTokens == nil, let id = vocabulary["<|endoftext|>"] { specials["<|endoftext|>"] = id }
    try self.init(
      vocabulary: vocabulary, merges: pairs, specialTokens: specials, vocabularySource: vocabularyFile,
      mergesSource: mergesFile)
  }

  /// Builds the tokenizer from byte-level vocabulary strings and merge pairs.
  convenience init(
    vocabulary: [String: Int], merges: [(String, String)], specialTokens: [String: Int], ignoreMerges: Bool = false,
    addsPrefixSpace: Bool = false, vocabularySource: String, mergesSource: String
  ) throws {
    try TokenizerError.checkIDs(Array(vocabulary.values) + Array(specialTokens.values), path: vocabularySource)
    let size = max(vocabulary.values.max() ?? -1, specialTokens.values.max() ?? -1) + 1
    var tokens = [[UInt8]](repeating: [], count: size)
    let specialIDs = Set(specialTokens.values)
    for (text, id) in specialTokens { tokens[id] = Array(text.utf8) }
    for (text, id) in vocabulary where !specialIDs.contains(id) {
      guard let bytes = ByteLevel.decode(text) else {
        throw TokenizerError(
          path: vocabularySource, problem: "vocabulary entry \"\(text)\" is not in GPT-2's byte-level alphabet",
          remedy: "use a byte-level BPE vocabulary")
      }
      tokens[id] = bytes
    }
    var pairs: [(Int, Int)] = []
    pairs.reserveCapacity(merges.count)
    for (rank, (a, b)) in merges.enumerated() {
      guard let left = vocabulary[a], let right = vocabulary[b] else {
        let missing = vocabulary[a] == nil ? a : b
        throw TokenizerError(
          path: mergesSource, problem: "merge \(rank + 1) (\"\(a) \(b)\") references unknown token \"\(missing)\"",
          remedy: "use the merges file that belongs to this vocabulary")
      }
      pairs.append((left, right))
    }
    try self.init(
      tokens: tokens, mergePairs: pairs, specialTokens: specialTokens, ignoreMerges: ignoreMerges,
      addsPrefixSpace: addsPrefixSpace, source: mergesSource)
  }

  /// Loads a Hugging Face `tokenizer.json` whose model is byte-level BPE; `added_tokens` become special
  /// tokens recognised in input text.
  public convenience init(tokenizerJSON path: String) throws {
    let json = try FileBytes.readJSON(path)
    try self.init(tokenizerJSON: json, path: path)
  }

  convenience init(tokenizerJSON json: [String: Any], path: String) throws {
    guard let model = json["model"] as? [String: Any], (model["type"] as? String ?? "BPE") == "BPE",
      let vocabulary = model["vocab"] as? [String: Int], let rawMerges = model["merges"] as? [Any]
    else {
      throw TokenizerError(
        path: path, problem: "model is not a BPE model with \"vocab\" and \"merges\"",
        remedy: "pass a byte-level BPE tokenizer.json")
    }
    var prefixSpace = false
    if let pre = json["pre_tokenizer"] as? [String: Any] {
      guard pre["type"] as? String == "ByteLevel", pre["use_regex"] as? Bool ?? true else {
        throw TokenizerError(
          path: path, problem: "pre_tokenizer \(pre["type"] ?? "?") is not supported (only GPT-2 ByteLevel)",
          remedy: "use a GPT-2 style byte-level tokenizer.json")
      }
      prefixSpace = pre["add_prefix_space"] as? Bool ?? false
    }
    var merges: [(String, String)] = []
    merges.reserveCapacity(rawMerges.count)
    for (index, item) in rawMerges.enumerated() {
      if let pair = item as? [String], pair.count == 2 {
        merges.append((pair[0], pair[1]))
      } else if let line = item as? String, case let parts = line.split(separator: " "), parts.count == 2 {
        merges.append((String(parts[0]), String(parts[1])))
      } else {
        throw TokenizerError(path: path, problem: "merge \(index + 1) is not a pair of tokens")
      }
    }
    var specials: [String: Int] = [:]
    for item in json["added_tokens"] as? [[String: Any]] ?? [] {
      guard let id = item["id"] as? Int, id >= 0, let content = item["content"] as? String else {
        throw TokenizerError(path: path, problem: "an added_tokens entry lacks \"id\" or \"content\"")
      }
      specials[content] = id
    }
    try self.init(
      vocabulary: vocabulary, merges: merges, specialTokens: specials,
      ignoreMerges: model["ignore_merges"] as? Bool ?? false, addsPrefixSpace: prefixSpace,
      vocabularySource: path, mergesSource: path)
  }

  /// Loads a tiktoken rank file (`base64-token rank` a line; rank = id). Merges are derived from the
  /// ranks: each multi-byte token's merge is the last step of encoding its own bytes with the lower ranks.
  /// `specialTokens` are appended by id (GPT-2: `["<|endoftext|>": 50256]`).
  public convenience init(tiktokenFile path: String, specialTokens: [String: Int] = [:]) throws {
    var ranked: [(bytes: [UInt8], rank: Int)] = []
    for (index, line) in FileBytes.lines(try FileBytes.read(path)).enumerated() where !line.isEmpty {
      let parts = line.split(separator: " ")
      guard parts.count == 2, let data = Data(base64Encoded: String(parts[0])), !data.isEmpty,
        let rank = Int(parts[1]), rank >= 0, rank < 10_000_000
      else {
        throw TokenizerError(
          path: path, problem: "line \(index + 1) is not \"<base64 token> <rank>\"", remedy: "pass a .tiktoken file")
      }
      ranked.append((Array(data), rank))
    }
    ranked.sort { $0.rank < $1.rank }
    try TokenizerError.checkIDs(Array(specialTokens.values), path: path)
    let size = max(ranked.last.map { $0.rank + 1 } ?? 0, (specialTokens.values.max() ?? -1) + 1)
    var tokens = [[UInt8]](repeating: [], count: size)
    for (bytes, rank) in ranked { tokens[rank] = bytes }
    for (text, id) in specialTokens { tokens[id] = Array(text.utf8) }
    var byteIDs = [Int32](repeating: -1, count: 256)
    for (bytes, rank) in ranked where bytes.count == 1 { byteIDs[Int(bytes[0])] = Int32(rank) }
    if let missing = byteIDs.firstIndex(of: -1) {
      throw TokenizerError(path: path, problem: "no rank for byte \(missing)", remedy: "pass a complete .tiktoken file")
    }
    var table: [UInt64: Int32] = [:]
    var pairs: [(Int, Int)] = []
    for (bytes, rank) in ranked where bytes.count > 1 {
      var symbols = bytes.map { byteIDs[Int($0)] }
      PairMerger.merge(&symbols) { a, b in
        guard let merged = table[UInt64(UInt32(bitPattern: a)) << 32 | UInt64(UInt32(bitPattern: b))] else {
          return nil
        }
        return (Double(merged), merged)
      }
      guard symbols.count == 2 else { continue }  // unreachable by merges; tiktoken never emits it either
      table[UInt64(UInt32(bitPattern: symbols[0])) << 32 | UInt64(UInt32(bitPattern: symbols[1]))] = Int32(rank)
      pairs.append((Int(symbols[0]), Int(symbols[1])))
    }
    try self.init(tokens: tokens, mergePairs: pairs, specialTokens: specialTokens, source: path)
  }
}

import Foundation

/// Opens any supported tokenizer file by its kind.
public enum TokenizerLoader {
  /// Loads `path`:
  /// - a `tokenizer.json` (BPE or WordPiece model, chosen from `model.type`);
  /// - a `.tiktoken` rank file (`<|endoftext|>` is added after the ranks when the file has 50,256 of them,
  ///   as GPT-2's does);
  /// - a llama2.c `.bin` tokenizer (vocabulary size read to the end of the file);
  /// - a folder holding `tokenizer.json`, or `vocab.json` + `merges.txt`, or `tokenizer.bin`.
  ///
  /// Throws a one-line ``TokenizerError`` when the path is missing or of no known kind.
  public static func load(_ path: String) throws -> any Tokenizer {
    var isDirectory: ObjCBool = false
    guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw TokenizerError(path: path, problem: "file not found", remedy: "check the path")
    }
    if isDirectory.boolValue {
      let folder = URL(fileURLWithPath: path)
      func inside(_ name: String) -> String? {
        let p = folder.appendingPathComponent(name).path
        return FileManager.default.fileExists(atPath: p) ? p : nil
      }
      if let json = inside("tokenizer.json") { return try load(json) }
      if let vocab = inside("vocab.json"), let merges = inside("merges.txt") {
        return try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
      }
      if let bin = inside("tokenizer.bin") { return try Llama2cTokenizer(path: bin) }
      throw TokenizerError(
        path: path, problem: "folder has no tokenizer.json, vocab.json + merges.txt or tokenizer.bin",
        remedy: "pass a tokenizer file or its folder")
    }
    switch URL(fileURLWithPath: path).pathExtension.lowercased() {
    case "json":
      let json = try FileBytes.readJSON(path)
      let type = (json["model"] as? [String: Any])?["type"] as? String
      if type == "WordPiece" { return try WordPieceTokenizer(tokenizerJSON: json, path: path) }
      return try BPETokenizer(tokenizerJSON: json, path: path)
    case "tiktoken":
      let plain = try BPETokenizer(tiktokenFile: path)
      if plain.vocabularySize == 50256 {
        return try BPETokenizer(tiktokenFile: path, specialTokens: ["<|endoftext|>": 50256])
      }
      return plain
    case "bin":
      return try Llama2cTokenizer(path: path)
    default:
      throw TokenizerError(
        path: path, problem: "unknown tokenizer file kind",
        remedy: "pass tokenizer.json, a .tiktoken file, a llama2.c .bin file or a folder")
    }
  }
}

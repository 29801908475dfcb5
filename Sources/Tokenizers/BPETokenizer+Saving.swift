import Foundation

extension BPETokenizer {
  /// Writes the tokenizer as a Hugging Face `tokenizer.json` to `path` atomically (temporary file + rename).
  /// The vocabulary is written in id order and merges in rank order, so the output is deterministic.
  public func saveTokenizerJSON(to path: String) throws {
    var out = "{\n  \"version\": \"1.0\",\n  \"truncation\": null,\n  \"padding\": null,\n  \"added_tokens\": ["
    for (i, (content, id)) in specialTokens.sorted(by: { $0.value < $1.value }).enumerated() {
      out += i == 0 ? "\n    " : ",\n    "
      out += "{\"id\": \(id), \"content\": \(Self.jsonString(content)), \"single_word\": false, \"lstrip\": false, "
      out += "\"rstrip\": false, \"normalized\": false, \"special\": true}"
    }
    out += specialTokens.isEmpty ? "],\n" : "\n  ],\n"
    let byteLevel =
      "{\"type\": \"ByteLevel\", \"add_prefix_space\": \(addsPrefixSpace), \"trim_offsets\": true, \"use_regex\": true}"
    out += "  \"normalizer\": null,\n  \"pre_tokenizer\": \(byteLevel),\n  \"post_processor\": \(byteLevel),\n"
    out += "  \"decoder\": \(byteLevel),\n  \"model\": {\n    \"type\": \"BPE\",\n    \"dropout\": null,\n"
    out += "    \"unk_token\": null,\n    \"continuing_subword_prefix\": null,\n    \"end_of_word_suffix\": null,\n"
    out += "    \"fuse_unk\": false,\n    \"byte_fallback\": false,\n    \"ignore_merges\": \(ignoreMerges),\n"
    out += "    \"vocab\": {"
    var first = true
    for id in 0..<tokenBytes.count where !specialIDs.contains(id) && !tokenBytes[id].isEmpty {
      out += first ? "\n      " : ",\n      "
      first = false
      out += "\(Self.jsonString(ByteLevel.encode(tokenBytes[id]))): \(id)"
    }
    out += "\n    },\n    \"merges\": ["
    for (i, (a, b)) in mergeList.enumerated() {
      out += i == 0 ? "\n      [" : ",\n      ["
      out += "\(Self.jsonString(ByteLevel.encode(tokenBytes[a]))), \(Self.jsonString(ByteLevel.encode(tokenBytes[b])))]"
    }
    out += "\n    ]\n  }\n}\n"
    try FileBytes.writeAtomically(Data(out.utf8), to: path)
  }

  /// A JSON string literal for `s`.
  static func jsonString(_ s: String) -> String {
    var out = "\""
    for scalar in s.unicodeScalars {
      switch scalar {
      case "\"": out += "\\\""
      case "\\": out += "\\\\"
      case "\n": out += "\\n"
      case "\r": out += "\\r"
      case "\t": out += "\\t"
      case _ where scalar.value < 0x20:
        let hex = String(scalar.value, radix: 16)
        out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
      default: out.unicodeScalars.append(scalar)
      }
    }
    return out + "\""
  }
}

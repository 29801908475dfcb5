import Foundation
import Testing

@testable import Tokenizers

/// Tokenizer files saved with CRLF line endings load exactly like their LF twins.
@Suite struct LineEndingTests {
  /// `text` with every "\n" turned into "\r\n".
  static func crlf(_ text: String) -> String { text.replacingOccurrences(of: "\n", with: "\r\n") }

  func write(_ text: String, _ name: String) throws -> String {
    let path = Fixtures.temporaryPath(name)
    try Data(text.utf8).write(to: URL(fileURLWithPath: path))
    return path
  }

  /// A vocab.json of the 256 bytes plus "ab" (256) and "abc" (257), one entry a line.
  static let vocabulary: String = {
    var entries = (0..<256).map { "  \(BPETokenizer.jsonString(ByteLevel.encode([UInt8($0)]))): \($0)" }
    entries += ["  \"ab\": 256", "  \"abc\": 257"]
    return "{\n" + entries.joined(separator: ",\n") + "\n}\n"
  }()

  @Test func vocabularyAndMergesWithCRLFLoadLikeLF() throws {
    let merges = "#version: 0.2\na b\nab c\n"
    var encodings: [[Int]] = []
    let variants: [(String, Bool)] = [("lf", false), ("crlf", true)]
    for (suffix, windows) in variants {
      let vocab = try write(windows ? Self.crlf(Self.vocabulary) : Self.vocabulary, "vocab-\(suffix).json")
      let mergesPath = try write(windows ? Self.crlf(merges) : merges, "merges-\(suffix).txt")
      defer { for p in [vocab, mergesPath] { try? FileManager.default.removeItem(atPath: p) } }
      let tokenizer = try BPETokenizer(vocabularyFile: vocab, mergesFile: mergesPath)
      encodings.append(tokenizer.encode("abc abab ca"))
    }
    #expect(encodings[0] == [257, 32, 256, 256, 32, 99, 97])
    #expect(encodings[1] == encodings[0])
  }

  @Test func tiktokenWithCRLFLoadsLikeLF() throws {
    let base64 = { (bytes: [UInt8]) in Data(bytes).base64EncodedString() }
    var lines = (0..<256).map { "\(base64([UInt8($0)])) \($0)" }
    lines += ["\(base64(Array("ab".utf8))) 256", "\(base64(Array("abc".utf8))) 257"]
    let text = lines.joined(separator: "\n") + "\n"
    var encodings: [[Int]] = []
    for (suffix, content) in [("lf", text), ("crlf", Self.crlf(text))] {
      let path = try write(content, "ranks-\(suffix).tiktoken")
      defer { try? FileManager.default.removeItem(atPath: path) }
      let tokenizer = try BPETokenizer(tiktokenFile: path)
      #expect(tokenizer.vocabularySize == 258)
      encodings.append(tokenizer.encode("abc abab ca"))
    }
    #expect(encodings[0] == [257, 32, 256, 256, 32, 99, 97])
    #expect(encodings[1] == encodings[0])
  }

  @Test func aCRLFMergesFileNamesTheRightLineOfABadMerge() throws {
    let vocab = try write(Self.crlf(Self.vocabulary), "vocab-bad.json")
    let merges = try write("#version: 0.2\r\na b\r\n\r\nab zz\r\n", "merges-bad.txt")
    defer { for p in [vocab, merges] { try? FileManager.default.removeItem(atPath: p) } }
    do {
      _ = try BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
      Issue.record("a merge of an unknown token was accepted")
    } catch let error as TokenizerError {
      #expect(error.description.contains("merge 2") && error.description.contains("zz"), "\(error)")
      #expect(!error.description.contains("\r"), "\(error)")
    }
  }
}

import Foundation
import Testing

@testable import Data

@Suite struct ShardPreparerTests {
  @Test func textDocumentsWithEndOfText() throws {
    let dir = try temporaryDirectory("prepare")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let docs = (0..<40).map { "Story number \($0). The end." }
    try docs.joined(separator: "\n\n\n").write(toFile: dir + "/in.txt", atomically: true, encoding: .utf8)
    let meta = try ShardPreparer.prepare(
      inputs: [dir + "/in.txt"], encoding: ByteEncoding(), directory: dir + "/out", validationFraction: 0.1,
      appendEndOfText: true)
    let train = try TokenShard(path: dir + "/out/train.bin")
    let val = try TokenShard(path: dir + "/out/val.bin")
    #expect(meta.documents == 40)
    #expect(meta.validationDocuments >= 1 && meta.validationDocuments < 40)
    #expect(train.count + val.count == docs.reduce(0) { $0 + $1.utf8.count + 1 })
    #expect(meta.trainTokens == train.count && meta.validationTokens == val.count)
    // Whole documents: each shard ends with the end-of-text id and holds one per document.
    let valIDs = try val.tokens(in: 0..<val.count)
    #expect(valIDs.last == 256)
    #expect(valIDs.filter { $0 == 256 }.count == meta.validationDocuments)
    #expect(try ShardPreparer.readMeta(from: dir + "/out") == meta)
  }

  @Test func singleDocumentTakesTheTailAsValidation() throws {
    let dir = try temporaryDirectory("single")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    try String(repeating: "abcdefghij", count: 100).write(toFile: dir + "/a.txt", atomically: true, encoding: .utf8)
    let meta = try ShardPreparer.prepare(
      inputs: [dir + "/a.txt"], encoding: ByteEncoding(), directory: dir, validationFraction: 0.1)
    #expect(meta.validationTokens == 100 && meta.trainTokens == 902)
    #expect(meta.validationDocuments == 0)
  }

  @Test func jsonLinesUseTheNamedField() throws {
    let dir = try temporaryDirectory("jsonl")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let lines = (0..<5).map { "{\"body\": \"doc \($0)\", \"id\": \($0)}" }
    try lines.joined(separator: "\n").write(toFile: dir + "/d.jsonl", atomically: true, encoding: .utf8)
    #expect(try ShardPreparer.documents(atPath: dir + "/d.jsonl", field: "body") == (0..<5).map { "doc \($0)" })
    do {
      _ = try ShardPreparer.documents(atPath: dir + "/d.jsonl")
      Issue.record("a missing field was accepted")
    } catch let error as DataError {
      #expect(error.description.contains("line 1") && error.description.contains("--field"))
    }
    let encoding = ClosureEncoding(name: "tiny", vocabularySize: 4, endOfText: nil) { _ in [9] }
    #expect(throws: DataError.self) {
      try ShardPreparer.prepare(inputs: [dir + "/d.jsonl"], encoding: encoding, directory: dir, field: "body")
    }
    #expect(throws: DataError.self) {
      try ShardPreparer.prepare(
        inputs: [dir + "/d.jsonl"], encoding: encoding, directory: dir, appendEndOfText: true, field: "body")
    }
  }

  /// A JSONL file saved with CRLF line endings gives the documents of its LF twin, and a bad line is named by
  /// its number in the file.
  @Test func jsonLinesWithCRLFReadLikeLF() throws {
    let dir = try temporaryDirectory("jsonl-crlf")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let lines = (0..<4).map { "{\"text\": \"doc \($0)\"}" }
    try (lines.joined(separator: "\n") + "\n").write(toFile: dir + "/lf.jsonl", atomically: true, encoding: .utf8)
    try (lines.joined(separator: "\r\n") + "\r\n").write(
      toFile: dir + "/crlf.jsonl", atomically: true, encoding: .utf8)
    let expected = (0..<4).map { "doc \($0)" }
    #expect(try ShardPreparer.documents(atPath: dir + "/lf.jsonl") == expected)
    #expect(try ShardPreparer.documents(atPath: dir + "/crlf.jsonl") == expected)
    try "{\"text\": \"a\"}\r\n\r\n[1, 2]\r\n".write(toFile: dir + "/bad.jsonl", atomically: true, encoding: .utf8)
    do {
      _ = try ShardPreparer.documents(atPath: dir + "/bad.jsonl")
      Issue.record("a line that is not an object was accepted")
    } catch let error as DataError {
      #expect(error.description.contains("line 3 is not a JSON object"), "\(error)")
    }
  }

  @Test func fetchOfUnknownNameAndMissingFilesAreOneLine() throws {
    do {
      _ = try DataCatalog.fetch("nope", log: { _ in })
      Issue.record("unknown dataset accepted")
    } catch let error as DataError {
      #expect(error.description.contains("tinyshakespeare"))
    }
    #expect(throws: DataError.self) { try DataLocation.file("no/such/file-\(UUID().uuidString).txt") }
  }
}

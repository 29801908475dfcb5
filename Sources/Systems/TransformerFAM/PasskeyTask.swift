import Foundation
import TensorCore
import Tokenizers

/// The text around the pass key.
public enum PasskeyHeader: String, Sendable, Encodable {
  /// The paper's Fig. 10 header ("There is important info hidden inside a lot of irrelevant text...").
  case paper
  /// No header sentence: BOS, "The pass key is", the key; the whole 0-filler sequence fits in one block of 32.
  case short
}

/// One batch of PassKey sequences [B, T]: answer targets, and next-token targets on everything else.
public struct PasskeyBatch {
  /// Input ids [B, T].
  public var ids: Tensor
  /// The five answer digits as targets, -100 elsewhere [B, T].
  public var targets: Tensor
  /// Next-token targets on every position except the answers (for an auxiliary LM loss) [B, T].
  public var languageTargets: Tensor
}

/// Synthetic PassKey retrieval (the paper's Fig. 10 format, scaled down): a header, "the pass key is" and five
/// digits, F blocks of real filler text, "what is the pass key?", and the five answer digits. Only the answer
/// digits carry the main loss.
public struct PasskeyTask: Sendable {
  /// Block size b: filler comes in whole blocks.
  public let blockSize: Int
  /// The header in use.
  public let headerStyle: PasskeyHeader
  private let filler: [Int]
  private let header: [Int]
  private let question: [Int]
  private let digits: [[Int]]
  private let passIntro: [Int]

  /// Builds the task from a tokenizer and a filler text file (e.g. the TinyStories validation prefix).
  public init(tokenizer: any Tokenizer, fillerPath: String, blockSize: Int, header: PasskeyHeader = .paper) throws {
    guard let bytes = FileManager.default.contents(atPath: fillerPath) else {
      throw TensorError("PasskeyTask", "\(fillerPath): cannot read the filler text; check FRONTIER_DATA")
    }
    let text = String(decoding: bytes, as: UTF8.self)
    filler = tokenizer.encode(text.replacingOccurrences(of: "\n\n", with: " "), addSpecialTokens: false)
    guard filler.count > 200 * blockSize else {
      throw TensorError("PasskeyTask", "\(fillerPath): too little filler text (\(filler.count) tokens)")
    }
    self.blockSize = blockSize
    headerStyle = header
    let bos = tokenizer.encode("", addSpecialTokens: true)
    switch header {
    case .paper:
      self.header = tokenizer.encode(
        "There is important info hidden inside a lot of irrelevant text. Find it and memorize it.",
        addSpecialTokens: true)
    case .short:
      self.header = bos
    }
    question = tokenizer.encode(" What is the pass key? The pass key is", addSpecialTokens: false)
    // One token per digit: the last token of " d" is the digit itself in byte-fallback vocabularies.
    digits = (0..<10).map { Array(tokenizer.encode(" \($0)", addSpecialTokens: false).suffix(1)) }
    passIntro = tokenizer.encode(" The pass key is", addSpecialTokens: false)
    distinctDigits = Set(digits).count
  }

  /// How many distinct tokens the ten digits got (10 when each digit is its own token).
  public let distinctDigits: Int

  /// Tokens of a sequence with no filler (header, key, question, answer).
  public var overheadLength: Int { header.count + passIntro.count + question.count + 10 }

  /// The position of the first key digit (0-based).
  public var keyPosition: Int { header.count + passIntro.count }

  /// One sequence with `fillerBlocks` blocks of filler: input ids, answer targets (-100 except the answer
  /// digits) and next-token targets on every other position.
  public func example(fillerBlocks: Int, generator: inout RandomGenerator) -> (
    ids: [Int], targets: [Int], languageTargets: [Int]
  ) {
    let key = (0..<5).flatMap { _ in digits[Int(generator.next() % 10)] }
    let fillerLength = fillerBlocks * blockSize
    let start = Int(generator.next() % UInt64(filler.count - fillerLength))
    let prompt = header + passIntro + key + Array(filler[start..<(start + fillerLength)]) + question
    let sequence = prompt + key
    let ids = Array(sequence.dropLast())
    var targets = [Int](repeating: -100, count: ids.count)
    var language = Array(sequence.dropFirst())
    for i in (prompt.count - 1)..<ids.count {
      targets[i] = sequence[i + 1]
      language[i] = -100
    }
    return (ids, targets, language)
  }

  /// A batch [B, T] of sequences with the same filler length.
  public func batch(_ size: Int, fillerBlocks: Int, generator: inout RandomGenerator) -> PasskeyBatch {
    let examples = (0..<size).map { _ in example(fillerBlocks: fillerBlocks, generator: &generator) }
    let length = examples[0].ids.count
    return PasskeyBatch(
      ids: Tensor(indices: examples.flatMap(\.ids), shape: [size, length]),
      targets: Tensor(indices: examples.flatMap(\.targets), shape: [size, length]),
      languageTargets: Tensor(indices: examples.flatMap(\.languageTargets), shape: [size, length]))
  }
}

extension FAMModel {
  /// Teacher-forced PassKey accuracy on a batch: the fraction of sequences whose every answer token is the
  /// argmax, and the fraction of answer digits that are.
  public func passkeyAccuracy(ids: Tensor, targets: Tensor) throws -> (sequences: Double, digits: Double) {
    try withoutGradients {
      let logits = try logits(ids).logits  // [B, T, V]
      let predicted = try logits.argmax(axis: -1).int64s
      let wanted = targets.int64s
      let (batch, length) = (ids.shape[0], ids.shape[1])
      var correct = 0
      for b in 0..<batch {
        let rows = (b * length)..<((b + 1) * length)
        if rows.allSatisfy({ wanted[$0] == -100 || wanted[$0] == predicted[$0] }) { correct += 1 }
      }
      let answers = wanted.indices.filter { wanted[$0] != -100 }
      let right = answers.filter { wanted[$0] == predicted[$0] }.count
      return (Double(correct) / Double(batch), Double(right) / Double(max(answers.count, 1)))
    }
  }
}

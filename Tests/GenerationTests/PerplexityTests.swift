import Foundation
import LMCore
import TestSupport
import Testing

@testable import Generation
@testable import TensorCore

@Suite struct PerplexityTests {
  static func model() -> BigramModel {
    var rows: [Float] = []
    for i in 0..<5 { for j in 0..<5 { rows.append(Float((i * 7 + j * 3) % 5) * 0.7 - 1) } }
    return BigramModel(table: Tensor(rows, shape: [5, 5]), contextLength: 16)
  }

  /// -log softmax(table[a])[b] in double precision.
  static func nll(_ model: BigramModel, _ a: Int, _ b: Int) -> Double {
    let row = Array(model.table.floats[(a * 5)..<(a * 5 + 5)]).map(Double.init)
    let top = row.max()!
    let z = row.reduce(0) { $0 + exp($1 - top) }
    return -(row[b] - top - log(z))
  }

  static let tokens = (0..<37).map { ($0 * $0 + 3 * $0) % 5 }

  @Test(arguments: [(8, 8), (8, 4), (8, 3), (8, 1), (6, 6)])
  func windowsScoreEachTokenOnceWithAtLeastHalfAWindowOfContext(context: Int, stride: Int) throws {
    let model = Self.model()
    let evaluator = try SlidingWindowPerplexity(context: context, stride: stride, batch: 3)
    let result = try evaluator.evaluate(model, tokens: Self.tokens, bytes: { _ in 2 })
    let scored = min(stride, context / 2)
    let starts = Array(Swift.stride(from: 0, through: Self.tokens.count - context, by: stride))
    var expected = 0.0
    var count = 0
    var seen = Set<Int>()
    for s in starts {
      for t in (s + context - scored)..<(s + context) {
        #expect(seen.insert(t).inserted, "token \(t) scored twice")
        #expect(t - s >= context / 2, "token \(t) has less than half a window of context")
        expected += Self.nll(model, Self.tokens[t - 1], Self.tokens[t])
        count += 1
      }
    }
    #expect(result.tokens == count && result.windows == starts.count)
    #expect(abs(result.nats - expected) < 1e-4 * max(1, expected))
    #expect(abs(result.perplexity - exp(expected / Double(count))) < 1e-4 * result.perplexity)
    #expect(result.bytes == 2 * count)
    #expect(abs(result.bitsPerByte! - expected / log(2) / Double(2 * count)) < 1e-6)
  }

  @Test func theDefaultStrideIsLlamaCppsSecondHalfOfEachChunk() throws {
    let evaluator = try SlidingWindowPerplexity(context: 8)
    let result = try evaluator.evaluate(Self.model(), tokens: Self.tokens)
    #expect(result.windows == 4 && result.tokens == 16)  // chunks 0-7, 8-15, 16-23, 24-31; 4 scored each
    #expect(result.bytes == nil && result.bitsPerByte == nil)
  }

  @Test func badSettingsAndDataAreClearErrors() throws {
    #expect(throws: GenerationError.self) { try SlidingWindowPerplexity(context: 1) }
    #expect(throws: GenerationError.self) { try SlidingWindowPerplexity(context: 8, stride: 9) }
    #expect(throws: GenerationError.self) { try SlidingWindowPerplexity(context: 8, stride: 0) }
    let evaluator = try SlidingWindowPerplexity(context: 8)
    #expect(throws: GenerationError.self) { try evaluator.evaluate(Self.model(), tokens: [1, 2, 3]) }
    #expect(throws: GenerationError.self) {
      try evaluator.evaluate(Self.model(), tokens: Array(repeating: 7, count: 9))
    }
    #expect(throws: GenerationError.self) {
      try SlidingWindowPerplexity(context: 32).evaluate(Self.model(), tokens: Self.tokens)
    }
  }
}

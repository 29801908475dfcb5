import Foundation
import Models
import NN
import TensorCore
import Testing
import Tokenizers
import TransformerFAM

/// One token per character (ids = Unicode scalar values below 128, BOS = 1): enough to build a PassKey task.
struct CharacterTokenizer: Tokenizer {
  var vocabularySize: Int { 128 }
  var bosTokenID: Int? { 1 }
  var eosTokenID: Int? { nil }
  var padTokenID: Int? { nil }
  var unknownTokenID: Int? { nil }
  func encode(_ text: String, addSpecialTokens: Bool) -> [Int] {
    (addSpecialTokens ? [1] : []) + text.unicodeScalars.map { Int($0.value) % 128 }
  }
  func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
    String(String.UnicodeScalarView(ids.compactMap { UnicodeScalar(UInt32($0)) }))
  }
  func token(for id: Int) -> String? { UnicodeScalar(UInt32(id)).map { String($0) } }
  func tokenID(for token: String) -> Int? { token.unicodeScalars.first.map { Int($0.value) } }
}

/// A PassKey task over a temporary filler file.
func characterTask(block: Int = 8) throws -> PasskeyTask {
  let path = NSTemporaryDirectory() + "passkey-filler-\(UUID().uuidString).txt"
  let text = String(repeating: "once upon a time a cat sat on a mat. ", count: 80)
  try text.write(toFile: path, atomically: true, encoding: .utf8)
  defer { try? FileManager.default.removeItem(atPath: path) }
  return try PasskeyTask(tokenizer: CharacterTokenizer(), fillerPath: path, blockSize: block, header: .short)
}

@Suite("TransformerFAM PassKey") struct PasskeyTests {
  @Test("the curriculum widens linearly from start to end, and its draws depend only on the seed")
  func curriculum() throws {
    let c = PasskeyCurriculum(start: 0...1, end: 2...16, rampSteps: 100)
    #expect(c.range(atStep: 0) == 0...1)
    #expect(c.range(atStep: 50) == 1...8)
    #expect(c.range(atStep: 100) == 2...16)
    #expect(c.range(atStep: 5000) == 2...16)
    func draws(_ seed: UInt64) -> [Int] {
      var g = RandomGenerator(seed: seed)
      return (0..<200).map { c.blocks(atStep: $0, generator: &g) }
    }
    let a = draws(3)
    #expect(a == draws(3))
    #expect(a != draws(4))
    #expect(a.enumerated().allSatisfy { c.range(atStep: $0.offset).contains($0.element) })
  }

  @Test("sequences: answer targets only on the 5 answer digits, LM targets everywhere else, the key repeated")
  func sequences() throws {
    let task = try characterTask()
    var g = RandomGenerator(seed: 1)
    let e = task.example(fillerBlocks: 3, generator: &g)
    #expect(e.ids.count == task.overheadLength + 3 * task.blockSize - 1)
    let answers = e.targets.indices.filter { e.targets[$0] != -100 }
    #expect(answers == Array((e.ids.count - 5)..<e.ids.count))
    #expect(answers.allSatisfy { e.languageTargets[$0] == -100 })
    #expect(e.languageTargets.filter { $0 == -100 }.count == 5)
    let key = Array(e.ids[task.keyPosition..<(task.keyPosition + 5)])
    #expect(answers.map { e.targets[$0] } == key)
    let batch = task.batch(2, fillerBlocks: 0, generator: &g)
    #expect(batch.ids.shape == [2, task.overheadLength - 1])
  }

  @Test("BSWA's receptive field is (L·m + 1)·b: with 3 layers, b = 8, m = 1, token 0 reaches position 31, not 32")
  func receptiveFieldFormula() throws {
    let arm = PasskeyArm(
      name: "M1", configuration: FAMConfiguration(mode: .bswa, blockSize: 8, memoryBlocks: 1, famLength: 0))
    let field = try #require(arm.receptiveField(layers: 3))
    #expect(field == 32)
    var ids = randomIDs(48, seed: 14)
    let base = Tensor(indices: ids, shape: [1, 48])
    ids[0] = (ids[0] + 1) % 61
    let model = try tinyFAM(layers: 3, mode: .bswa, memory: 1)
    let (a, b) = (
      try model.hiddenStates(base).hidden, try model.hiddenStates(Tensor(indices: ids, shape: [1, 48])).hidden
    )
    #expect(try maxDifference(a, b, rows: (field - 1)..<field) > 0)
    #expect(try maxDifference(a, b, rows: field..<48) == 0)
    #expect(
      PasskeyArm.all(block: 8, fam: 2).allSatisfy {
        $0.configuration.activeFAMLength == 0 || $0.receptiveField(layers: 3) == nil
      })
  }

  @Test("M1_SG: the stop-gradient arm stops the loss at the last block from reaching block 0; M1 does not")
  func stopGradientArm() throws {
    let arms = PasskeyArm.all(block: 8, fam: 2)
    let stopped = try #require(arms.first { $0.name == "BSWA M1_SG" })
    #expect(stopped.configuration.stopsMemoryGradient && stopped.configuration.memoryBlocks == 1)
    let ids = Tensor(indices: (0..<8).map { 50 + $0 } + randomIDs(24, seed: 15, vocabulary: 50), shape: [1, 32])
    func firstBlockGradient(_ configuration: FAMConfiguration) throws -> Float {
      let model = try tinyFAM(layers: 3, memory: 1, fam: 0)
      model.configuration = configuration
      let (_, grads) = try valueAndGradient(of: model) { m in
        try m.head(m.hiddenStates(ids).hidden.sliced(axis: 1, 24..<32)).sum()
      }
      let rows = try #require(grads["parent.model.embed_tokens.weight"]).sliced(axis: 0, 50..<58)
      return rows.contiguous().floats.map(abs).max() ?? 0
    }
    #expect(try firstBlockGradient(stopped.configuration) == 0)
    let plain = try #require(arms.first { $0.name == "BSWA M1" })
    #expect(try firstBlockGradient(plain.configuration) > 0)
  }

  @Test("the auxiliary loss adds weight × its cross-entropy to the answer loss")
  func auxiliaryLoss() throws {
    let tokens = randomIDs(33, seed: 16)
    let ids = Tensor(indices: Array(tokens.dropLast()), shape: [1, 32])
    let all = Array(tokens.dropFirst())
    let answers = Tensor(indices: all.enumerated().map { $0.offset >= 27 ? $0.element : -100 }, shape: [1, 32])
    let rest = Tensor(indices: all.enumerated().map { $0.offset < 27 ? $0.element : -100 }, shape: [1, 32])
    let options = FAMTrainingOptions(randomPositionOffset: false, statePassingProbability: 0, warmupSteps: 10)
    func firstLoss(_ auxiliary: (Tensor, Float)?, targets: Tensor) throws -> Float {
      try FAMTrainer(model: tinyFAM(memory: 1, fam: 2), options: options)
        .step(ids: ids, targets: targets, auxiliary: auxiliary)
    }
    let answerLoss = try firstLoss(nil, targets: answers)
    let restLoss = try firstLoss(nil, targets: rest)
    let mixed = try firstLoss((rest, 0.25), targets: answers)
    #expect(abs(mixed - (answerLoss + 0.25 * restLoss)) < 1e-3 * abs(mixed))
    #expect(abs(mixed - answerLoss) > 1e-3)
  }
}

@Suite("TransformerFAM trainer schedule") struct FAMScheduleTests {
  @Test("warmup rises linearly, cooldown falls linearly to 10%, state passing starts after its start step")
  func schedule() throws {
    let tokens = randomIDs(17, seed: 17)
    let ids = Tensor(indices: Array(tokens.dropLast()), shape: [1, 16])
    let targets = Tensor(indices: Array(tokens.dropFirst()), shape: [1, 16])
    let options = FAMTrainingOptions(
      learningRate: 1e-3, randomPositionOffset: false, statePassingProbability: 1, warmupSteps: 4,
      statePassingStartStep: 3, cooldownStartStep: 8, cooldownSteps: 4)
    let trainer = FAMTrainer(model: try tinyFAM(layers: 1, memory: 0, fam: 2), options: options)
    var rates: [Float] = []
    var passed: [Bool] = []
    for _ in 0..<14 {
      try trainer.step(ids: ids, targets: targets)
      rates.append(trainer.learningRate)
      passed.append(trainer.usedPassedState)
    }
    let expected: [Float] = [0.25, 0.5, 0.75, 1, 1, 1, 1, 1, 0.775, 0.55, 0.325, 0.1, 0.1, 0.1].map { $0 * 1e-3 }
    #expect(zip(rates, expected).allSatisfy { abs($0 - $1) < 1e-7 })
    #expect(passed == [false, false, false] + [Bool](repeating: true, count: 11))
  }
}

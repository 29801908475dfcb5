import Checkpoints
import Foundation
import LMCore
import NN
import TensorCore
import TestSupport
import Testing

@testable import Models

/// The decoding state's moves: trim, snapshot/restore, save/load, and what a state refuses.
@Suite struct DecodingStateTests {
  static func llama(seed: UInt64 = 21, kvHeads: Int = 2) throws -> Llama {
    var rng = RandomGenerator(seed: seed)
    let config = LlamaConfiguration(
      vocabularySize: 50, hiddenSize: 32, intermediateSize: 64, layers: 2, heads: 4, kvHeads: kvHeads,
      contextLength: 64, ropeTheta: 1000)
    return try Llama(config, generator: &rng)
  }

  static func gpt2(seed: UInt64 = 22) throws -> GPT2 {
    var rng = RandomGenerator(seed: seed)
    let config = GPT2Configuration(vocabularySize: 50, contextLength: 64, width: 32, layers: 2, heads: 4)
    return try GPT2(config, generator: &rng)
  }

  /// Feeds `ids` one call per piece and returns the last call's logits [V].
  static func feed(_ model: any LanguageModel, _ state: DecodingState, _ pieces: [[Int]]) throws -> [Float] {
    var last: [Float] = []
    for piece in pieces {
      last = try withoutGradients {
        try model.lastLogits(Tensor(indices: piece, shape: [1, piece.count]), state: state).floats
      }
    }
    return last
  }

  static let ids = (0..<14).map { ($0 * 11 + 5) % 50 }

  @Test(arguments: ["llama", "gpt2"])
  func trimThenDecodeEqualsDecodingTheShorterSequenceAfresh(_ kind: String) throws {
    let model: any LanguageModel = kind == "llama" ? try Self.llama() : try Self.gpt2()
    let ids = Self.ids
    let state = model.makeState(capacity: 32)
    _ = try Self.feed(model, state, [Array(ids[..<10]), [ids[10]], [ids[11]], [ids[12]]])
    #expect(state.position == 13)
    try state.trim(toPosition: 8)
    #expect(state.position == 8)
    let other = [7, 42, 3]
    let trimmed = try Self.feed(model, state, other.map { [$0] })
    let fresh = model.makeState(capacity: 32)
    let direct = try Self.feed(model, fresh, [Array(ids[..<8])] + other.map { [$0] })
    expectClose(trimmed, direct, atol: 1e-5, "\(kind): trimmed state vs fresh state")
    // And both equal a full forward pass over the shorter sequence.
    let sequence = Array(ids[..<8]) + other
    let full = try model.logits(Tensor(indices: sequence, shape: [1, sequence.count]), state: nil).floats
    expectClose(trimmed, Array(full[((sequence.count - 1) * 50)...]), atol: 2e-5, "\(kind): trimmed vs full pass")
  }

  @Test func trimRefusesPositionsTheStateDoesNotHold() throws {
    let model = try Self.llama()
    let state = model.makeState(capacity: 16)
    _ = try Self.feed(model, state, [Array(Self.ids[..<5])])
    #expect(throws: TensorError.self) { try state.trim(toPosition: 6) }
    #expect(throws: TensorError.self) { try state.trim(toPosition: -1) }
    let sparse = try state.attention(0)
    let (k, v) = try sparse.heldRows()
    try sparse.load(keys: k.contiguous(), values: v.contiguous(), position: 9, fixedRows: 3)
    #expect(sparse.position == 9)
    #expect(throws: TensorError.self) { try sparse.trim(toPosition: 6) }  // inside the fixed rows
    try sparse.trim(toPosition: 8)
    #expect(sparse.length == 4)
  }

  @Test func snapshotRestoreReturnsToTheSnapshotBitForBit() throws {
    let model = try Self.llama()
    let ids = Self.ids
    let state = model.makeState(capacity: 32)
    _ = try Self.feed(model, state, [Array(ids[..<6])])
    let saved = state.snapshot()
    let first = try Self.feed(model, state, [[ids[6]], [ids[7]]])
    _ = try Self.feed(model, state, [[1], [2], [3]])
    try state.restore(saved)
    #expect(state.position == 6)
    let again = try Self.feed(model, state, [[ids[6]], [ids[7]]])
    #expect(first == again)
    // The snapshot is independent: decoding after restore did not change it.
    #expect(saved.position == 6)
  }

  @Test(arguments: ["llama", "gpt2"])
  func aSavedAndReloadedStateContinuesBitExactly(_ kind: String) throws {
    let model: any LanguageModel = kind == "llama" ? try Self.llama() : try Self.gpt2()
    let ids = Self.ids
    let state = model.makeState(capacity: 32)
    _ = try Self.feed(model, state, [Array(ids[..<9])])
    let path = temporaryPath("state-\(kind).safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try state.save(to: path, model: kind)
    let loaded = model.makeState(capacity: 32)
    try loaded.load(from: path, model: kind)
    #expect(loaded.position == 9)
    let continued = try Self.feed(model, state, [[ids[9]], [ids[10]]])
    let resumed = try Self.feed(model, loaded, [[ids[9]], [ids[10]]])
    #expect(continued == resumed)
    // No temporary file is left beside the state.
    let folder = (path as NSString).deletingLastPathComponent
    let name = (path as NSString).lastPathComponent
    let leftovers = try FileManager.default.contentsOfDirectory(atPath: folder).filter {
      $0.hasPrefix(name + ".tmp")
    }
    #expect(leftovers.isEmpty)
  }

  @Test func aStateLoadedIntoAModelOfAnotherShapeIsOneClearErrorAndChangesNothing() throws {
    let model = try Self.llama()
    let state = model.makeState(capacity: 32)
    _ = try Self.feed(model, state, [Array(Self.ids[..<7])])
    let path = temporaryPath("state-shape.safetensors")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try state.save(to: path, model: "llama")
    let other = try Self.llama(kvHeads: 4)  // 4 key/value heads instead of 2
    let target = other.makeState(capacity: 32)
    _ = try Self.feed(other, target, [[1, 2, 3]])
    let error = #expect(throws: CheckpointError.self) { try target.load(from: path) }
    #expect(error?.description.contains(path) == true)
    #expect(error?.description.contains("[1, 4, R, 8]") == true, "\(error?.description ?? "")")
    #expect(target.position == 3)
    // Too few rows of capacity, another layer count, another model name, not a state at all.
    #expect(throws: CheckpointError.self) { try model.makeState(capacity: 4).load(from: path) }
    let deeper = DecodingState(
      layers: (0..<3).map { _ in AttentionKV(batch: 1, heads: 2, capacity: 32, headDimensions: 8) })
    #expect(throws: CheckpointError.self) { try deeper.load(from: path) }
    #expect(throws: CheckpointError.self) { try model.makeState(capacity: 32).load(from: path, model: "gpt2") }
    let weights = temporaryPath("weights.safetensors")
    defer { try? FileManager.default.removeItem(atPath: weights) }
    try model.saveSafetensors(to: weights)
    #expect(throws: CheckpointError.self) { try model.makeState(capacity: 32).load(from: weights) }
  }

  @Test func aModelRefusesAStateOfAnotherLayout() throws {
    let model = try Self.llama()
    let wrong = DecodingState(layers: [AttentionKV(batch: 1, heads: 2, capacity: 8, headDimensions: 8)])
    #expect(throws: TensorError.self) {
      try model.logits(Tensor(indices: [1, 2], shape: [1, 2]), state: wrong)
    }
    let heads = DecodingState(
      layers: (0..<2).map { _ in AttentionKV(batch: 1, heads: 3, capacity: 8, headDimensions: 8) })
    #expect(throws: TensorError.self) {
      try model.logits(Tensor(indices: [1, 2], shape: [1, 2]), state: heads)
    }
  }
}

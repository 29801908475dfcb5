import Checkpoints
import Foundation
import LMCore
import NN
import TensorCore
import TestSupport
import Testing

@testable import Models

/// Llama decoding with weights packed to bf16 and Q8_0, and llama2.c files written and read back.
@Suite struct PackedWeightsTests {
  static func llama(seed: UInt64 = 41, tied: Bool = true) throws -> Llama {
    var rng = RandomGenerator(seed: seed)
    let config = LlamaConfiguration(
      vocabularySize: 96, hiddenSize: 64, intermediateSize: 128, layers: 2, heads: 4, kvHeads: 2, contextLength: 32,
      rmsNormEps: 1e-5, ropeTheta: 10_000, tiedEmbeddings: tied)
    return try Llama(config, generator: &rng)
  }

  static let ids = (0..<10).map { ($0 * 13 + 7) % 96 }

  /// Logits of every position: one prefill of three tokens, then one token at a time (the fused step).
  static func decodedLogits(_ model: Llama) throws -> [Float] {
    let state = model.makeState(capacity: 16)
    var out = try model.logits(Tensor(indices: Array(ids[..<3]), shape: [1, 3]), state: state).floats
    for id in ids[3...] { out += try model.logits(Tensor(indices: [id], shape: [1, 1]), state: state).floats }
    return out
  }

  static func worst(_ a: [Float], _ b: [Float]) -> Float { zip(a, b).map { abs($0 - $1) }.max() ?? .infinity }

  @Test(arguments: [WeightFormat.bfloat16, .q8_0(groupSize: 32), .q8_0(groupSize: 64)])
  func packedDecodingStepEqualsThePackedLayerPath(_ format: WeightFormat) throws {
    let model = try Self.llama()
    let dense = try Self.decodedLogits(model)
    try model.packWeights(format)
    #expect(model.packedHead != nil)
    let fused = try Self.decodedLogits(model)
    // The layer path (one full pass, no cache) reads the same packed matrices through Linear.
    let layers = try model.logits(Tensor(indices: Self.ids, shape: [1, Self.ids.count]), state: nil).floats
    #expect(Self.worst(fused, layers) < 1e-4, "fused vs layers: \(Self.worst(fused, layers))")
    // Packing changes the function by rounding only: bf16 keeps 8 bits of mantissa, Q8_0 about 7.
    let scale = dense.map(abs).max() ?? 1
    #expect(Self.worst(fused, dense) < 0.05 * scale, "\(format) vs f32: \(Self.worst(fused, dense)) of \(scale)")
    #expect(Self.worst(fused, dense) > 0, "packing should change the bits")
    try model.packWeights(.float32)
    #expect(try Self.decodedLogits(model) == dense)
  }

  @Test func packedBatchedDecodingEqualsSingleSequences() throws {
    let model = try Self.llama(tied: false)
    try model.packWeights(.q8_0(groupSize: 32))
    let prompts = [[1, 2, 3], [9], [40, 41, 42, 43, 44]]
    let states = prompts.map { _ in model.makeState(capacity: 12) }
    let singles = prompts.map { _ in model.makeState(capacity: 12) }
    for (i, p) in prompts.enumerated() {
      _ = try model.lastLogits(Tensor(indices: p, shape: [1, p.count]), state: states[i])
      _ = try model.lastLogits(Tensor(indices: p, shape: [1, p.count]), state: singles[i])
    }
    let batched = try withoutGradients { try model.batchedLastLogits([5, 6, 7], states: states).floats }
    let expected = try zip([5, 6, 7], singles).flatMap { token, state in
      try model.lastLogits(Tensor(indices: [token], shape: [1, 1]), state: state).floats
    }
    #expect(Self.worst(batched, expected) < 2e-5)
  }

  @Test func aWeightTypeTheModelCannotTakeNamesTheTensor() throws {
    var rng = RandomGenerator(seed: 1)
    let config = LlamaConfiguration(
      vocabularySize: 40, hiddenSize: 32, intermediateSize: 72, layers: 1, heads: 2, contextLength: 8)
    let model = try Llama(config, generator: &rng)
    let error = #expect(throws: TensorError.self) { try model.packWeights(.q8_0(groupSize: 32)) }
    #expect(error?.description.contains("mlp.down_proj.weight [32, 72]") == true, "\(error?.description ?? "")")
  }

  @Test(arguments: [1, 2])
  func llama2cFilesWrittenHereReadBack(version: Int) throws {
    let model = try Self.llama(tied: false)
    let path = temporaryPath("llama2c-v\(version).bin")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try model.saveLlama2c(to: path, q8GroupSize: version == 2 ? model.llama2cGroupSize : nil)
    let file = try Llama2cCheckpoint(path: path)
    #expect(file.header.version == version && file.header.groupSize == (version == 2 ? 64 : 0))
    let loaded = try Llama(llama2cPath: path)
    #expect(loaded.config.ropeInterleaved)
    let original = try model.logits(Tensor(indices: Self.ids, shape: [1, Self.ids.count]), state: nil).floats
    let reread = try loaded.logits(Tensor(indices: Self.ids, shape: [1, Self.ids.count]), state: nil).floats
    if version == 1 {
      // Float32 and the q/k permutation undone by interleaved RoPE: the same function.
      #expect(Self.worst(original, reread) < 1e-4)
      #expect(loaded.layers[0].attention.queryProjection.packed == nil)
    } else {
      // Version 2 keeps the file's own Q8_0 blocks for decoding.
      let packed = try #require(loaded.layers[0].mlp.down.packed)
      #expect(packed.format == .q8_0(groupSize: 64))
      #expect(try Self.decodedLogitsOf(loaded).count == Self.ids.count * 96)
      #expect(Self.worst(original, reread) < 0.05 * (original.map(abs).max() ?? 1))
    }
  }

  static func decodedLogitsOf(_ model: Llama) throws -> [Float] { try decodedLogits(model) }

  @Test func corruptQuantizedFilesAreOneClearError() throws {
    let model = try Self.llama(tied: false)
    let path = temporaryPath("llama2c-bad.bin")
    defer { try? FileManager.default.removeItem(atPath: path) }
    try model.saveLlama2c(to: path, q8GroupSize: 32)
    var bytes = try Data(contentsOf: URL(fileURLWithPath: path))
    // A group size that does not divide the width.
    var broken = bytes
    broken.replaceSubrange(37..<41, with: [48, 0, 0, 0])
    try broken.write(to: URL(fileURLWithPath: path))
    #expect(throws: CheckpointError.self) { try Llama2cCheckpoint(path: path) }
    // Blocks that no longer match the tensor shapes (one block's bytes missing).
    broken = bytes.dropLast(36)
    try broken.write(to: URL(fileURLWithPath: path))
    let error = #expect(throws: CheckpointError.self) { try Llama2cCheckpoint(path: path) }
    #expect(error?.description.contains("truncated") == true)
    // An int8 value of -128, which Q8_0 never writes.
    bytes[256 + 4 * (2 * 64 + 2 * 64 + 64)] = 0x80
    try bytes.write(to: URL(fileURLWithPath: path))
    #expect(throws: CheckpointError.self) { try Llama2cCheckpoint(path: path) }
  }
}

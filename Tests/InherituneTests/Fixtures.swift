import Foundation
import Inheritune
import Models
import NN
import TensorCore

/// Tiny random parents for the Inheritune tests.
enum Parents {
  /// A 4-block GPT-2 with 1/(ℓ + 1) attention scaling.
  static func gpt2(tied: Bool = true, layers: Int = 4, seed: UInt64 = 1) throws -> LoadedModel {
    var generator = RandomGenerator(seed: seed)
    let config = GPT2Configuration(
      vocabularySize: 13, contextLength: 12, width: 8, layers: layers, heads: 2,
      scaleAttentionByInverseLayerIndex: true, tiedEmbeddings: tied)
    let model = try GPT2(config, generator: &generator)
    // Non-trivial norms, so that copying them is visible.
    for p in model.namedParameters() where p.path.contains("ln_") {
      p.box.setTensor(Tensor.normal(p.box.tensor!.shape, std: 0.3, generator: &generator) + 1)
    }
    return .gpt2(model)
  }

  /// A 4-block Llama with grouped-query attention; `interleaved` mimics a llama2.c checkpoint.
  static func llama(tied: Bool = false, layers: Int = 4, interleaved: Bool = false, seed: UInt64 = 2) throws
    -> LoadedModel
  {
    var generator = RandomGenerator(seed: seed)
    let config = LlamaConfiguration(
      vocabularySize: 13, hiddenSize: 8, intermediateSize: 12, layers: layers, heads: 2, kvHeads: 1,
      contextLength: 12, tiedEmbeddings: tied, ropeInterleaved: interleaved)
    let model = try Llama(config, generator: &generator)
    for p in model.namedParameters() where p.path.hasSuffix("norm.weight") {
      p.box.setTensor(Tensor.normal(p.box.tensor!.shape, std: 0.3, generator: &generator) + 1)
    }
    return .llama(model)
  }

  /// Every kind of parent the tests cover.
  static func all() throws -> [LoadedModel] {
    [try gpt2(), try gpt2(tied: false), try llama(), try llama(tied: true, interleaved: true)]
  }

  /// Some token ids [1, 7].
  static let ids = Tensor(indices: [1, 5, 2, 12, 7, 0, 3], shape: [1, 7])
}

extension LoadedModel {
  /// The GPT-2 inside, or nil for another kind (unwrap with `#require`, so a wrong kind fails the test).
  var gpt2: GPT2? {
    if case .gpt2(let model) = self { return model }
    return nil
  }
}

/// The logits of `model` for ``Parents/ids``.
func logits(_ model: LoadedModel) throws -> [Float] {
  try model.languageModel!.logits(Parents.ids, state: nil).floats
}

/// A fresh temporary folder path.
func temporaryPath(_ name: String) -> String {
  (NSTemporaryDirectory() as NSString).appendingPathComponent("inheritune-\(name)-\(UUID().uuidString)")
}

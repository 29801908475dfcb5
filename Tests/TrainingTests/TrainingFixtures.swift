import Data
import Distributed
import Foundation
import Models
import NN
import TensorCore

@testable import Training

/// A fresh empty folder under the temporary directory.
func temporaryDirectory(_ name: String) throws -> String {
  let path = NSTemporaryDirectory() + "frontier-train-\(name)-\(UUID().uuidString)"
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Shards of a repetitive sequence (period 7 over a 16-token vocabulary) in `directory`.
func repetitiveShards(in directory: String) throws -> (TokenShard, TokenShard) {
  let pattern = [1, 5, 2, 9, 3, 3, 12]
  let tokens = (0..<4000).map { pattern[$0 % pattern.count] }
  try TokenShard.write(tokens, width: .uint16, to: directory + "/train.bin")
  try TokenShard.write(Array(tokens.prefix(500)), width: .uint16, to: directory + "/val.bin")
  return (try TokenShard(path: directory + "/train.bin"), try TokenShard(path: directory + "/val.bin"))
}

/// Shards of seeded random tokens (so that gradients are not degenerate).
func randomShards(in directory: String) throws -> (TokenShard, TokenShard) {
  var rng = RandomGenerator(seed: 99)
  let tokens = (0..<3000).map { _ in Int(rng.next() % 16) }
  try TokenShard.write(tokens, width: .uint16, to: directory + "/train.bin")
  try TokenShard.write(Array(tokens.prefix(400)), width: .uint16, to: directory + "/val.bin")
  return (try TokenShard(path: directory + "/train.bin"), try TokenShard(path: directory + "/val.bin"))
}

let tinyGPT = GPTConfiguration(vocabularySize: 16, contextLength: 8, layers: 1, heads: 2, width: 16)

/// A trainer for a tiny GPT whose initial weights depend only on `modelSeed`.
func makeTrainer(
  _ configuration: TrainingConfiguration, shards: (TokenShard, TokenShard), output: String? = nil,
  communicator: Communicator = SingleProcessCommunicator(), modelSeed: UInt64 = 1
) throws -> (Trainer, GPT) {
  var rng = RandomGenerator(seed: modelSeed)
  let model = try GPT(tinyGPT, generator: &rng)
  let trainer = try Trainer(
    model: model, configuration: configuration, train: shards.0, validation: shards.1, communicator: communicator,
    outputDirectory: output, modelDescription: "{\"gpt\":\"tiny\"}"
  ) { ids, _ in try model(ids) }
  return (trainer, model)
}

/// Every parameter's values, by path.
func weights(_ model: Module) -> [String: [Float]] {
  model.parameters().mapValues(\.floats)
}

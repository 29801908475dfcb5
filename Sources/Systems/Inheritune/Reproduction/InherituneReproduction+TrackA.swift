import Data
import Foundation
import Models
import Tokenizers

extension InherituneReproduction {
  /// Track A: the pretrained llama2.c stories260K model (5 blocks) as parent, TinyStories (tok512, 10% of the
  /// stories held out) as data; inherited students of 3 and 2 blocks vs a 3-block scratch model, and the grow
  /// loop from 3 blocks. Skipped, with a note, when the shared files are absent.
  func runTrackA() throws {
    guard let modelPath = DataLocation.existingFile("llama2c/stories260K.bin"),
      let tokenizerPath = DataLocation.existingFile("llama2c/tok512.bin"),
      let stories = DataLocation.existingFile("tinystories/tinystories_val_prefix.yuninxia.txt")
    else {
      log("track A skipped: llama2c/stories260K.bin, llama2c/tok512.bin or tinystories/ is absent")
      return
    }
    let parent = try ModelRegistry.load(modelPath)
    let directory = (workDirectory as NSString).appendingPathComponent("tinystories")
    if (try? ShardPreparer.readMeta(from: directory)) == nil {
      let tokenizer = try TokenizerLoader.load(tokenizerPath)
      let encoding = ClosureEncoding(name: "tok512", vocabularySize: tokenizer.vocabularySize, endOfText: nil) {
        tokenizer.encode($0)
      }
      var inputs = [stories]
      if let sample = DataLocation.existingFile("tinystories/tinystories_sample.cs336.txt") { inputs.append(sample) }
      try ShardPreparer.prepare(inputs: inputs, encoding: encoding, directory: directory, validationFraction: 0.1)
    }
    let data = RunData(
      train: try TokenShard(path: directory + "/train.bin"), validation: try TokenShard(path: directory + "/val.bin"))
    let s = settings
    let (context, interval) = (s.trackAContext, max(1, s.trackASteps / 10))
    let seed = s.seeds[0]
    let reference = try train(
      "stories260K parent", group: "track-a", parent, usesParent: false, inherited: "-", steps: 0, seed: seed, data,
      context: context, interval: interval)
    func student(_ n: Int, _ options: InheritanceOptions, _ name: String, group: String = "track-a") throws -> Float {
      let model = try Inheritune.makeStudent(from: parent, layers: n, options: options, seed: seed)
      return try train(
        name, group: group, model.model, usesParent: options != .nothing,
        inherited: options == .nothing ? "-" : options.list, steps: s.trackASteps, seed: seed, data, context: context,
        interval: interval
      ).finalLoss
    }
    let first = try student(3, .paper, "inherited-3")
    _ = try student(3, .nothing, "scratch-3")
    _ = try student(2, .paper, "inherited-2")
    _ = try Inheritune.grow(parent: parent, startLayers: 3, target: reference.finalLoss) { model in
      let n = model.parentBlocks.count
      return n == 3 ? first : try student(n, .paper, "grow: inherited-\(n)", group: "track-a grow")
    }
  }
}

import Checkpoints
import Foundation
import Models
import TensorCore

/// `frontier inspect FILE`: a checkpoint's config, parameter count and tensors (dtype, shape).
enum InspectCommand: Command {
  static let name = "inspect"
  static let summary =
    "Print a checkpoint's config, parameter count and tensors (safetensors, HF folder, llama2.c .bin)."
  static let usage = "frontier inspect FILE|FOLDER [--summary]"
  static let allowsPositional = true
  static let options = [OptionSpec("summary", "print the config and counts, not every tensor")]

  static func run(_ args: ParsedArguments) throws {
    guard args.positional.count == 1, let path = args.positional.first else {
      throw UsageError(message: "frontier inspect: expected exactly one FILE or FOLDER (see frontier inspect --help)")
    }
    guard FileManager.default.fileExists(atPath: path) else {
      throw UsageError(message: "frontier inspect: \(path) does not exist")
    }
    var tensors: [(name: String, dtype: String, shape: [Int])] = []
    if ModelRegistry.isLlama2c(path) {
      let file = try Llama2cCheckpoint(path: path)
      let h = file.header
      print("llama2.c checkpoint \(path) (format version \(h.version)\(h.version == 2 ? ", Q8_0" : ""))")
      print("  dim \(h.dim), hidden_dim \(h.hiddenDim), layers \(h.layers), heads \(h.heads), kv_heads \(h.kvHeads)")
      print("  vocab \(h.vocabularySize), seq_len \(h.contextLength), shared classifier \(h.sharedClassifier)")
      tensors = file.tensors.keys.sorted(by: naturalOrder).map {
        ($0, h.version == 2 && file.tensors[$0]!.rank == 2 ? "Q8_0 as float32" : "float32", file.tensors[$0]!.shape)
      }
    } else {
      let files: [SafetensorsFile]
      let url = URL(fileURLWithPath: path)
      if url.pathExtension == "safetensors" {
        files = [try SafetensorsFile(path: path)]
        let config = url.deletingLastPathComponent().appendingPathComponent("config.json").path
        printConfig(config)
      } else {
        let checkpoint = try HFCheckpoint(path: path)
        files = checkpoint.files
        printConfig(checkpoint.configPath)
      }
      for f in files {
        print("weights: \(f.path)")
        tensors += f.entries.map { ($0.name, "\($0.dtype)", $0.shape) }
      }
      tensors.sort { naturalOrder($0.name, $1.name) }
    }
    let parameters = tensors.reduce(0) { $0 + $1.shape.reduce(1, *) }
    print(
      "parameters: \(parameters) (\(String(format: "%.2f", Double(parameters) / 1e6))M) in \(tensors.count) tensors")
    guard !args.flag("summary") else { return }
    let width = min(tensors.map(\.name.count).max() ?? 0, 72)
    for t in tensors {
      print(
        "  \(t.name.padding(toLength: max(width, t.name.count), withPad: " ", startingAt: 0))  \(t.dtype)  \(t.shape)")
    }
  }

  /// Prints `config.json` when present.
  static func printConfig(_ path: String) {
    guard let data = FileManager.default.contents(atPath: path) else {
      print("config: none (\(path) is absent)")
      return
    }
    print("config: \(path)")
    print(String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines))
  }

  /// Orders names with embedded numbers numerically (layers.2 before layers.10).
  static func naturalOrder(_ a: String, _ b: String) -> Bool {
    a.compare(b, options: [.numeric]) == .orderedAscending
  }
}

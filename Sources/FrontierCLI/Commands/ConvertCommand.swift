import Checkpoints
import Foundation
import Models
import TensorCore

/// `frontier convert`: a Llama checkpoint between llama2.c `.bin` files and Hugging Face folders, and
/// between weight types.
enum ConvertCommand: Command {
  static let name = "convert"
  static let summary = "Convert a Llama checkpoint: llama2.c .bin <-> Hugging Face folder, f32/f16/bf16/q8_0."
  static let usage = "frontier convert --from PATH --to PATH [--dtype f32|f16|bf16|q8_0]"
  static let options = [
    OptionSpec("from", value: "PATH", "llama2.c .bin file or Hugging Face Llama folder"),
    OptionSpec("to", value: "PATH", "a path ending in .bin (llama2.c) or a folder (Hugging Face)"),
    OptionSpec(
      "dtype", value: "TYPE", default: "f32",
      "f32, f16 or bf16 (folders), f32 or q8_0 (llama2.c .bin: version 1 or version 2)"),
  ]

  static func run(_ args: ParsedArguments) throws {
    guard let from = args.string("from"), let to = args.string("to") else {
      throw UsageError(message: "frontier convert: pass --from PATH and --to PATH (see frontier convert --help)")
    }
    let dtype = args.string("dtype") ?? "f32"
    guard ["f32", "f16", "bf16", "q8_0"].contains(dtype) else {
      throw UsageError(message: "frontier convert: --dtype must be f32, f16, bf16 or q8_0, got '\(dtype)'")
    }
    let toLlama2c = to.hasSuffix(".bin")
    if toLlama2c && (dtype == "f16" || dtype == "bf16") {
      throw UsageError(
        message: "frontier convert: llama2.c .bin files hold f32 (version 1) or q8_0 (version 2), not \(dtype)")
    }
    if !toLlama2c && dtype == "q8_0" {
      throw UsageError(
        message: "frontier convert: q8_0 is written as a llama2.c version-2 .bin; give --to a path ending in .bin")
    }
    guard FileManager.default.fileExists(atPath: from) else {
      throw CLIError("\(from): not found; pass a llama2.c .bin file or a Hugging Face Llama folder")
    }
    try OutputGuard.refuseOverlap(output: to, option: "--to", inputs: [("--from", from)])
    var isDirectory: ObjCBool = false
    if FileManager.default.fileExists(atPath: to, isDirectory: &isDirectory), isDirectory.boolValue == toLlama2c {
      throw CLIError("\(to): exists and is a \(isDirectory.boolValue ? "folder" : "file"); choose another --to")
    }
    guard case .llama(let model) = try ModelRegistry.load(from) else {
      throw CLIError("\(from): only Llama-family checkpoints convert; this one has another model_type")
    }
    if toLlama2c {
      try model.saveLlama2c(to: to, q8GroupSize: dtype == "q8_0" ? model.llama2cGroupSize : nil)
    } else {
      try model.save(to: to, dtype: dtype == "f16" ? .float16 : dtype == "bf16" ? .bfloat16 : .float32)
    }
    print(
      "frontier convert: \(from) -> \(to) (\(toLlama2c ? "llama2.c" : "Hugging Face"), \(dtype)"
        + (dtype == "q8_0" ? ", blocks of \(model.llama2cGroupSize)" : "") + ")")
  }
}

import Checkpoints
import Foundation
import Kernels
import NN
import TensorCore

/// A model configuration stored as a Hugging Face `config.json`.
public protocol HFConfiguration: Codable, Sendable {
  /// The `model_type` value it is stored under.
  static var modelType: String { get }
  /// Throws a ``TensorError`` when the sizes do not fit together.
  func validate() throws
  /// The float32 tensors the sizes imply, by the keys they come from: checked against physical memory before
  /// anything is allocated (``HFCheckpoint/configuration(_:)``), and before ``validate()``, so it must not trap
  /// for any decoded sizes (huge or negative).
  var memoryTerms: [MemoryTerm] { get }
}

/// A Hugging Face model folder: `config.json` plus `model.safetensors` (or shards listed in
/// `model.safetensors.index.json`).
///
/// `path` may name the folder, its `config.json`, or a `.safetensors` file with `config.json` beside it.
public struct HFCheckpoint {
  /// The folder holding the files.
  public let directory: String
  /// The `config.json` path.
  public let configPath: String
  /// The raw `config.json` bytes.
  public let configData: Data
  /// The config's `model_type` (e.g. `"llama"`, `"gpt2"`, `"bert"`).
  public let modelType: String
  /// The weight files (one, or several shards).
  public let files: [SafetensorsFile]

  /// Opens a checkpoint; every problem is a one-line ``CheckpointError`` naming the file.
  public init(path: String) throws {
    let fm = FileManager.default
    var isDirectory: ObjCBool = false
    guard fm.fileExists(atPath: path, isDirectory: &isDirectory) else {
      throw CheckpointError(path: path, problem: "does not exist", remedy: "pass a model folder or file that exists")
    }
    let url = URL(fileURLWithPath: path)
    let folder = isDirectory.boolValue ? url : url.deletingLastPathComponent()
    directory = folder.path
    configPath = folder.appendingPathComponent("config.json").path
    guard let data = fm.contents(atPath: configPath) else {
      throw CheckpointError(
        path: configPath, problem: "is missing or unreadable",
        remedy: "put the model's Hugging Face config.json beside the weights")
    }
    configData = data
    guard let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any] else {
      throw CheckpointError(
        path: configPath, problem: "is not a JSON object", remedy: "restore the original config.json")
    }
    guard let type = object["model_type"] as? String else {
      throw CheckpointError(
        path: configPath, problem: "has no string \"model_type\"", remedy: "add \"model_type\" (llama, gpt2 or bert)")
    }
    modelType = type
    var weightPaths: [String]
    if !isDirectory.boolValue && url.pathExtension == "safetensors" {
      weightPaths = [url.path]
    } else if fm.fileExists(atPath: folder.appendingPathComponent("model.safetensors").path) {
      weightPaths = [folder.appendingPathComponent("model.safetensors").path]
    } else {
      let indexPath = folder.appendingPathComponent("model.safetensors.index.json").path
      guard let indexData = fm.contents(atPath: indexPath) else {
        throw CheckpointError(
          path: directory, problem: "holds neither model.safetensors nor model.safetensors.index.json",
          remedy: "download the safetensors weights of this model")
      }
      guard let index = try? JSONSerialization.jsonObject(with: indexData) as? [String: Any],
        let map = index["weight_map"] as? [String: String]
      else {
        throw CheckpointError(
          path: indexPath, problem: "has no \"weight_map\" object", remedy: "restore the original index file")
      }
      weightPaths = Set(map.values).sorted().map { folder.appendingPathComponent($0).path }
    }
    files = try weightPaths.map { try SafetensorsFile(path: $0) }
  }

  /// Decodes and validates `config.json`; a failure becomes one line naming the file and the key.
  public func configuration<C: HFConfiguration>(_ type: C.Type) throws -> C {
    guard modelType == C.modelType else {
      throw CheckpointError(
        path: configPath, problem: "has model_type \"\(modelType)\", not \"\(C.modelType)\"",
        remedy: "load it with the \(modelType) model (see ModelRegistry)")
    }
    do {
      let config = try JSONDecoder().decode(C.self, from: configData)
      // Memory first, so that a size no machine here holds is named with the limit; then the ranges
      // (1 ... ``largestConfigurationSize``) and how the sizes fit together.
      if let problem = MemoryBudget.problem(config.memoryTerms, as: "float32") {
        throw CheckpointError(
          path: configPath, problem: problem,
          remedy: "fix config.json, or load the model on a machine with more memory")
      }
      try config.validate()
      return config
    } catch let error as DecodingError {
      throw CheckpointError(
        path: configPath, problem: Self.describe(error),
        remedy: "fix config.json or use the one shipped with the weights")
    } catch let error as TensorError {
      throw CheckpointError(path: configPath, problem: error.message, remedy: "fix config.json")
    }
  }

  /// The file and entry holding tensor `name`, if any.
  public func entry(_ name: String) -> (file: SafetensorsFile, entry: SafetensorsEntry)? {
    for f in files { if let e = f[name] { return (f, e) } }
    return nil
  }

  /// Every tensor name in the weight files.
  public var tensorNames: [String] { files.flatMap { $0.entries.map(\.name) } }

  /// Copies every parameter of `module` from the weights as owned float32 tensors.
  ///
  /// A parameter path is looked up as is, then under each name `aliases` returns (e.g. without a
  /// `transformer.` prefix). Every tensor is matched against the file headers before any is read: a missing
  /// tensor, a shape that disagrees with the one `config.json` implies, or a tensor of the files that no
  /// parameter takes (more layers than the config names, another model's tensors) is a one-line error
  /// naming the tensors; names for which `ignoring` is true (buffers, heads the model does not have) may be
  /// left over. `module` may hold placeholders (``TensorCore/Tensor/placeholder(_:)``): only their shapes
  /// are read.
  public func load(
    into module: Module, aliases: (String) -> [String] = { _ in [] }, ignoring: (String) -> Bool = { _ in false }
  ) throws {
    var plan: [(parameter: NamedParameter, file: SafetensorsFile, entry: SafetensorsEntry)] = []
    var missing: [String] = []
    for p in module.namedParameters() {
      guard let current = p.box.tensor else { continue }
      guard let (file, entry) = ([p.path] + aliases(p.path)).lazy.compactMap({ self.entry($0) }).first else {
        missing.append(p.path)
        continue
      }
      guard entry.shape == current.shape else {
        throw CheckpointError(
          path: file.path,
          problem: "tensor \(entry.name) has shape \(entry.shape) but config.json implies \(current.shape)",
          remedy: "use the config.json that came with these weights")
      }
      guard entry.dtype.isFloatingPoint else {
        throw CheckpointError(
          path: file.path, problem: "tensor \(entry.name) has dtype \(entry.dtype), not a float type",
          remedy: "convert the weights to float32, float16 or bfloat16")
      }
      plan.append((p, file, entry))
    }
    if !missing.isEmpty {
      throw CheckpointError(
        path: files.first?.path ?? directory,
        problem: "has no tensor \(Self.list(missing)), which config.json implies",
        remedy: "check that config.json belongs to these weights")
    }
    let used = Set(plan.map(\.entry.name))
    let extra = tensorNames.filter { !used.contains($0) && !ignoring($0) }
    if !extra.isEmpty {
      throw CheckpointError(
        path: files.first?.path ?? directory,
        problem: "holds \(extra.count == 1 ? "a tensor" : "\(extra.count) tensors") that config.json does not name: "
          + Self.list(extra) + Self.layerNote(extra: extra, used: used),
        remedy: "use the config.json that came with these weights")
    }
    for (p, file, entry) in plan {
      p.box.setTensor(try file.tensor(entry.name).converted(to: .float32).copied())
    }
  }

  /// Throws the error ``load(into:aliases:ignoring:)`` would throw for the tensors of layers the weights do
  /// not hold, when `config.json` names more layers (`layers`, under `key`) than they do, before a model of
  /// that many layers is built: placeholders hold no tensor memory, but a million layers of modules still
  /// take gigabytes and minutes. The missing names are those of the weights' last layer, renumbered.
  public func checkLayerCount(_ layers: Int, key: String) throws {
    let names = tensorNames
    let held = (names.compactMap { Self.layerIndex($0)?.index }.max() ?? -1) + 1
    guard layers > held else { return }
    let path = files.first?.path ?? directory
    let remedy = "check that config.json belongs to these weights"
    let template = names.filter { Self.layerIndex($0)?.index == held - 1 }
    guard !template.isEmpty else {
      throw CheckpointError(
        path: path, problem: "has no tensor of layers 0...\(layers - 1), which config.json implies (\(key) \(layers))",
        remedy: remedy)
    }
    // The first few names (as ``list(_:limit:)`` shows them) without spelling out every missing layer.
    var shown: [String] = []
    for layer in held..<min(layers, held + 4) {
      for name in template {
        guard let (_, component) = Self.layerIndex(name) else { continue }
        var parts = name.split(separator: ".", omittingEmptySubsequences: false).map(String.init)
        parts[component] = String(layer)
        shown.append(parts.joined(separator: "."))
      }
    }
    let missing = (layers - held) * template.count
    let listed = shown.prefix(4).joined(separator: ", ") + (missing > 4 ? " and \(missing - 4) more" : "")
    throw CheckpointError(
      path: path,
      problem: "has no tensor \(listed), which config.json implies (\(key) \(layers); the weights hold \(held))",
      remedy: remedy)
  }

  /// The layer number of a tensor of a numbered layer (`layers.N.`, `h.N.`, `layer.N.`) and the position of
  /// the number among the name's dot-separated parts; nil for other tensors.
  static func layerIndex(_ name: String) -> (index: Int, component: Int)? {
    let parts = name.split(separator: ".", omittingEmptySubsequences: false)
    for (i, part) in parts.enumerated().dropLast() where ["layers", "h", "layer"].contains(part) {
      if let n = Int(parts[i + 1]) { return (n, i + 1) }
    }
    return nil
  }

  /// The first few of `names` and how many more.
  static func list(_ names: [String], limit: Int = 4) -> String {
    let shown = names.prefix(limit).joined(separator: ", ")
    return names.count > limit ? "\(shown) and \(names.count - limit) more" : shown
  }

  /// "(layers 2...3 beyond the 2 that config.json names)" when leftover tensors belong to numbered layers
  /// (`layers.N.`, `h.N.`, `layer.N.`) past those the used tensors cover; else "".
  static func layerNote(extra: [String], used: Set<String>) -> String {
    let configured = (used.compactMap { layerIndex($0)?.index }.max() ?? -1) + 1
    let beyond = Set(extra.compactMap { layerIndex($0)?.index }).filter { $0 >= configured }.sorted()
    guard let first = beyond.first, let last = beyond.last else { return "" }
    let which =
      first == last
      ? "layer \(first)"
      : beyond.count == last - first + 1
        ? "layers \(first)...\(last)" : "layers " + beyond.map(String.init).joined(separator: ", ")
    return " (\(which) beyond the \(configured) that config.json names)"
  }

  /// One line for a JSON decoding failure: which key, and what was wrong.
  static func describe(_ error: DecodingError) -> String {
    func path(_ keys: [CodingKey]) -> String {
      keys.isEmpty
        ? "the top level"
        : "\""
          + keys.map { $0.intValue.map(String.init) ?? $0.stringValue }
          .joined(separator: ".") + "\""
    }
    switch error {
    case .keyNotFound(let key, let context):
      return "lacks the required key \(path(context.codingPath + [key]))"
    case .typeMismatch(let type, let context):
      return "has the wrong type at \(path(context.codingPath)) (expected \(type))"
    case .valueNotFound(let type, let context):
      return "has null at \(path(context.codingPath)) (expected \(type))"
    case .dataCorrupted(let context):
      return "is not valid at \(path(context.codingPath)): \(context.debugDescription)"
    @unknown default:
      return "could not be decoded"
    }
  }
}

/// Writes `object` as pretty, key-sorted JSON to `path` atomically (temporary file, then rename).
func writeJSONAtomically<T: Encodable>(_ object: T, to path: String) throws {
  let encoder = JSONEncoder()
  encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
  do {
    try encoder.encode(object).write(to: URL(fileURLWithPath: path), options: .atomic)
  } catch {
    throw CheckpointError(
      path: path, problem: "could not be written (\(error))", remedy: "check the folder's permissions")
  }
}

/// Creates `directory` (and its parents) when missing.
func createDirectory(_ directory: String) throws {
  do {
    try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
  } catch {
    throw CheckpointError(
      path: directory, problem: "could not be created (\(error))", remedy: "choose a writable folder")
  }
}

/// The largest size a configuration may state (vocabulary, width, layers, heads, context, ...): far above any
/// real model's, and small enough that products of two sizes cannot overflow.
let largestConfigurationSize = 1 << 24

/// Throws, naming the first offending key, unless every size lies in 1 ... ``largestConfigurationSize``.
func checkSizes(_ sizes: KeyValuePairs<String, Int>, _ type: String) throws {
  for (key, size) in sizes where size < 1 || size > largestConfigurationSize {
    throw TensorError(type, "\(key) is \(size); sizes must lie in 1...\(largestConfigurationSize)")
  }
}

/// Throws a configuration problem as a ``TensorError`` (the loader adds the file name).
func configurationCheck(_ condition: Bool, _ type: String, _ message: @autoclosure () -> String) throws {
  if !condition { throw TensorError(type, message()) }
}

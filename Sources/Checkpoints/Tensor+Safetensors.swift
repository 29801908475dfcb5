import NN
import TensorCore

extension SafetensorsFile {
  /// A zero-copy, read-only tensor over an entry's bytes (in the file's dtype).
  public func tensor(_ name: String) throws -> Tensor {
    guard let entry = self[name] else {
      throw CheckpointError(
        path: path, problem: "has no tensor named \(name)", remedy: "check the tensor names with `frontier inspect`")
    }
    return Tensor(storage: buffer(for: entry), shape: entry.shape, dtype: entry.dtype)
  }

  /// Every tensor by name (zero-copy views).
  public func tensors() throws -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for e in entries { out[e.name] = try tensor(e.name) }
    return out
  }
}

extension SafetensorsRecord {
  /// The bytes of a tensor in its own dtype, in row-major order.
  public init(name: String, tensor: Tensor) {
    let c = tensor.contiguous()
    let bytes = c.storage.bytes(offset: c.offset * c.dtype.byteSize, count: c.count * c.dtype.byteSize)
    self.init(name: name, dtype: c.dtype, shape: c.shape, bytes: bytes)
  }
}

extension Module {
  /// Writes every parameter (each shared storage once, under its first path) to a safetensors file, atomically.
  public func saveSafetensors(to path: String, metadata: [String: String] = [:]) throws {
    var seen = Set<ObjectIdentifier>()
    var records: [SafetensorsRecord] = []
    for p in namedParameters() {
      guard let t = p.box.tensor, seen.insert(ObjectIdentifier(t.storage)).inserted else { continue }
      records.append(SafetensorsRecord(name: p.path, tensor: t))
    }
    try SafetensorsWriter.write(records, metadata: metadata, to: path)
  }

  /// Loads parameters from a safetensors file as owned float32 copies.
  ///
  /// With `strict`, every parameter must be in the file and every tensor in the file must be a parameter.
  /// Shapes must match and values be finite. Parameters that share storage (tied weights) may be stored once.
  /// Every shape is checked against the file's header before any tensor is read, and every value before any
  /// parameter is replaced, so a mismatch or a non-finite value leaves the module as it was.
  public func loadSafetensors(from path: String, strict: Bool = true) throws {
    let file = try SafetensorsFile(path: path)
    var stored: [ObjectIdentifier: String] = [:]
    var used = Set<String>()
    for p in namedParameters() {
      guard let current = p.box.tensor else { continue }
      let id = ObjectIdentifier(current.storage)
      if let entry = file[p.path] {
        guard entry.shape == current.shape else {
          throw CheckpointError(
            path: path, problem: "tensor \(p.path) has shape \(entry.shape) but the model expects \(current.shape)",
            remedy: "check that the configuration matches the checkpoint")
        }
        used.insert(p.path)
        if stored[id] == nil { stored[id] = p.path }
      } else if strict && stored[id] == nil {
        // A tied parameter met first under a name the file lacks may still be stored under a later one.
        let tied = namedParameters().contains { other in
          other.box.tensor.map { ObjectIdentifier($0.storage) == id } == true && file[other.path] != nil
        }
        if !tied {
          throw CheckpointError(
            path: path, problem: "has no tensor for parameter \(p.path)",
            remedy: "check that the model matches the checkpoint")
        }
      }
    }
    if strict, let extra = file.entries.map(\.name).first(where: { !used.contains($0) }) {
      throw CheckpointError(
        path: path, problem: "holds tensor \(extra) that the model does not have",
        remedy: "check that the model matches the checkpoint")
    }
    // Keeps the current tensors alive so that storage identities stay unique while we swap them.
    let originals = namedParameters().compactMap { $0.box.tensor }
    defer { withExtendedLifetime(originals) {} }
    var loaded: [ObjectIdentifier: Tensor] = [:]
    for (id, name) in stored.sorted(by: { $0.value < $1.value }) {
      let t = try file.tensor(name).converted(to: .float32).copied()
      if let index = t.firstNonFiniteIndex() {
        throw CheckpointError(
          path: path, problem: "tensor \(name) holds a non-finite value (NaN or infinity) at element \(index)",
          remedy: "the checkpoint is corrupt or diverged; restore it or use an earlier one")
      }
      loaded[id] = t
    }
    for p in namedParameters() {
      guard let t = p.box.tensor, let replacement = loaded[ObjectIdentifier(t.storage)] else { continue }
      p.box.setTensor(replacement)
    }
  }
}

/// Saving and restoring an optimizer's state.
public enum OptimizerState {
  /// Writes the optimizer's state tensors to a safetensors file, atomically.
  public static func save(_ optimizer: Optimizer, to path: String) throws {
    let records = optimizer.stateTensors().sorted { $0.key < $1.key }.map {
      SafetensorsRecord(name: $0.key, tensor: $0.value)
    }
    try SafetensorsWriter.write(records, metadata: ["format": "frontier-optimizer"], to: path)
  }

  /// Restores state written by ``save(_:to:)``: every value must be finite and, with `model`, every saved
  /// tensor (`m.<path>`, `v.<path>`, `buf.<path>`; besides `step`) must belong to a trainable parameter of
  /// `model` and have its shape, so that a corrupt or foreign state is an error naming the file, not a wrong
  /// update.
  public static func load(_ optimizer: Optimizer, from path: String, for model: Module? = nil) throws {
    let file = try SafetensorsFile(path: path)
    let tensors = try file.tensors()
    for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) {
      if let index = tensor.converted(to: .float32).firstNonFiniteIndex() {
        throw CheckpointError(
          path: path, problem: "optimizer state \(name) holds a non-finite value (NaN or infinity) at element \(index)",
          remedy: "the checkpoint is corrupt or diverged; restore it or use an earlier one")
      }
    }
    if let model {
      var shapes: [String: [Int]] = [:]
      for p in model.trainableParameters() { if let t = p.box.tensor { shapes[p.path] = t.shape } }
      for (name, tensor) in tensors.sorted(by: { $0.key < $1.key }) where name != "step" {
        let parameter = name.split(separator: ".", maxSplits: 1).last.map(String.init) ?? name
        guard let shape = shapes[parameter], name.contains(".") else {
          throw CheckpointError(
            path: path, problem: "holds optimizer state \(name) for no trainable parameter of the model",
            remedy: "use the optimizer state saved with this model")
        }
        guard tensor.shape == shape else {
          throw CheckpointError(
            path: path, problem: "holds optimizer state \(name) of shape \(tensor.shape) for a parameter of \(shape)",
            remedy: "use the optimizer state saved with this model")
        }
      }
    }
    do {
      try optimizer.loadState(tensors)
    } catch let error as TensorError {
      throw CheckpointError(path: path, problem: "is not a usable optimizer state (\(error.message))")
    }
  }
}

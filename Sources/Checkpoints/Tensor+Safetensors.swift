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
  /// Shapes must match. Parameters that share storage (tied weights) may be stored once. Every shape is
  /// checked against the file's header before any tensor is read, so a mismatch leaves the module as it was.
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
    for (id, name) in stored { loaded[id] = try file.tensor(name).converted(to: .float32).copied() }
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

  /// Restores state written by ``save(_:to:)``.
  public static func load(_ optimizer: Optimizer, from path: String) throws {
    let file = try SafetensorsFile(path: path)
    do {
      try optimizer.loadState(try file.tensors())
    } catch let error as TensorError {
      throw CheckpointError(path: path, problem: "is not a usable optimizer state (\(error.message))")
    }
  }
}

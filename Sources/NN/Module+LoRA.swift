import TensorCore

extension Module {
  /// This module and every descendant with its dotted path ("" for this module), in tree order.
  public func namedModules(prefix: String = "") -> [(path: String, module: Module)] {
    var result: [(path: String, module: Module)] = [(prefix, self)]
    for (key, child) in children() {
      result += child.namedModules(prefix: prefix.isEmpty ? key : prefix + "." + key)
    }
    return result
  }

  /// Attaches LoRA adapters to every ``Linear`` whose path ends in one of `targets` (e.g. `q_proj`, `v_proj`)
  /// and freezes every other parameter, so only the adapters train. Returns the adapted layers' paths.
  ///
  /// Throws when no layer matches, naming the layer names the model has.
  @discardableResult
  public func addLoRA(rank: Int, alpha: Float, targets: [String], generator: inout RandomGenerator) throws
    -> [String]
  {
    let linears = namedModules().compactMap { entry in (entry.module as? Linear).map { (entry.path, $0) } }
    let chosen = linears.filter { path, _ in targets.contains { path == $0 || path.hasSuffix("." + $0) } }
    guard !chosen.isEmpty else {
      let names = Set(linears.map { $0.0.split(separator: ".").last.map(String.init) ?? $0.0 }).sorted()
      throw TensorError(
        "addLoRA",
        "no Linear layer is named \(targets.joined(separator: ", ")); this model has: \(names.joined(separator: ", "))")
    }
    freeze()
    for (_, layer) in chosen { try layer.attachLoRA(rank: rank, alpha: alpha, generator: &generator) }
    return chosen.map(\.0)
  }

  /// Folds every LoRA adapter into its layer's weight (for export); the model's outputs stay the same.
  public func mergeLoRA() throws {
    for entry in namedModules() { try (entry.module as? Linear)?.mergeAdapter() }
  }
}

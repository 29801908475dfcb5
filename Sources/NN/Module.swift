import TensorCore

/// A value a ``Parameter`` can hold: a tensor, or an optional one (e.g. a bias that may be absent).
public protocol ParameterValue {
  /// The tensor, if present.
  var parameterTensor: Tensor? { get }
  /// Rebuilds the value around a tensor.
  static func fromParameterTensor(_ tensor: Tensor) -> Self
}

extension Tensor: ParameterValue {
  /// The tensor itself.
  public var parameterTensor: Tensor? { self }
  /// The tensor itself.
  public static func fromParameterTensor(_ tensor: Tensor) -> Tensor { tensor }
}

extension Optional: ParameterValue where Wrapped == Tensor {
  /// The wrapped tensor.
  public var parameterTensor: Tensor? { self }
  /// The tensor, wrapped.
  public static func fromParameterTensor(_ tensor: Tensor) -> Tensor? { tensor }
}

/// Type-erased access to a parameter box, for the module tree walk.
public protocol ParameterBox: AnyObject {
  /// The checkpoint key, when it differs from the Swift property name.
  var key: String? { get }
  /// Whether optimizers leave it alone.
  var isFrozen: Bool { get set }
  /// The current tensor, if any.
  var tensor: Tensor? { get }
  /// Replaces the tensor.
  func setTensor(_ tensor: Tensor)
}

/// Marks a learnable tensor of a ``Module``; `key` renames it in the parameter tree (checkpoint keys).
///
/// With a key and no initial value (`@Parameter(key: "lm_head") var head: Tensor?`), assign it after
/// `super.init()`.
@propertyWrapper
public final class Parameter<Value: ParameterValue>: ParameterBox {
  private var value: Value?
  /// The checkpoint key, when it differs from the property name.
  public let key: String?
  /// Whether optimizers leave it alone.
  public var isFrozen = false

  /// Wraps an initial value.
  public init(wrappedValue: Value, key: String? = nil) {
    self.value = wrappedValue
    self.key = key
  }

  /// A renamed parameter whose value is assigned after `super.init()`.
  public init(key: String) {
    self.value = nil
    self.key = key
  }

  /// The held value; reading it before it is assigned is a programming error.
  public var wrappedValue: Value {
    get {
      guard let value else { preconditionFailure("parameter \(key ?? "") read before it was assigned") }
      return value
    }
    set { value = newValue }
  }

  /// The current tensor, if any.
  public var tensor: Tensor? { value?.parameterTensor ?? nil }
  /// Replaces the tensor.
  public func setTensor(_ tensor: Tensor) { wrappedValue = .fromParameterTensor(tensor) }
}

/// Renames a submodule (or an array of submodules) in the parameter tree.
///
/// Declare `@Child(key: "self_attn") var attention: Attention` and assign it after `super.init()`.
@propertyWrapper
public final class Child<Value> {
  private var value: Value?
  /// The key used in parameter paths.
  public let key: String

  /// Wraps a submodule under `key`.
  public init(wrappedValue: Value, key: String) {
    self.value = wrappedValue
    self.key = key
  }

  /// A child whose value is assigned after `super.init()`.
  public init(key: String) {
    self.value = nil
    self.key = key
  }

  /// The submodule(s); reading before assignment is a programming error.
  public var wrappedValue: Value {
    get {
      guard let value else { preconditionFailure("submodule \(key) read before it was assigned") }
      return value
    }
    set { value = newValue }
  }
}

/// A named parameter with its dotted path.
public struct NamedParameter {
  /// The dotted path, e.g. `model.layers.0.self_attn.q_proj.weight`.
  public let path: String
  /// The box holding it.
  public let box: ParameterBox
}

/// The base class of layers and models.
///
/// Parameters (``Parameter`` properties), submodules (properties of a ``Module`` type, optional
/// modules, arrays of modules, and ``Child`` wrappers) are found by reflection, so a model declares
/// its structure once and gets `parameters()`, `update(parameters:)`, `freeze()` and train/eval mode.
open class Module {
  /// Whether the module is in training mode (dropout active).
  public private(set) var isTraining = true

  /// Creates a module.
  public init() {}

  /// Direct children as (key, module) pairs, in declaration order.
  public func children() -> [(String, Module)] {
    var result: [(String, Module)] = []
    var mirror: Mirror? = Mirror(reflecting: self)
    var chain: [Mirror] = []
    while let m = mirror {
      chain.append(m)
      mirror = m.superclassMirror
    }
    for m in chain.reversed() {
      for child in m.children {
        guard let label = child.label else { continue }
        let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
        Module.collectModules(child.value, name: name, into: &result)
      }
    }
    return result
  }

  private static func collectModules(_ value: Any, name: String, into result: inout [(String, Module)]) {
    if let m = value as? Module {
      result.append((name, m))
    } else if let ms = value as? [Module] {
      for (i, m) in ms.enumerated() { result.append(("\(name).\(i)", m)) }
    } else if let box = value as? ChildBox {
      collectModules(box.childValue, name: box.key, into: &result)
    } else if let opt = value as? OptionalModule, let m = opt.wrappedModule {
      result.append((name, m))
    }
  }

  /// Direct parameters as (key, box) pairs, in declaration order.
  public func ownParameters() -> [(String, ParameterBox)] {
    var result: [(String, ParameterBox)] = []
    var chain: [Mirror] = []
    var mirror: Mirror? = Mirror(reflecting: self)
    while let m = mirror {
      chain.append(m)
      mirror = m.superclassMirror
    }
    for m in chain.reversed() {
      for child in m.children {
        guard let label = child.label, let box = child.value as? ParameterBox else { continue }
        let name = label.hasPrefix("_") ? String(label.dropFirst()) : label
        result.append((box.key ?? name, box))
      }
    }
    return result
  }

  /// Every parameter that holds a tensor, with its dotted path.
  public func namedParameters(prefix: String = "") -> [NamedParameter] {
    var result: [NamedParameter] = []
    for (key, box) in ownParameters() where box.tensor != nil {
      result.append(NamedParameter(path: prefix + key, box: box))
    }
    for (key, child) in children() {
      result += child.namedParameters(prefix: prefix + key + ".")
    }
    return result
  }

  /// Parameters by dotted path.
  public func parameters() -> [String: Tensor] {
    var out: [String: Tensor] = [:]
    for p in namedParameters() { out[p.path] = p.box.tensor }
    return out
  }

  /// Parameters that are not frozen, in tree order.
  public func trainableParameters() -> [NamedParameter] {
    namedParameters().filter { !$0.box.isFrozen }
  }

  /// Total number of scalar parameters (each shared tensor counted once).
  public var parameterCount: Int {
    var seen = Set<ObjectIdentifier>()
    var total = 0
    for p in namedParameters() {
      guard let t = p.box.tensor, seen.insert(ObjectIdentifier(t.storage)).inserted else { continue }
      total += t.count
    }
    return total
  }

  /// Replaces parameters by path; unknown paths and shape changes are errors that name the key.
  public func update(parameters: [String: Tensor]) throws {
    let boxes = Dictionary(namedParameters().map { ($0.path, $0.box) }, uniquingKeysWith: { a, _ in a })
    for (path, tensor) in parameters {
      guard let box = boxes[path] else {
        throw TensorError("update", "the model has no parameter named \(path)")
      }
      if let old = box.tensor, old.shape != tensor.shape {
        throw TensorError.shapes("update", old.shape, tensor.shape, "differ for parameter \(path)")
      }
      box.setTensor(tensor)
    }
  }

  /// Freezes every parameter (or those whose path starts with one of `prefixes`).
  public func freeze(_ prefixes: [String]? = nil) {
    for p in namedParameters() where prefixes == nil || prefixes!.contains(where: { p.path.hasPrefix($0) }) {
      p.box.isFrozen = true
    }
  }

  /// Unfreezes every parameter (or those whose path starts with one of `prefixes`).
  public func unfreeze(_ prefixes: [String]? = nil) {
    for p in namedParameters() where prefixes == nil || prefixes!.contains(where: { p.path.hasPrefix($0) }) {
      p.box.isFrozen = false
    }
  }

  /// Switches this module and all descendants to training (`true`) or evaluation mode.
  public func train(_ on: Bool = true) {
    isTraining = on
    for (_, c) in children() { c.train(on) }
  }

  /// Evaluation mode.
  public func eval() { train(false) }
}

/// Type-erased view of ``Child``.
protocol ChildBox {
  var key: String { get }
  var childValue: Any { get }
}

extension Child: ChildBox {
  var childValue: Any { value as Any }
}

/// Type-erased view of an optional submodule.
protocol OptionalModule {
  var wrappedModule: Module? { get }
}

extension Optional: OptionalModule {
  var wrappedModule: Module? {
    if case .some(let v) = self { return v as? Module }
    return nil
  }
}

/// The value of `f(model)` and its gradient with respect to every trainable parameter, by path.
///
/// Parameters are tracked for the duration of the call and restored afterwards, so the model can be
/// used as usual inside `f`.
public func valueAndGradient<M: Module>(
  of model: M, _ f: (M) throws -> Tensor
) throws -> (value: Tensor, gradients: [String: Tensor]) {
  let params = model.trainableParameters()
  var seen: [ObjectIdentifier: Tensor] = [:]
  var leaves: [Tensor] = []
  var originals: [Tensor] = []
  for p in params {
    let t = p.box.tensor!
    originals.append(t)
    // Tied weights share one storage: they share one leaf, so their gradients add up.
    let id = ObjectIdentifier(t.storage)
    let leaf = seen[id] ?? t.detached().trackingGradients()
    seen[id] = leaf
    leaves.append(leaf)
    p.box.setTensor(leaf)
  }
  defer {
    for (p, t) in zip(params, originals) { p.box.setTensor(t) }
  }
  let value = try f(model)
  guard value.count == 1 else {
    throw TensorError("valueAndGradient", "the loss must have one element, got shape \(value.shape)")
  }
  let grads = try value.gradients(withRespectTo: leaves)
  var out: [String: Tensor] = [:]
  for (p, g) in zip(params, grads) { out[p.path] = g }
  return (value.detached(), out)
}

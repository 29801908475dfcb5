import TensorCore

/// What one layer remembers of the tokens it has seen while decoding: an attention layer's keys and
/// values, a recurrent layer's state (CEMA, SSM), a windowed cache.
///
/// A model creates its own states (``LanguageModel/makeState(batch:capacity:)``), one per layer; generation
/// only moves them through positions: ``trim(toPosition:)`` to roll back rejected drafts, ``snapshot()`` and
/// ``restore(_:)`` to branch from a shared prefix, ``tensors()`` and ``load(tensors:metadata:)`` to save one
/// to disk and continue later.
public protocol LayerState: AnyObject {
  /// A short name of the kind of state (`"attention"`, ...), stored with saved states and checked on load.
  var kind: String { get }
  /// The sequence position of the next token (every position before it has been fed).
  var position: Int { get }
  /// Forgets every position from `position` on; throws when the state cannot go back that far (a window
  /// that has dropped those rows, a recurrent state without the history).
  func trim(toPosition position: Int) throws
  /// An independent copy of the contents, for ``restore(_:)``.
  func snapshot() -> any LayerState
  /// Replaces the contents by those of `snapshot` (a ``snapshot()`` of a state of the same kind and shape).
  func restore(_ snapshot: any LayerState) throws
  /// The contents as named tensors and metadata, for saving (only what is held, not spare capacity).
  func tensors() throws -> (tensors: [String: Tensor], metadata: [String: String])
  /// Replaces the contents by saved ``tensors()``; throws, naming what differs, when they do not fit this
  /// state's shape.
  func load(tensors: [String: Tensor], metadata: [String: String]) throws
}

/// A model's decoding state: one ``LayerState`` per layer, moved through positions together.
public final class DecodingState {
  /// The per-layer states, in layer order.
  public private(set) var layers: [any LayerState]

  /// A state made of `layers`.
  public init(layers: [any LayerState]) { self.layers = layers }

  /// The sequence position of the next token (that of the first layer; every layer agrees between passes).
  public var position: Int { layers.first?.position ?? 0 }

  /// The attention keys and values of layer `index`, or a clear error when that layer holds another kind.
  public func attention(_ index: Int) throws -> AttentionKV {
    guard layers.indices.contains(index) else {
      throw TensorError("DecodingState", "layer \(index) is outside the state's \(layers.count) layers")
    }
    guard let state = layers[index] as? AttentionKV else {
      throw TensorError(
        "DecodingState", "layer \(index) holds a \(layers[index].kind) state, not attention keys and values")
    }
    return state
  }

  /// Every layer's attention state, or nil when some layer holds another kind.
  public var attentionLayers: [AttentionKV]? {
    let states = layers.compactMap { $0 as? AttentionKV }
    return states.count == layers.count ? states : nil
  }

  /// Forgets every position from `position` on, in every layer.
  public func trim(toPosition position: Int) throws {
    guard position >= 0, position <= self.position else {
      throw TensorError("DecodingState", "cannot trim to position \(position): the state holds \(self.position)")
    }
    for layer in layers { try layer.trim(toPosition: position) }
  }

  /// An independent copy of every layer's contents.
  public func snapshot() -> DecodingState { DecodingState(layers: layers.map { $0.snapshot() }) }

  /// Returns every layer to the contents of `snapshot` (taken from a state of the same model and shape).
  public func restore(_ snapshot: DecodingState) throws {
    guard snapshot.layers.count == layers.count else {
      throw TensorError("DecodingState", "a snapshot of \(snapshot.layers.count) layers cannot restore \(layers.count)")
    }
    for (layer, saved) in zip(layers, snapshot.layers) { try layer.restore(saved) }
  }

  /// Replaces the state of layer `index` (TriForce swaps in a sparse cache built from a dense one).
  public func replaceLayer(_ index: Int, with state: any LayerState) throws {
    guard layers.indices.contains(index) else {
      throw TensorError("DecodingState", "layer \(index) is outside the state's \(layers.count) layers")
    }
    layers[index] = state
  }
}

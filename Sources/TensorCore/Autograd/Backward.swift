/// Reverse-mode differentiation over the recorded tape.
extension Tensor {
  /// Gradients of `self` (any shape; seeded with `seed`, default ones) with respect to each of `leaves`.
  ///
  /// Leaves must come from ``trackingGradients()``. A leaf the output does not depend on gets zeros.
  public func gradients(withRespectTo leaves: [Tensor], seed: Tensor? = nil) throws -> [Tensor] {
    guard let root = node else {
      return leaves.map { Tensor.zeros($0.shape) }
    }
    let order = Tensor.topologicalOrder(from: root)
    var grads: [ObjectIdentifier: Tensor] = [:]
    grads[ObjectIdentifier(root)] = seed ?? Tensor.ones(shape)
    var wanted = Set<ObjectIdentifier>()
    for leaf in leaves {
      if let n = leaf.node { wanted.insert(ObjectIdentifier(n)) }
    }
    // Gradients we allocated ourselves and handed to no backward function yet: safe to add into in place.
    var owned = Set<ObjectIdentifier>()
    func ownedBuffer(_ key: ObjectIdentifier, shape: [Int]) -> Tensor {
      if let existing = grads[key] {
        if owned.contains(key) { return existing }
        return existing.contiguous().copiedStorage()
      }
      return Tensor.zeros(shape)
    }
    try withoutGradients {
      for n in order.reversed() {
        let id = ObjectIdentifier(n)
        guard let g = grads[id] else { continue }
        if !wanted.contains(id) {
          grads[id] = nil
          owned.remove(id)
        }
        if let slice = n.slice, let input = n.inputs.first, let inputNode = input.node {
          let key = ObjectIdentifier(inputNode)
          let buffer = ownedBuffer(key, shape: input.shape)
          try buffer.accumulate(g, axis: slice.axis, at: slice.start)
          grads[key] = buffer
          owned.insert(key)
          continue
        }
        guard let backward = n.backward else { continue }
        let inputGrads = try backward(g)
        for (input, ig) in zip(n.inputs, inputGrads) {
          guard let inputNode = input.node, let ig else { continue }
          let key = ObjectIdentifier(inputNode)
          let shaped = ig.shape == input.shape ? ig : try ig.reshaped(input.shape)
          if grads[key] != nil {
            let buffer = ownedBuffer(key, shape: input.shape)
            try buffer.accumulate(shaped, axis: nil, at: 0)
            grads[key] = buffer
            owned.insert(key)
          } else {
            grads[key] = shaped
            owned.remove(key)
          }
        }
      }
    }
    return leaves.map { leaf in
      if let n = leaf.node, let g = grads[ObjectIdentifier(n)] { return g }
      return Tensor.zeros(leaf.shape)
    }
  }

  /// Nodes reachable from `root`, each after all of its inputs.
  static func topologicalOrder(from root: GradNode) -> [GradNode] {
    var order: [GradNode] = []
    var visited = Set<ObjectIdentifier>()
    var stack: [(GradNode, Int)] = [(root, 0)]
    visited.insert(ObjectIdentifier(root))
    while case (let n, var i)? = stack.popLast() {
      var pushed = false
      while i < n.inputs.count {
        let child = n.inputs[i].node
        i += 1
        if let child, !visited.contains(ObjectIdentifier(child)) {
          visited.insert(ObjectIdentifier(child))
          stack.append((n, i))
          stack.append((child, 0))
          pushed = true
          break
        }
      }
      if !pushed { order.append(n) }
    }
    return order
  }
}

/// The value of `f` at `inputs` and its gradient with respect to each input.
///
/// `f` must return a scalar (one element). Inputs are tracked leaves for the duration of the call.
public func valueAndGradient(
  at inputs: [Tensor], _ f: ([Tensor]) throws -> Tensor
) throws -> (value: Tensor, gradients: [Tensor]) {
  let leaves = inputs.map { $0.trackingGradients() }
  let value = try f(leaves)
  guard value.count == 1 else {
    throw TensorError("valueAndGradient", "the function must return one element, got shape \(value.shape)")
  }
  let grads = try value.gradients(withRespectTo: leaves)
  return (value.detached(), grads)
}

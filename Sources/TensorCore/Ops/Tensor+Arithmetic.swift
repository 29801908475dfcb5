import Kernels

extension Tensor {
  /// Applies a broadcasting binary kernel; no tape record.
  static func binaryKernel(_ op: BinaryOp, _ a: Tensor, _ b: Tensor, _ name: String) throws -> Tensor {
    guard a.dtype == .float32 && b.dtype == .float32 else {
      throw TensorError(name, "needs float32 operands, got \(a.dtype) and \(b.dtype)")
    }
    guard let shape = broadcastShape(a.shape, b.shape) else {
      throw TensorError.shapes(name, a.shape, b.shape, "cannot be broadcast together")
    }
    let ea = try a.detached().expanded(to: shape)
    let eb = try b.detached().expanded(to: shape)
    let out = Tensor(uninitializedShape: shape)
    Binary.apply(
      op, a: ea.pointer(), aStrides: ea.strides, b: eb.pointer(), bStrides: eb.strides, out: out.pointer(),
      shape: shape)
    return out
  }

  /// Elementwise sum with broadcasting.
  public static func + (a: Tensor, b: Tensor) throws -> Tensor {
    let out = try binaryKernel(.add, a, b, "add")
    let (sa, sb) = (a.shape, b.shape)
    return out.recorded("add", [a, b]) { g in [try g.summed(toShape: sa), try g.summed(toShape: sb)] }
  }

  /// Elementwise difference with broadcasting.
  public static func - (a: Tensor, b: Tensor) throws -> Tensor {
    let out = try binaryKernel(.sub, a, b, "sub")
    let (sa, sb) = (a.shape, b.shape)
    return out.recorded("sub", [a, b]) { g in [try g.summed(toShape: sa), try (-g).summed(toShape: sb)] }
  }

  /// Elementwise product with broadcasting.
  public static func * (a: Tensor, b: Tensor) throws -> Tensor {
    let out = try binaryKernel(.mul, a, b, "mul")
    let (da, db) = (a.detached(), b.detached())
    return out.recorded("mul", [a, b]) { g in
      [
        a.requiresGrad ? try (g * db).summed(toShape: da.shape) : nil,
        b.requiresGrad ? try (g * da).summed(toShape: db.shape) : nil,
      ]
    }
  }

  /// Elementwise quotient with broadcasting.
  public static func / (a: Tensor, b: Tensor) throws -> Tensor {
    let out = try binaryKernel(.div, a, b, "div")
    let (da, db) = (a.detached(), b.detached())
    return out.recorded("div", [a, b]) { g in
      let ga = try g / db
      return [
        a.requiresGrad ? try ga.summed(toShape: da.shape) : nil,
        b.requiresGrad ? try (-(ga * out.detached())).summed(toShape: db.shape) : nil,
      ]
    }
  }

  /// Negation.
  public static prefix func - (a: Tensor) -> Tensor { a.unary(.neg) }

  /// Adds a scalar.
  public static func + (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: s) }
  /// Adds a scalar.
  public static func + (s: Float, a: Tensor) -> Tensor { a.affine(scale: 1, shift: s) }
  /// Subtracts a scalar.
  public static func - (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1, shift: -s) }
  /// Subtracts from a scalar.
  public static func - (s: Float, a: Tensor) -> Tensor { a.affine(scale: -1, shift: s) }
  /// Multiplies by a scalar.
  public static func * (a: Tensor, s: Float) -> Tensor { a.affine(scale: s, shift: 0) }
  /// Multiplies by a scalar.
  public static func * (s: Float, a: Tensor) -> Tensor { a.affine(scale: s, shift: 0) }
  /// Divides by a scalar.
  public static func / (a: Tensor, s: Float) -> Tensor { a.affine(scale: 1 / s, shift: 0) }
  /// Divides a scalar by each element.
  public static func / (s: Float, a: Tensor) -> Tensor { a.unary(.reciprocal) * s }

  /// scale * x + shift, elementwise.
  public func affine(scale: Float, shift: Float) -> Tensor {
    let x = float32Contiguous()
    let out = Tensor(uninitializedShape: shape)
    Elementwise.affine(x.pointer(), scale: scale, shift: shift, out.pointer(), count: count)
    return out.recorded("affine", [self]) { g in [g * scale] }
  }

  /// Elementwise maximum with broadcasting (the gradient goes to the larger input; ties split evenly).
  public func maximum(_ other: Tensor) throws -> Tensor { try extremum(other, .maximum, .greater) }

  /// Elementwise minimum with broadcasting.
  public func minimum(_ other: Tensor) throws -> Tensor { try extremum(other, .minimum, .less) }

  private func extremum(_ other: Tensor, _ op: BinaryOp, _ wins: BinaryOp) throws -> Tensor {
    let out = try Tensor.binaryKernel(op, self, other, op.rawValue)
    let (da, db) = (detached(), other.detached())
    return out.recorded(op.rawValue, [self, other]) { g in
      let aWins = try Tensor.binaryKernel(wins, da, db, "mask")
      let tie = try Tensor.binaryKernel(.equal, da, db, "mask")
      let wa = try aWins + tie * 0.5
      let wb = 1 - wa
      return [try (g * wa).summed(toShape: da.shape), try (g * wb).summed(toShape: db.shape)]
    }
  }

  /// x^p for a scalar exponent.
  public func pow(_ p: Float) -> Tensor {
    let x = float32Contiguous()
    let out = Tensor(uninitializedShape: shape)
    Elementwise.pow(x.pointer(), exponent: p, out.pointer(), count: count)
    return out.recorded("pow", [self]) { g in
      let dx = Tensor(uninitializedShape: x.shape)
      let gc = g.contiguous()
      Elementwise.powBackward(x: x.pointer(), exponent: p, dy: gc.pointer(), dx: dx.pointer(), count: x.count)
      return [dx]
    }
  }

  /// Applies a unary function elementwise.
  public func unary(_ op: UnaryOp) -> Tensor {
    let x = float32Contiguous()
    let out = Tensor(uninitializedShape: shape)
    Elementwise.unary(op, x.pointer(), out.pointer(), count: count)
    return out.recorded(op.rawValue, [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: x.shape)
      Elementwise.unaryBackward(
        op, x: x.pointer(), y: out.pointer(), dy: gc.pointer(), dx: dx.pointer(), count: x.count)
      return [dx]
    }
  }

  /// e^x.
  public func exp() -> Tensor { unary(.exp) }
  /// Natural logarithm.
  public func log() -> Tensor { unary(.log) }
  /// Square root.
  public func sqrt() -> Tensor { unary(.sqrt) }
  /// 1 / sqrt(x).
  public func rsqrt() -> Tensor { unary(.rsqrt) }
  /// |x|.
  public func abs() -> Tensor { unary(.abs) }
  /// Hyperbolic tangent.
  public func tanh() -> Tensor { unary(.tanh) }
  /// Logistic sigmoid.
  public func sigmoid() -> Tensor { unary(.sigmoid) }
  /// max(x, 0).
  public func relu() -> Tensor { unary(.relu) }
  /// GELU, by default in its exact erf form; `approximate: true` gives the tanh form (GPT-2's).
  public func gelu(approximate: Bool = false) -> Tensor { unary(approximate ? .geluTanh : .geluErf) }
  /// x * sigmoid(x).
  public func silu() -> Tensor { unary(.silu) }
  /// log(1 + e^x).
  public func softplus() -> Tensor { unary(.softplus) }
  /// Sine.
  public func sin() -> Tensor { unary(.sin) }
  /// Cosine.
  public func cos() -> Tensor { unary(.cos) }
  /// x².
  public func square() -> Tensor { unary(.square) }

  /// Elementwise comparisons: 1 where the relation holds, else 0 (no gradient).
  public func compared(_ op: BinaryOp, _ other: Tensor) throws -> Tensor {
    try Tensor.binaryKernel(op, self, other, op.rawValue)
  }

  /// Picks from `a` where `condition` is non-zero, else from `b`, with broadcasting of all three.
  public static func select(_ condition: Tensor, _ a: Tensor, _ b: Tensor) throws -> Tensor {
    guard let ab = broadcastShape(a.shape, b.shape), let shape = broadcastShape(condition.shape, ab) else {
      throw TensorError("where", "shapes \(condition.shape), \(a.shape) and \(b.shape) cannot be broadcast together")
    }
    let c = try condition.detached().float32Contiguous().expanded(to: shape).contiguous()
    let ea = try a.detached().expanded(to: shape).contiguous()
    let eb = try b.detached().expanded(to: shape).contiguous()
    let out = Tensor(uninitializedShape: shape)
    Select.apply(condition: c.pointer(), ea.pointer(), eb.pointer(), out: out.pointer(), count: out.count)
    let (sa, sb) = (a.shape, b.shape)
    return out.recorded("where", [a, b]) { g in
      let zero = Tensor.zeros(shape)
      return [
        try select(c, g, zero).summed(toShape: sa),
        try select(c, zero, g).summed(toShape: sb),
      ]
    }
  }

  /// A contiguous float32 version of the tensor with the tape preserved.
  func float32Contiguous() -> Tensor {
    dtype == .float32 ? contiguous() : converted(to: .float32)
  }
}

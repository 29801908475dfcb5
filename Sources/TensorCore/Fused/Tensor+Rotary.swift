import Kernels

/// Settings of a rotary position embedding.
public struct RotaryConfiguration: Sendable, Equatable {
  /// Frequency base θ (10,000 in the original paper).
  public var base: Float
  /// Leading dimensions of each head that rotate (the rest pass through); nil means all.
  public var rotaryDimensions: Int?
  /// Pairs (2i, 2i+1) as in GPT-J and llama2.c when true; (i, i + d/2) as in HF Llama when false.
  public var interleaved: Bool

  /// Creates a configuration.
  public init(base: Float = 10_000, rotaryDimensions: Int? = nil, interleaved: Bool = false) {
    self.base = base
    self.rotaryDimensions = rotaryDimensions
    self.interleaved = interleaved
  }
}

extension Tensor {
  /// Rotates x laid out [..., T, H, D] by position: token t sits at `positionOffset + t`, or at
  /// `positions[t]` when given (int tensor of length T).
  public func rotaryEmbedding(
    _ config: RotaryConfiguration = RotaryConfiguration(), positionOffset: Int = 0, positions: Tensor? = nil
  ) throws -> Tensor {
    guard rank >= 3 else { throw TensorError("rope", "input must be [..., T, heads, headDim], got \(shape)") }
    let headDim = shape[rank - 1]
    let heads = shape[rank - 2]
    let seq = shape[rank - 3]
    let rotary = config.rotaryDimensions ?? headDim
    guard rotary % 2 == 0, rotary <= headDim, rotary > 0 else {
      throw TensorError("rope", "rotary dimensions \(rotary) must be even and at most the head dimension \(headDim)")
    }
    let pos = try positions.map { p -> Tensor in
      guard p.count == seq else {
        throw TensorError.shapes("rope", shape, p.shape, "do not match: positions must have one entry per token")
      }
      return try p.indexTensor("rope").converted(to: .int32)
    }
    let outer = count / Swift.max(seq * heads * headDim, 1)
    let x = detached().float32Contiguous()
    let y = Tensor(uninitializedShape: shape)
    func run(_ src: Tensor, _ dst: Tensor, inverse: Bool) {
      Rotary.apply(
        src.pointer(), dst.pointer(), outer: outer, seq: seq, heads: heads, headDim: headDim, rotaryDim: rotary,
        base: config.base, positionOffset: positionOffset, positions: pos.map { UnsafePointer($0.pointer(Int32.self)) },
        interleaved: config.interleaved, inverse: inverse)
    }
    run(x, y, inverse: false)
    return y.recorded("rope", [self]) { g in
      let gc = g.contiguous()
      let dx = Tensor(uninitializedShape: gc.shape)
      run(gc, dx, inverse: true)
      return [dx]
    }
  }
}

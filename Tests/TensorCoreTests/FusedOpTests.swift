import Foundation
import TestSupport
import Testing

@testable import TensorCore

/// Each fused op against its unfused composition, forward and backward.
@Suite struct FusedOpTests {
  /// Compares values and input gradients of two implementations of one function.
  func expectSame(
    _ fused: ([Tensor]) throws -> Tensor, _ composed: ([Tensor]) throws -> Tensor, at inputs: [Tensor],
    atol: Float = 1e-5, rtol: Float = 1e-4, _ label: String
  ) throws {
    let probe = try composed(inputs)
    let projection = randomTensor(probe.shape, seed: 99)
    let (v1, g1) = try valueAndGradient(at: inputs) { try (fused($0) * projection).sum() }
    let (v2, g2) = try valueAndGradient(at: inputs) { try (composed($0) * projection).sum() }
    #expect(allClose(try fused(inputs).floats, probe.floats, atol: atol, rtol: rtol), "\(label): forward")
    #expect(abs(v1.item() - v2.item()) <= atol * 10 + rtol * abs(v2.item()), "\(label): projected value")
    for (i, (a, b)) in zip(g1, g2).enumerated() {
      #expect(allClose(a.floats, b.floats, atol: atol, rtol: rtol * 10), "\(label): gradient of input \(i)")
    }
  }

  @Test func linearAddingEqualsResidualPlusLinear() throws {
    for rows in [1, 5, 40] {  // the few-row (Gemv) path and the GEMM path
      let x = randomTensor([rows, 12], seed: 41)
      let w = randomTensor([7, 12], seed: 42)
      let r = randomTensor([rows, 7], seed: 43)
      try expectSame(
        { try $0[0].linear(weight: $0[1], adding: $0[2]) }, { try $0[2] + $0[0].linear(weight: $0[1]) },
        at: [x, w, r], "linear adding, \(rows) rows")
    }
    #expect(throws: TensorError.self) {
      try randomTensor([2, 12], seed: 1).linear(
        weight: randomTensor([7, 12], seed: 2), adding: randomTensor([2, 6], seed: 3))
    }
  }

  @Test func groupedLinearEqualsSeparateLinears() throws {
    for rows in [1, 3, 16, 17] {  // one pass over the weights up to 16 rows, separate products beyond
      let x = randomTensor([1, rows, 20], seed: 44)
      let weights = [5, 33, 1].enumerated().map { randomTensor([$0.element, 20], seed: UInt64(45 + $0.offset)) }
      let fused = try withoutGradients { try x.linear(weights: weights) }
      for (w, y) in zip(weights, fused) {
        let reference = try x.linear(weight: w)
        #expect(y.shape == reference.shape)
        #expect(allClose(y.floats, reference.floats), "\(rows) rows, width \(w.shape[0])")
      }
    }
    // With gradients on, each output keeps its own tape record.
    let x = randomTensor([2, 6], seed: 50)
    let w = [randomTensor([3, 6], seed: 51), randomTensor([4, 6], seed: 52)]
    try expectSame(
      { inputs in
        let ys = try inputs[0].linear(weights: [inputs[1], inputs[2]])
        return try ys[0].sum(axes: [1]) + ys[1].sum(axes: [1])
      },
      { try $0[0].linear(weight: $0[1]).sum(axes: [1]) + $0[0].linear(weight: $0[2]).sum(axes: [1]) },
      at: [x] + w, "grouped linear with gradients")
  }

  @Test func crossEntropyEqualsLogSoftmaxComposition() throws {
    let logits = randomTensor([2, 5, 11], seed: 40, scale: 3)
    let targets = Tensor(indices: [1, 0, 10, -100, 3, 7, 7, -100, 2, 9], shape: [2, 5])
    for smoothing: Float in [0, 0.1] {
      try expectSame(
        { try $0[0].crossEntropy(targets: targets, labelSmoothing: smoothing) },
        { x in
          let logp = try x[0].logSoftmax()
          let safe = Tensor(indices: targets.int64s.map { $0 < 0 ? 0 : $0 }, shape: [2, 5])
          let keep = Tensor(targets.int64s.map { $0 < 0 ? 0 : 1 }, shape: [2, 5])
          let nll = try -logp.gather(axis: 2, index: try safe.unsqueezed(-1)).squeezed(-1)
          let uniform = try -logp.mean(axes: [2])
          let per = try nll * (1 - smoothing) + uniform * smoothing
          return try (per * keep).sum() / keep.sum().item()
        }, at: [logits], "crossEntropy smoothing \(smoothing)")
    }
    let r = try checkGradients(of: { try $0[0].crossEntropy(targets: targets, labelSmoothing: 0.1) }, at: [logits])
    #expect(r.passed, "\(r)")
    #expect(throws: TensorError.self) { try logits.crossEntropy(targets: Tensor(indices: [11], shape: [1])) }
  }

  @Test func normsEqualTheirCompositions() throws {
    let x = randomTensor([3, 4, 24], seed: 41)
    let w = randomTensor([24], seed: 42) + 1
    let b = randomTensor([24], seed: 43)
    try expectSame(
      { try $0[0].rmsNorm(weight: $0[1], eps: 1e-5) },
      { try $0[0] * ($0[0].square().mean(axes: [-1], keepingDimensions: true) + 1e-5).rsqrt() * $0[1] },
      at: [x, w], "rmsNorm")
    try expectSame(
      { try $0[0].layerNorm(weight: $0[1], bias: $0[2], eps: 1e-5) },
      { v in
        let mean = try v[0].mean(axes: [-1], keepingDimensions: true)
        let variance = try v[0].variance(axes: [-1], keepingDimensions: true)
        return try (v[0] - mean) * (variance + 1e-5).rsqrt() * v[1] + v[2]
      }, at: [x, w, b], "layerNorm")
    let img = randomTensor([2, 6, 5], seed: 44)
    let gw = randomTensor([6], seed: 45) + 1
    let gb = randomTensor([6], seed: 46)
    try expectSame(
      { try $0[0].groupNorm(groups: 3, weight: $0[1], bias: $0[2], eps: 1e-5) },
      { v in
        let g = try v[0].reshaped([2, 3, 10])
        let mean = try g.mean(axes: [2], keepingDimensions: true)
        let variance = try g.variance(axes: [2], keepingDimensions: true)
        let n = try ((g - mean) * (variance + 1e-5).rsqrt()).reshaped([2, 6, 5])
        return try n * v[1].reshaped([6, 1]) + v[2].reshaped([6, 1])
      }, at: [img, gw, gb], "groupNorm")
  }

  @Test func rotaryEqualsSinCosComposition() throws {
    let x = randomTensor([2, 5, 3, 8], seed: 47)  // [B, T, H, D]
    for interleaved in [false, true] {
      for offset in [0, 7] {
        let config = RotaryConfiguration(base: 500, interleaved: interleaved)
        try expectSame(
          { try $0[0].rotaryEmbedding(config, positionOffset: offset) },
          { v in try Self.composedRotary(v[0], base: 500, offset: offset, interleaved: interleaved) },
          at: [x], "rope interleaved \(interleaved) offset \(offset)")
      }
    }
    let positions = Tensor(indices: [4, 1, 0, 9, 2], shape: [5])
    let y1 = try x.rotaryEmbedding(RotaryConfiguration(base: 500), positions: positions)
    let y2 = try x.rotaryEmbedding(RotaryConfiguration(base: 500), positionOffset: 6)
    #expect(allClose(Array(y1.floats[(3 * 24)..<(4 * 24)]), Array(y2.floats[(3 * 24)..<(4 * 24)]), atol: 1e-5))
  }

  /// RoPE written with elementwise ops on cos/sin tables.
  static func composedRotary(_ x: Tensor, base: Float, offset: Int, interleaved: Bool) throws -> Tensor {
    let (t, d) = (x.shape[1], x.shape[3])
    var cosTable: [Float] = []
    var sinTable: [Float] = []
    for p in 0..<t {
      for i in 0..<(d / 2) {
        let invFreq = 1 / Foundation.pow(base, Float(2 * i) / Float(d))
        let angle = Float(p + offset) * invFreq
        cosTable.append(Foundation.cos(angle))
        sinTable.append(Foundation.sin(angle))
      }
    }
    let c = Tensor(cosTable, shape: [t, 1, d / 2])
    let s = Tensor(sinTable, shape: [t, 1, d / 2])
    let (x1, x2): (Tensor, Tensor)
    if interleaved {
      let pairs = try x.reshaped([x.shape[0], t, x.shape[2], d / 2, 2])
      x1 = try pairs.sliced(axis: 4, 0..<1).squeezed(4)
      x2 = try pairs.sliced(axis: 4, 1..<2).squeezed(4)
      let y1 = try x1 * c - x2 * s
      let y2 = try x2 * c + x1 * s
      return try Tensor.stack([y1, y2], axis: 4).reshaped(x.shape)
    }
    x1 = try x.sliced(axis: 3, 0..<(d / 2))
    x2 = try x.sliced(axis: 3, (d / 2)..<d)
    return try Tensor.concatenate([x1 * c - x2 * s, x2 * c + x1 * s], axis: 3)
  }

  @Test func attentionEqualsMaskedSoftmaxComposition() throws {
    let q = randomTensor([2, 4, 9, 8], seed: 48)
    let k = randomTensor([2, 2, 13, 8], seed: 49)
    let v = randomTensor([2, 2, 13, 8], seed: 50)
    let bias = randomTensor([2, 1, 9, 13], seed: 51)
    let masks: [(String, AttentionMask)] = [
      ("none", AttentionMask()),
      ("causal prefix", AttentionMask(causal: true, queryOffset: 4)),
      ("window", AttentionMask(causal: true, window: 3, queryOffset: 4)),
      ("blocks", AttentionMask(causal: true, blockSize: 4, blocksBack: 1, queryOffset: 4)),
      ("chunks", AttentionMask(causal: true, blockSize: 5, blocksBack: 0, queryOffset: 4)),
    ]
    for (name, mask) in masks {
      for withBias in [false, true] {
        try expectSame(
          { try Tensor.attention(query: $0[0], key: $0[1], value: $0[2], mask: mask, bias: withBias ? $0[3] : nil) },
          { try Self.composedAttention($0[0], $0[1], $0[2], mask: mask, bias: withBias ? $0[3] : nil) },
          at: [q, k, v, bias], "attention \(name) bias \(withBias)")
      }
    }
  }

  /// Attention written as matmul, additive mask, softmax, matmul, with repeated key heads.
  static func composedAttention(_ q: Tensor, _ k: Tensor, _ v: Tensor, mask: AttentionMask, bias: Tensor?) throws
    -> Tensor
  {
    let (h, hkv, tq, tk, d) = (q.shape[1], k.shape[1], q.shape[2], k.shape[2], q.shape[3])
    let groups = h / hkv
    let expand = { (t: Tensor) throws -> Tensor in
      try t.unsqueezed(2).expanded(to: [t.shape[0], hkv, groups, tk, d]).reshaped([t.shape[0], h, tk, d])
    }
    var scores = try q.matmul(try expand(k).transposed()) * (1 / Float(d).squareRoot())
    var additive: [Float] = []
    for i in 0..<tq {
      for j in 0..<tk { additive.append(mask.allows(query: mask.queryOffset + i, key: j) ? 0 : -1e30) }
    }
    scores = try scores + Tensor(additive, shape: [tq, tk])
    if let bias { scores = try scores + bias }
    return try scores.softmax().matmul(try expand(v))
  }
}

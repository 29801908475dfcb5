#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

// Plain, unfused attention in Double: the oracle for the fused kernels. Each (batch, head) builds its full
// score matrix with `AttentionMask.allows`, independently of the tile and range logic of the fast path.

extension Attention {
  /// Naive twin of ``forward(q:k:v:out:logSumExp:shape:mask:bias:scale:)``: full score matrix per
  /// (batch, head), accumulated in Double.
  public static func forwardReference(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafeMutablePointer<Float>, logSumExp: UnsafeMutablePointer<Float>, shape: AttentionShape,
    mask: AttentionMask, bias: AttentionBias?, scale: Float
  ) {
    shape.validate()
    let result = referenceForward(
      q: doubles(q, shape.queryCount), k: denseKeyValues(k, shape: shape), v: denseKeyValues(v, shape: shape),
      bias: denseBias(bias, shape: shape), shape: shape, mask: mask, scale: Double(scale))
    for (i, x) in result.out.enumerated() { out[i] = Float(x) }
    for (i, x) in result.logSumExp.enumerated() { logSumExp[i] = Float(x) }
  }

  /// Naive twin of ``backward(q:k:v:out:dOut:logSumExp:dq:dk:dv:dBias:shape:mask:bias:scale:)``.
  ///
  /// It recomputes the probabilities from q, k, v and bias in Double; `out` and `logSumExp` are accepted
  /// for symmetry with the fused kernel and not read.
  public static func backwardReference(
    q: UnsafePointer<Float>, k: UnsafePointer<Float>, v: UnsafePointer<Float>,
    out: UnsafePointer<Float>, dOut: UnsafePointer<Float>, logSumExp: UnsafePointer<Float>,
    dq: UnsafeMutablePointer<Float>, dk: UnsafeMutablePointer<Float>, dv: UnsafeMutablePointer<Float>,
    dBias: UnsafeMutablePointer<Float>?, shape: AttentionShape, mask: AttentionMask, bias: AttentionBias?,
    scale: Float
  ) {
    shape.validate()
    precondition(dBias == nil || bias != nil, "dBias needs the bias it belongs to")
    precondition(shape.hasContiguousKeyValues, "attention backward needs contiguous k and v (kvHeadStride nil)")
    let grads = referenceBackward(
      q: doubles(q, shape.queryCount), k: doubles(k, shape.keyCount), v: doubles(v, shape.keyCount),
      dOut: doubles(dOut, shape.queryCount), bias: denseBias(bias, shape: shape), shape: shape, mask: mask,
      scale: Double(scale))
    for (i, x) in grads.dq.enumerated() { dq[i] = Float(x) }
    for (i, x) in grads.dk.enumerated() { dk[i] = Float(x) }
    for (i, x) in grads.dv.enumerated() { dv[i] = Float(x) }
    guard let dBias, let bias else { return }
    let (tq, tk) = (shape.queryLength, shape.keyLength)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        for i in 0..<tq {
          let offset = bias.offset(batch: b, head: h, row: i)
          let row = ((b * shape.heads + h) * tq + i) * tk
          for j in 0..<tk { dBias[offset + j] += Float(grads.dBias[row + j]) }
        }
      }
    }
  }

  /// Reference forward on dense Double arrays; `bias` (if any) is the full [B, H, Tq, Tk] matrix.
  static func referenceForward(
    q: [Double], k: [Double], v: [Double], bias: [Double]?, shape: AttentionShape, mask: AttentionMask,
    scale: Double
  ) -> (out: [Double], logSumExp: [Double]) {
    let (d, tq) = (shape.headDim, shape.queryLength)
    var out = [Double](repeating: 0, count: shape.queryCount)
    var lse = [Double](repeating: -.infinity, count: shape.batch * shape.heads * tq)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        let p = referenceProbabilities(q: q, k: k, bias: bias, b: b, h: h, shape: shape, mask: mask, scale: scale)
        let kv = (b * shape.kvHeads + h / shape.group) * shape.keyLength
        for i in 0..<tq {
          let row = (b * shape.heads + h) * tq + i
          lse[row] = p.logSumExp[i]
          for j in 0..<shape.keyLength where p.values[i][j] != 0 {
            for c in 0..<d { out[row * d + c] += p.values[i][j] * v[(kv + j) * d + c] }
          }
        }
      }
    }
    return (out, lse)
  }

  /// Reference backward on dense Double arrays; returns dBias as the full [B, H, Tq, Tk] matrix.
  static func referenceBackward(
    q: [Double], k: [Double], v: [Double], dOut: [Double], bias: [Double]?, shape: AttentionShape,
    mask: AttentionMask, scale: Double
  ) -> (dq: [Double], dk: [Double], dv: [Double], dBias: [Double]) {
    let (d, tq, tk) = (shape.headDim, shape.queryLength, shape.keyLength)
    var dq = [Double](repeating: 0, count: shape.queryCount)
    var dk = [Double](repeating: 0, count: shape.keyCount)
    var dv = [Double](repeating: 0, count: shape.keyCount)
    var dBias = [Double](repeating: 0, count: shape.batch * shape.heads * tq * tk)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        let p = referenceProbabilities(q: q, k: k, bias: bias, b: b, h: h, shape: shape, mask: mask, scale: scale)
        let kv = (b * shape.kvHeads + h / shape.group) * tk
        for i in 0..<tq {
          let row = (b * shape.heads + h) * tq + i
          var dp = [Double](repeating: 0, count: tk)
          var delta = 0.0
          for j in 0..<tk {
            for c in 0..<d { dp[j] += dOut[row * d + c] * v[(kv + j) * d + c] }
            delta += p.values[i][j] * dp[j]
          }
          for j in 0..<tk {
            let pij = p.values[i][j]
            let ds = pij * (dp[j] - delta)
            dBias[row * tk + j] = ds
            for c in 0..<d {
              dq[row * d + c] += scale * ds * k[(kv + j) * d + c]
              dk[(kv + j) * d + c] += scale * ds * q[row * d + c]
              dv[(kv + j) * d + c] += pij * dOut[row * d + c]
            }
          }
        }
      }
    }
    return (dq, dk, dv, dBias)
  }

  /// Softmax probabilities (Tq rows of Tk) of one (batch, head) and each row's logsumexp.
  private static func referenceProbabilities(
    q: [Double], k: [Double], bias: [Double]?, b: Int, h: Int, shape: AttentionShape, mask: AttentionMask,
    scale: Double
  ) -> (values: [[Double]], logSumExp: [Double]) {
    let (d, tq, tk) = (shape.headDim, shape.queryLength, shape.keyLength)
    let kv = (b * shape.kvHeads + h / shape.group) * tk
    var values = [[Double]](repeating: [Double](repeating: 0, count: tk), count: tq)
    var lse = [Double](repeating: -.infinity, count: tq)
    for i in 0..<tq {
      let row = (b * shape.heads + h) * tq + i
      var scores = [Double](repeating: -.infinity, count: tk)
      for j in 0..<tk where mask.allows(query: mask.queryOffset + i, key: j) {
        var dot = 0.0
        for c in 0..<d { dot += q[row * d + c] * k[(kv + j) * d + c] }
        scores[j] = scale * dot + (bias?[row * tk + j] ?? 0)
      }
      let top = scores.max() ?? -.infinity
      if top == -.infinity { continue }
      var total = 0.0
      for j in 0..<tk {
        values[i][j] = exp(scores[j] - top)
        total += values[i][j]
      }
      for j in 0..<tk { values[i][j] /= total }
      lse[i] = top + log(total)
    }
    return (values, lse)
  }

  private static func doubles(_ p: UnsafePointer<Float>, _ count: Int) -> [Double] {
    (0..<count).map { Double(p[$0]) }
  }

  /// Gathers k or v, whose (batch, kv head) blocks lie `keyValueHeadStride` apart, into dense [B, Hkv, Tk, D].
  private static func denseKeyValues(_ p: UnsafePointer<Float>, shape: AttentionShape) -> [Double] {
    let block = shape.keyLength * shape.headDim
    var dense = [Double]()
    dense.reserveCapacity(shape.keyCount)
    for head in 0..<(shape.batch * shape.kvHeads) {
      let start = p + head * shape.keyValueHeadStride
      for e in 0..<block { dense.append(Double(start[e])) }
    }
    return dense
  }

  /// Expands a strided bias into the dense [B, H, Tq, Tk] matrix.
  private static func denseBias(_ bias: AttentionBias?, shape: AttentionShape) -> [Double]? {
    guard let bias else { return nil }
    let (tq, tk) = (shape.queryLength, shape.keyLength)
    var dense = [Double](repeating: 0, count: shape.batch * shape.heads * tq * tk)
    for b in 0..<shape.batch {
      for h in 0..<shape.heads {
        for i in 0..<tq {
          let offset = bias.offset(batch: b, head: h, row: i)
          let row = ((b * shape.heads + h) * tq + i) * tk
          for j in 0..<tk { dense[row + j] = Double(bias.base[offset + j]) }
        }
      }
    }
    return dense
  }
}

extension AttentionShape {
  /// Elements of q, out, dq: B·H·Tq·D.
  var queryCount: Int { batch * heads * queryLength * headDim }
  /// Elements of k, v, dk, dv: B·Hkv·Tk·D.
  var keyCount: Int { batch * kvHeads * keyLength * headDim }
}

import Foundation
import Kernels
import TensorCore

extension Llama2cCheckpoint {
  /// Writes a llama2.c `.bin` file, atomically: version 1 (float32) when `header.version` is 1, version 2
  /// (Q8_0 blocks of `header.groupSize`, as llama2.c's `export.py --version 2` writes) when it is 2.
  ///
  /// `tensors` holds every weight under its Hugging Face Llama name, float32, with q/k rows already in
  /// llama2.c's interleaved RoPE order (what ``init(path:)`` returns). Throws a ``CheckpointError`` naming
  /// the file when a tensor is missing or has the wrong shape, and leaves nothing behind then.
  public static func write(_ tensors: [String: Tensor], header h: Header, to path: String) throws {
    func fail(_ problem: String) -> CheckpointError {
      CheckpointError(path: path, problem: problem, remedy: "convert from a complete Llama checkpoint")
    }
    guard h.version == 1 || h.version == 2 else { throw fail("cannot be written as llama2.c version \(h.version)") }
    if h.version == 2 {
      guard h.groupSize > 0, h.dim % h.groupSize == 0, h.hiddenDim % h.groupSize == 0 else {
        throw fail("needs a Q8_0 group size dividing dim \(h.dim) and hidden_dim \(h.hiddenDim), got \(h.groupSize)")
      }
    }
    let headSize = h.dim / h.heads
    let kvDim = h.kvHeads * headSize
    let layer = "model.layers.%."
    let norms: [(String, [Int])] = [
      (layer + "input_layernorm.weight", [h.dim]), (layer + "post_attention_layernorm.weight", [h.dim]),
      ("model.norm.weight", [h.dim]),
    ]
    var matrices: [(String, [Int])] = [
      ("model.embed_tokens.weight", [h.vocabularySize, h.dim]), (layer + "self_attn.q_proj.weight", [h.dim, h.dim]),
      (layer + "self_attn.k_proj.weight", [kvDim, h.dim]), (layer + "self_attn.v_proj.weight", [kvDim, h.dim]),
      (layer + "self_attn.o_proj.weight", [h.dim, h.dim]), (layer + "mlp.gate_proj.weight", [h.hiddenDim, h.dim]),
      (layer + "mlp.down_proj.weight", [h.dim, h.hiddenDim]), (layer + "mlp.up_proj.weight", [h.hiddenDim, h.dim]),
    ]
    if !h.sharedClassifier { matrices.append(("lm_head.weight", [h.vocabularySize, h.dim])) }
    /// Every tensor of one slot (all layers for a per-layer name), checked.
    func slot(_ name: String, _ shape: [Int]) throws -> [Tensor] {
      let names =
        name.contains("%") ? (0..<h.layers).map { name.replacingOccurrences(of: "%", with: String($0)) } : [name]
      return try names.map { key in
        guard let t = tensors[key] else { throw fail("would lack tensor \(key)") }
        guard t.shape == shape else { throw fail("would hold \(key) as \(t.shape), but the header says \(shape)") }
        return t.converted(to: .float32).contiguous()
      }
    }
    var bytes: [UInt8] = []
    func int32(_ v: Int) { withUnsafeBytes(of: Int32(truncatingIfNeeded: v).littleEndian) { bytes += $0 } }
    func floats(_ t: Tensor) { bytes += ByteIO.bytes(of: t.floats) }
    int32(Int(magic))
    int32(h.version)
    for v in [h.dim, h.hiddenDim, h.layers, h.heads, h.kvHeads, h.vocabularySize, h.contextLength] { int32(v) }
    bytes.append(h.sharedClassifier ? 1 : 0)
    if h.version == 2 { int32(h.groupSize) }
    bytes += [UInt8](repeating: 0, count: 256 - bytes.count)
    if h.version == 1 {
      for (name, shape) in [norms[0], norms[1], norms[2]] + matrices { for t in try slot(name, shape) { floats(t) } }
    } else {
      for (name, shape) in norms { for t in try slot(name, shape) { floats(t) } }
      for (name, shape) in matrices {
        for t in try slot(name, shape) {
          let layout = try Q8_0.Layout(rows: shape[0], columns: shape[1], groupSize: h.groupSize)
          var values = [Int8](repeating: 0, count: layout.valueCount)
          var scales = [Float](repeating: 0, count: layout.scaleCount)
          let source = t.floats
          source.withUnsafeBufferPointer { x in
            values.withUnsafeMutableBufferPointer { q in
              scales.withUnsafeMutableBufferPointer { s in
                Q8_0.quantize(x.baseAddress!, layout: layout, values: q.baseAddress!, scales: s.baseAddress!)
              }
            }
          }
          bytes += values.map { UInt8(bitPattern: $0) }
          bytes += ByteIO.bytes(of: scales)
        }
      }
    }
    try writeAtomically(to: path, what: "llama2.c checkpoint") { try $0.write(bytes) }
  }
}

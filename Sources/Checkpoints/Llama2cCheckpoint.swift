import Kernels
import TensorCore

/// A llama2.c `.bin` checkpoint: the legacy (version 0) header or the `ak42` version 1 (float32) and
/// version 2 (Q8_0, dequantised on load) headers.
///
/// Tensors are returned under Hugging Face Llama names in llama2.c's own layout: q/k rows keep the
/// interleaved RoPE pairing (2i, 2i+1), so the model must rotate with `interleaved: true`.
public struct Llama2cCheckpoint {
  /// The model sizes stored in the header.
  public struct Header: Sendable, Equatable {
    /// File format version: 0 (legacy), 1 (float32) or 2 (int8 Q8_0).
    public var version: Int
    /// Model width.
    public var dim: Int
    /// MLP width.
    public var hiddenDim: Int
    /// Blocks.
    public var layers: Int
    /// Query heads.
    public var heads: Int
    /// Key/value heads.
    public var kvHeads: Int
    /// Vocabulary size (always positive here).
    public var vocabularySize: Int
    /// Longest sequence.
    public var contextLength: Int
    /// Whether the classifier is the token embedding.
    public var sharedClassifier: Bool
    /// Q8_0 group size (version 2 only).
    public var groupSize: Int

    /// A header with these sizes.
    public init(
      version: Int, dim: Int, hiddenDim: Int, layers: Int, heads: Int, kvHeads: Int, vocabularySize: Int,
      contextLength: Int, sharedClassifier: Bool, groupSize: Int
    ) {
      (self.version, self.dim, self.hiddenDim, self.layers, self.heads) = (version, dim, hiddenDim, layers, heads)
      (self.kvHeads, self.vocabularySize, self.contextLength) = (kvHeads, vocabularySize, contextLength)
      (self.sharedClassifier, self.groupSize) = (sharedClassifier, groupSize)
    }
  }

  /// The magic number of versioned files ("ak42").
  public static let magic: UInt32 = 0x616b_3432
  /// The header.
  public let header: Header
  /// Every weight under its HF name (`model.layers.N.self_attn.q_proj.weight`, ...), float32.
  public let tensors: [String: Tensor]
  /// The Q8_0 blocks of a version-2 file as stored (int8 values row-major, one scale per block of
  /// ``Header/groupSize``), under the same names; empty for float32 files.
  public let quantized: [String: (values: [Int8], scales: [Float])]
  /// The file's path.
  public let path: String

  /// Reads and validates `path`; a truncated, padded or corrupt file is a one-line ``CheckpointError``.
  public init(path: String) throws {
    self.path = path
    let file: MappedFile
    do { file = try MappedFile(path: path) } catch {
      throw CheckpointError(path: path, problem: "cannot be read (\(error))", remedy: "check the path")
    }
    func fail(_ problem: String) -> CheckpointError {
      CheckpointError(path: path, problem: problem, remedy: "re-export or re-download the llama2.c checkpoint")
    }
    guard file.size >= 28 else { throw fail("is \(file.size) bytes, shorter than a llama2.c header") }
    func int32(_ byteOffset: Int) -> Int { Int(Self.int32(file.bytes(offset: byteOffset, count: 4), at: 0)) }
    let first = UInt32(truncatingIfNeeded: int32(0))
    var h: Header
    let dataStart: Int
    if first == Self.magic {
      guard file.size >= 256 else { throw fail("is \(file.size) bytes, shorter than its 256-byte header") }
      let version = int32(4)
      guard version == 1 || version == 2 else {
        throw fail("has format version \(version); only versions 0, 1 and 2 are supported")
      }
      let shared = file.bytes(offset: 36, count: 1)[0]
      guard shared <= 1 else { throw fail("has shared-classifier flag \(shared), not 0 or 1") }
      h = Header(
        version: version, dim: int32(8), hiddenDim: int32(12), layers: int32(16), heads: int32(20), kvHeads: int32(24),
        vocabularySize: int32(28), contextLength: int32(32), sharedClassifier: shared == 1,
        // Version 2 writes the group size right after the flag byte (byte 37, unaligned).
        groupSize: version == 2 ? int32(37) : 0)
      dataStart = 256
    } else {
      let vocab = int32(20)
      h = Header(
        version: 0, dim: int32(0), hiddenDim: int32(4), layers: int32(8), heads: int32(12), kvHeads: int32(16),
        vocabularySize: abs(vocab), contextLength: int32(24), sharedClassifier: vocab > 0, groupSize: 0)
      dataStart = 28
    }
    let limit = 1 << 24
    let sizes = [h.dim, h.hiddenDim, h.layers, h.heads, h.kvHeads, h.vocabularySize, h.contextLength]
    guard sizes.allSatisfy({ $0 > 0 && $0 <= limit }) else {
      throw fail("has an impossible header \(sizes) (dim, hidden_dim, layers, heads, kv_heads, vocab, seq_len)")
    }
    guard h.dim % h.heads == 0, h.heads % h.kvHeads == 0, (h.dim / h.heads) % 2 == 0 else {
      throw fail("has dim \(h.dim), heads \(h.heads) and kv_heads \(h.kvHeads) that do not fit together")
    }
    if h.version == 2 {
      guard h.groupSize > 0, h.dim % h.groupSize == 0 else {
        throw fail("has Q8_0 group size \(h.groupSize) that does not divide dim \(h.dim)")
      }
    }
    header = h
    (tensors, quantized) = try Self.readWeights(file, header: h, dataStart: dataStart, fail: fail)
  }

  /// One weight kind in file order: HF name pattern, per-layer shape, and whether it is repeated per layer.
  private struct Slot {
    let name: String
    let shape: [Int]
    let perLayer: Bool
  }

  private static func readWeights(
    _ file: MappedFile, header h: Header, dataStart: Int, fail: (String) -> CheckpointError
  ) throws -> ([String: Tensor], [String: (values: [Int8], scales: [Float])]) {
    let headSize = h.dim / h.heads
    let kvDim = h.kvHeads * headSize
    let prefix = "model.layers.%."
    let s = (
      embed: Slot(name: "model.embed_tokens.weight", shape: [h.vocabularySize, h.dim], perLayer: false),
      attNorm: Slot(name: prefix + "input_layernorm.weight", shape: [h.dim], perLayer: true),
      q: Slot(name: prefix + "self_attn.q_proj.weight", shape: [h.dim, h.dim], perLayer: true),
      k: Slot(name: prefix + "self_attn.k_proj.weight", shape: [kvDim, h.dim], perLayer: true),
      v: Slot(name: prefix + "self_attn.v_proj.weight", shape: [kvDim, h.dim], perLayer: true),
      o: Slot(name: prefix + "self_attn.o_proj.weight", shape: [h.dim, h.dim], perLayer: true),
      ffnNorm: Slot(name: prefix + "post_attention_layernorm.weight", shape: [h.dim], perLayer: true),
      w1: Slot(name: prefix + "mlp.gate_proj.weight", shape: [h.hiddenDim, h.dim], perLayer: true),
      w2: Slot(name: prefix + "mlp.down_proj.weight", shape: [h.dim, h.hiddenDim], perLayer: true),
      w3: Slot(name: prefix + "mlp.up_proj.weight", shape: [h.hiddenDim, h.dim], perLayer: true),
      norm: Slot(name: "model.norm.weight", shape: [h.dim], perLayer: false),
      freqs: Slot(name: "", shape: [h.contextLength, headSize / 2], perLayer: false),
      head: Slot(name: "lm_head.weight", shape: [h.vocabularySize, h.dim], perLayer: false)
    )
    var fp32: [Slot]
    var quantized: [Slot] = []
    switch h.version {
    case 0: fp32 = [s.embed, s.attNorm, s.q, s.k, s.v, s.o, s.ffnNorm, s.w1, s.w2, s.w3, s.norm, s.freqs, s.freqs]
    case 1: fp32 = [s.attNorm, s.ffnNorm, s.norm, s.embed, s.q, s.k, s.v, s.o, s.w1, s.w2, s.w3]
    default:
      fp32 = [s.attNorm, s.ffnNorm, s.norm]
      quantized = [s.embed, s.q, s.k, s.v, s.o, s.w1, s.w2, s.w3]
    }
    if !h.sharedClassifier {
      if h.version == 2 { quantized.append(s.head) } else { fp32.append(s.head) }
    }
    // Expected size; first bounded in Double so that the Int arithmetic below cannot overflow.
    let elements = (fp32 + quantized).reduce(0.0) {
      $0 + Double($1.perLayer ? h.layers : 1) * $1.shape.reduce(1.0) { $0 * Double($1) }
    }
    guard elements * 5 < Double(Int.max / 4) else {
      throw fail("has an impossible header: its sizes imply \(elements) weights")
    }
    var expected = dataStart
    for slot in fp32 { expected += 4 * count(slot, h) }
    for slot in quantized {
      let n = slot.shape.reduce(1, *)
      expected += (slot.perLayer ? h.layers : 1) * (n + 4 * (n / h.groupSize))
    }
    guard file.size == expected else {
      let how = file.size < expected ? "truncated" : "longer than its header implies"
      let sizes =
        "dim \(h.dim), hidden \(h.hiddenDim), layers \(h.layers), heads \(h.heads)/\(h.kvHeads), "
        + "vocab \(h.vocabularySize), seq \(h.contextLength)"
      throw fail("is \(how): \(file.size) bytes, but its header (\(sizes)) implies \(expected)")
    }
    var out: [String: Tensor] = [:]
    var offset = dataStart
    for slot in fp32 {
      let n = count(slot, h)
      if !slot.name.isEmpty {
        let all = Tensor(
          storage: Buffer(mapping: file, byteOffset: offset, byteCount: 4 * n),
          shape: (slot.perLayer ? [h.layers] : []) + slot.shape)
        store(all, slot, h, into: &out)
      }
      offset += 4 * n
    }
    var blocks: [String: (values: [Int8], scales: [Float])] = [:]
    for slot in quantized {
      let n = slot.shape.reduce(1, *)
      for layer in 0..<(slot.perLayer ? h.layers : 1) {
        let values = file.bytes(offset: offset, count: n)
        let name = slot.name.replacingOccurrences(of: "%", with: String(layer))
        let scaleBytes = file.bytes(offset: offset + n, count: 4 * (n / h.groupSize))
        let scales = (0..<(n / h.groupSize)).map {
          Float(bitPattern: UInt32(bitPattern: int32(scaleBytes, at: 4 * $0)))
        }
        let ints = values.map { Int8(bitPattern: $0) }
        guard !ints.contains(.min) else {
          throw fail("holds the value -128 in \(name); Q8_0 values lie in [-127, 127]")
        }
        guard scales.allSatisfy(\.isFinite) else { throw fail("holds a non-finite Q8_0 scale in \(name)") }
        var floats = [Float](repeating: 0, count: n)
        for i in 0..<n { floats[i] = Float(ints[i]) * scales[i / h.groupSize] }
        out[name] = Tensor(floats, shape: slot.shape)
        blocks[name] = (ints, scales)
        offset += n + 4 * (n / h.groupSize)
      }
    }
    return (out, blocks)
  }

  /// The little-endian int32 at `offset` in `bytes`.
  private static func int32(_ bytes: [UInt8], at offset: Int) -> Int32 {
    let b = (0..<4).map { UInt32(bytes[offset + $0]) << (8 * $0) }
    return Int32(bitPattern: b[0] | b[1] | b[2] | b[3])
  }

  private static func count(_ slot: Slot, _ h: Header) -> Int {
    (slot.perLayer ? h.layers : 1) * slot.shape.reduce(1, *)
  }

  /// Splits a stacked [L, ...] tensor into per-layer views under their names.
  private static func store(_ all: Tensor, _ slot: Slot, _ h: Header, into out: inout [String: Tensor]) {
    guard slot.perLayer else {
      out[slot.name] = all
      return
    }
    for layer in 0..<h.layers {
      let name = slot.name.replacingOccurrences(of: "%", with: String(layer))
      out[name] = try? all.sliced(axis: 0, layer..<(layer + 1)).squeezed(0)
    }
  }
}

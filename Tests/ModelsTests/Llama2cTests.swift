import Checkpoints
import Foundation
import LMCore
import Models
import NN
import TensorCore
import TestSupport
import Testing

/// A minimal reader of llama2.c's tokenizer.bin for these tests only: pieces, scores, encode and decode.
private struct TestTokenizer {
  var pieces: [[UInt8]] = []
  var scores: [Float] = []
  var ids: [[UInt8]: Int] = [:]

  init(path: String, vocabularySize: Int) throws {
    let d = [UInt8](try Data(contentsOf: URL(fileURLWithPath: path)))
    func u32(_ o: Int) -> UInt32 { (0..<4).reduce(0) { $0 | UInt32(d[o + $1]) << (8 * $1) } }
    var o = 4
    for i in 0..<vocabularySize {
      scores.append(Float(bitPattern: u32(o)))
      let n = Int(u32(o + 4))
      pieces.append(Array(d[(o + 8)..<(o + 8 + n)]))
      ids[pieces[i]] = ids[pieces[i]] ?? i
      o += 8 + n
    }
  }

  /// llama2.c `encode(text, bos=1, eos=0)`.
  func encode(_ text: String) -> [Int] {
    var tokens = [1]
    guard !text.isEmpty else { return tokens }
    tokens.append(ids[[32]]!)
    for scalar in text.unicodeScalars {
      let bytes = Array(String(scalar).utf8)
      if let id = ids[bytes] { tokens.append(id) } else { tokens += bytes.map { Int($0) + 3 } }
    }
    while true {
      var best: (score: Float, index: Int, id: Int)?
      for i in 1..<(tokens.count - 1) {
        guard let id = ids[pieces[tokens[i]] + pieces[tokens[i + 1]]] else { continue }
        if best == nil || scores[id] > best!.score { best = (scores[id], i, id) }
      }
      guard let best else { break }
      tokens.replaceSubrange(best.index...(best.index + 1), with: [best.id])
    }
    return tokens
  }

  /// llama2.c's printed text for a token sequence starting with BOS.
  func decode(_ tokens: [Int]) -> String {
    var out: [UInt8] = []
    for (prev, token) in zip(tokens, tokens.dropFirst()) {
      var piece = pieces[token]
      if prev == 1, piece.first == 32 { piece.removeFirst() }
      if let s = String(bytes: piece, encoding: .utf8), s.hasPrefix("<0x"), s.count == 6,
        let b = UInt8(s.dropFirst(3).prefix(2), radix: 16)
      {
        piece = [b]
      }
      out += piece
    }
    return String(decoding: out, as: UTF8.self)
  }
}

/// llama2.c's generate loop: positions 0 ..< steps are fed and each yields one next token (the prompt's own
/// while inside it, else the argmax), so up to `steps` tokens follow BOS; a BOS ends it.
private func llama2cGreedy(_ model: Llama, prompt: [Int], steps: Int) throws -> [Int] {
  let cache = model.makeState(batch: 1, capacity: steps)
  var tokens = prompt
  var logits = try model.logits(Tensor(indices: prompt, shape: [1, prompt.count]), state: cache)
  while tokens.count <= steps {
    let last = try logits.sliced(axis: 1, (logits.shape[1] - 1)..<logits.shape[1]).floats
    var next = 0
    for i in last.indices where last[i] > last[next] { next = i }
    if next == 1 { break }
    tokens.append(next)
    if tokens.count > steps { break }
    logits = try model.logits(Tensor(indices: [next], shape: [1, 1]), state: cache)
  }
  return tokens
}

private func littleEndian<T: FixedWidthInteger>(_ v: T) -> [UInt8] { withUnsafeBytes(of: v.littleEndian) { Array($0) } }
private func floatBytes(_ v: [Float]) -> [UInt8] { v.flatMap { littleEndian($0.bitPattern) } }

@Suite struct Llama2cTests {
  static let hasStories260K = SharedData.has(data: "llama2c/stories260K.bin")
  static let stories260KAbsent: Comment = "needs data/llama2c/stories260K.bin (\(SharedData.hint))"

  @Test(
    .enabled(
      if: SharedData.has(data: "llama2c/stories260K.bin") && SharedData.has(data: "llama2c/tok512.bin")
        && SharedData.hasReference("llama2c/stories260K_greedy.json"),
      "needs data/llama2c/stories260K.bin, tok512.bin and reference/llama2c/stories260K_greedy.json"))
  func stories260KGreedyMatchesLlama2c() throws {
    let bin = try #require(SharedData.data("llama2c/stories260K.bin"))
    let tok = try #require(SharedData.data("llama2c/tok512.bin"))
    let goldenPath = try #require(SharedData.reference("llama2c/stories260K_greedy.json"))
    let model = try Llama(llama2cPath: bin)
    #expect(model.config.ropeInterleaved && model.config.tiedEmbeddings)
    let tokenizer = try TestTokenizer(path: tok, vocabularySize: model.vocabularySize)
    #expect(tokenizer.encode("Once upon a time") == [1, 403, 407, 261, 378])
    let golden =
      try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: goldenPath))) as! [String: Any]
    let cases = golden["cases"] as! [[String: Any]]
    #expect(!cases.isEmpty)
    for c in cases {
      let prompt = c["prompt"] as! String
      let steps = min(c["steps"] as! Int, model.contextLength)
      let ids = try llama2cGreedy(model, prompt: tokenizer.encode(prompt), steps: steps)
      #expect(tokenizer.decode(ids) + "\n" == c["output"] as! String, "prompt \(prompt)")
    }
  }

  @Test(.enabled(if: Self.hasStories260K, Self.stories260KAbsent))
  func versionedFormatsAndHFExportAgree() throws {
    let bin = try #require(SharedData.data("llama2c/stories260K.bin"))
    let model = try Llama(llama2cPath: bin)
    let h = try Llama2cCheckpoint(path: bin).header
    let p = model.parameters()
    func layers(_ suffix: String) -> [Tensor] { (0..<h.layers).map { p["model.layers.\($0).\(suffix)"]! } }
    let norms = layers("input_layernorm.weight") + layers("post_attention_layernorm.weight") + [p["model.norm.weight"]!]
    let matrices =
      [p["model.embed_tokens.weight"]!] + layers("self_attn.q_proj.weight")
      + layers("self_attn.k_proj.weight") + layers("self_attn.v_proj.weight") + layers("self_attn.o_proj.weight")
      + layers("mlp.gate_proj.weight") + layers("mlp.down_proj.weight") + layers("mlp.up_proj.weight")
    let params = [h.dim, h.hiddenDim, h.layers, h.heads, h.kvHeads, h.vocabularySize, h.contextLength]
    func header(version: Int32, extra: [UInt8]) -> [UInt8] {
      var b = littleEndian(Llama2cCheckpoint.magic) + littleEndian(version) + params.flatMap { littleEndian(Int32($0)) }
      b += [1] + extra
      return b + [UInt8](repeating: 0, count: 256 - b.count)
    }
    let dir = temporaryPath("llama2c-formats")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let ids = Tensor(indices: [1, 403, 407, 261, 378, 432], shape: [1, 6])
    let reference = try model(ids).floats

    // Version 1: float32 norms first, then the matrices.
    let v1 = header(version: 1, extra: []) + floatBytes((norms + matrices).flatMap(\.floats))
    try Data(v1).write(to: URL(fileURLWithPath: dir + "/v1.bin"))
    #expect(try Llama(llama2cPath: dir + "/v1.bin")(ids).floats == reference)

    // Version 2: Q8_0 matrices (int8 values, then one scale per group), dequantised on load.
    let group = 32
    var v2 = header(version: 2, extra: littleEndian(Int32(group))) + floatBytes(norms.flatMap(\.floats))
    var dequantised: [[Float]] = []
    for m in matrices {
      let w = m.floats
      var q: [UInt8] = []
      var scales: [Float] = []
      var back: [Float] = []
      for g in stride(from: 0, to: w.count, by: group) {
        let chunk = w[g..<(g + group)]
        let s = (chunk.map(abs).max() ?? 0) / 127
        scales.append(s)
        for x in chunk {
          let v = Int8(s == 0 ? 0 : (x / s).rounded())
          q.append(UInt8(bitPattern: v))
          back.append(Float(v) * s)
        }
      }
      v2 += q + floatBytes(scales)
      dequantised.append(back)
    }
    try Data(v2).write(to: URL(fileURLWithPath: dir + "/v2.bin"))
    let quantized = try Llama(llama2cPath: dir + "/v2.bin")
    #expect(quantized.embedding.weight.floats == dequantised[0])
    #expect(quantized.layers[h.layers - 1].mlp.up.weight.floats == dequantised[dequantised.count - 1])

    // HF export permutes q/k to rotate-half order; the reloaded model computes the same function.
    try model.save(to: dir + "/hf")
    let hf = try Llama(contentsOf: dir + "/hf")
    #expect(!hf.config.ropeInterleaved)
    expectClose(try hf(ids).floats, reference, atol: 1e-5, "HF export vs llama2.c")
  }

  @Test(.enabled(if: Self.hasStories260K, Self.stories260KAbsent))
  func corruptFilesAreClearErrors() throws {
    let bin = try #require(SharedData.data("llama2c/stories260K.bin"))
    let good = [UInt8](try Data(contentsOf: URL(fileURLWithPath: bin)))
    let dir = temporaryPath("llama2c-corrupt")
    try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var negativeDim = good
    negativeDim.replaceSubrange(0..<4, with: littleEndian(Int32(-64)))
    var badVersion = littleEndian(Llama2cCheckpoint.magic) + littleEndian(Int32(7))
    badVersion += [UInt8](repeating: 0, count: 300)
    var hugeLayers = good
    hugeLayers.replaceSubrange(8..<12, with: littleEndian(Int32(1_000_000)))
    let cases: [(String, [UInt8], String)] = [
      ("truncated", Array(good.dropLast(100)), "truncated"), ("padded", good + [0, 0, 0, 0], "longer"),
      ("short", Array(good.prefix(10)), "shorter"), ("empty", [], "shorter"),
      ("negative", negativeDim, "impossible"), ("version", badVersion, "version 7"), ("huge", hugeLayers, "truncated"),
    ]
    for (name, bytes, phrase) in cases {
      let path = dir + "/\(name).bin"
      try Data(bytes).write(to: URL(fileURLWithPath: path))
      do {
        _ = try Llama(llama2cPath: path)
        Issue.record("\(name): a corrupt file loaded")
      } catch let error as CheckpointError {
        #expect(error.description.contains(phrase) && error.description.contains(path), "\(name): \(error)")
        #expect(!error.description.contains("\n"))
      }
    }
    #expect(throws: CheckpointError.self) { try Llama(llama2cPath: dir + "/missing.bin") }
  }
}

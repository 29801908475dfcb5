import Data
import Foundation
import Generation
import Kernels
import LMCore
import Models
import NN
import TensorCore

/// The decoding part of `frontier bench`: KV-cache generation and prompt prefill of small Llamas.
extension BenchCommand {
  /// The stories15M shape of llama2.c (dim 288, 6 layers, 6 heads, vocabulary 32000, context 256,
  /// tied head), with random weights.
  static let stories15MShape = LlamaConfiguration(
    vocabularySize: 32_000, hiddenSize: 288, intermediateSize: 768, layers: 6, heads: 6, contextLength: 256,
    tiedEmbeddings: true, ropeInterleaved: true)

  /// Measures decode and prefill speed and passes each result to `record` (key, value, note).
  static func measureDecoding(repeats: Int, record: (String, Double, String) -> Void) throws {
    var rng = RandomGenerator(seed: 11)
    let model = try Llama(stories15MShape, generator: &rng)
    // As llama2.c's `run model.bin -n 256 -i "Once"`: a 2-token prompt, then generation to the full context.
    let prompt = (0..<2).map { _ in Int(rng.next() % 32_000) }
    let threads = Parallel.threadCount
    for count in threads > 1 ? [threads, 1] : [threads] {
      Parallel.setThreadCount(count)
      defer { Parallel.setThreadCount(threads) }
      let suffix = count == threads ? "" : "_1t"
      let note = count == threads ? "" : ", 1 thread"
      let decode = try medianDecodeRate(model, prompt: prompt, tokens: 254, repeats: repeats)
      record(
        "decode_tokens_per_s_15m" + suffix, decode,
        "random Llama of the stories15M shape, KV cache, greedy, 254 tokens after a 2-token prompt (median)\(note)")
      for format in [WeightFormat.bfloat16, .q8_0(groupSize: 32)] {
        try model.packWeights(format)
        defer { try? model.packWeights(.float32) }
        let rate = try medianDecodeRate(model, prompt: prompt, tokens: 254, repeats: repeats)
        record(
          "decode_tokens_per_s_15m_\(format)" + suffix, rate,
          "same model and prompt, weights packed to \(format) (head included)\(note)")
      }
      let batched = try batchedDecodeRate(model, prompts: 8, tokens: 254, repeats: repeats, rng: &rng)
      record(
        "batched8_tokens_per_s_15m" + suffix, batched,
        "same model, 8 different 2-token prompts decoded together, new tokens per second (median)\(note)")
    }

    let longPrompt = (0..<128).map { _ in Int64(rng.next() % 32_000) }
    let ids = Tensor(indices: longPrompt, shape: [1, 128])
    let prefill = KernelBenchmarks.bestTime(repeats: repeats) {
      _ = try? withoutGradients { try model.lastLogits(ids, state: model.makeState(batch: 1, capacity: 128)) }
    }
    record("prefill_tokens_per_s_15m", 128 / prefill, "same model, one 128-token prompt into an empty KV cache")

    // Sampling's own cost: what every sampled token of every speculative level pays outside forward passes.
    let logits = (0..<4096).map { _ in Float(rng.next() % 1_000_000) / 1_000_000 * 12 - 6 }
    let sampler = Sampler(SamplingOptions(temperature: 1, topP: 0.9))
    let distribution = KernelBenchmarks.bestTime(repeats: repeats) {
      for _ in 0..<100 { _ = sampler.distribution(logits: logits) }
    }
    record(
      "sampler_distribution_us", distribution / 100 * 1e6,
      "one processed distribution (T 1, top-p 0.9) over 4096 uniform logits in [-6, 6)")

    guard let path = try? DataLocation.file("llama2c/stories260K.bin"), FileManager.default.fileExists(atPath: path)
    else {
      FileHandle.standardError.write(
        "  skipped decode_tokens_per_s_stories260k: llama2c/stories260K.bin is not in the data folder\n"
          .data(using: .utf8)!)
      return
    }
    let small = try Llama(llama2cPath: path)
    for count in threads > 1 ? [threads, 1] : [threads] {
      Parallel.setThreadCount(count)
      defer { Parallel.setThreadCount(threads) }
      let rate = try medianDecodeRate(small, prompt: [1], tokens: small.contextLength - 1, repeats: repeats)
      record(
        "decode_tokens_per_s_stories260k" + (count == threads ? "" : "_1t"), rate,
        "llama2.c stories260K, KV cache, greedy, \(small.contextLength - 1) tokens after BOS (median)"
          + (count == threads ? "" : ", 1 thread"))
    }
  }

  /// Median rate of new tokens per second (prefill included) of `prompts` random 2-token prompts decoded
  /// together for `tokens` tokens each.
  static func batchedDecodeRate(
    _ model: LanguageModel, prompts: Int, tokens: Int, repeats: Int, rng: inout RandomGenerator
  ) throws -> Double {
    let batch = (0..<prompts).map { _ in (0..<2).map { _ in Int(rng.next() % UInt64(model.vocabularySize)) } }
    let generator = try BatchedGenerator(model: model, batchSize: prompts)
    var rates: [Double] = []
    let clock = ContinuousClock()
    for run in 0...max(1, repeats) {
      let start = clock.now
      let results = try generator.generate(prompts: batch, options: GenerationOptions(maxTokens: tokens))
      let seconds = (clock.now - start).seconds
      if run > 0 { rates.append(Double(results.reduce(0) { $0 + $1.tokens.count }) / seconds) }
    }
    return rates.sorted()[rates.count / 2]
  }

  /// Median decode rate (new tokens per second after the first) of greedy generation over `repeats` runs
  /// after one untimed warm-up run.
  static func medianDecodeRate(_ model: LanguageModel, prompt: [Int], tokens: Int, repeats: Int) throws -> Double {
    let generator = Generator(model: model)
    var rates: [Double] = []
    for run in 0...max(1, repeats) {
      let result = try generator.generate(prompt: prompt, options: GenerationOptions(maxTokens: tokens))
      if run > 0 { rates.append(result.decodeTokensPerSecond) }
    }
    return rates.sorted()[rates.count / 2]
  }
}

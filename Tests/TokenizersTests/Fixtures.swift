import Foundation
import TestSupport
import Testing

@testable import Tokenizers

/// Shared loaders for the tokenizer tests; each is nil when its files are absent (gate the test on the
/// matching `has…` flag, whose reason names the file, and unwrap with `#require`).
enum Fixtures {
  static func json(_ path: String) throws -> [String: Any] {
    let data = try Data(contentsOf: URL(fileURLWithPath: path))
    return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
  }

  /// Whether GPT-2's vocab.json and merges.txt are present.
  static let hasGPT2 =
    SharedData.has(data: "gpt2_tokenizer/gpt2_vocab.json") && SharedData.has(data: "gpt2_tokenizer/gpt2_merges.txt")

  /// Whether llama2.c's tok512.bin is present.
  static let hasTok512 = SharedData.has(data: "llama2c/tok512.bin")

  /// Whether the MiniLM tokenizer.json is present.
  static let hasMiniLMTokenizer = miniLMTokenizerPath != nil

  /// Why a test needing ``gpt2`` is skipped.
  static let gpt2Absent: Comment = "needs data/gpt2_tokenizer/gpt2_vocab.json and gpt2_merges.txt (\(SharedData.hint))"

  /// Why a test needing ``tok512`` is skipped.
  static let tok512Absent: Comment = "needs data/llama2c/tok512.bin (\(SharedData.hint))"

  /// Why a test needing the MiniLM tokenizer is skipped.
  static let miniLMAbsent: Comment = "needs the MiniLM tokenizer.json (\(SharedData.miniLMHint))"

  /// GPT-2 from vocab.json + merges.txt, loaded once.
  static let gpt2: BPETokenizer? = {
    guard let vocab = SharedData.data("gpt2_tokenizer/gpt2_vocab.json"),
      let merges = SharedData.data("gpt2_tokenizer/gpt2_merges.txt")
    else { return nil }
    return try? BPETokenizer(vocabularyFile: vocab, mergesFile: merges)
  }()

  /// tok512.bin from llama2.c, loaded once.
  static let tok512: Llama2cTokenizer? = {
    guard let path = SharedData.data("llama2c/tok512.bin") else { return nil }
    return try? Llama2cTokenizer(path: path, vocabularySize: 512)
  }()

  /// The MiniLM tokenizer.json (see ``SharedData/miniLMDirectory(containing:)`` for where it is looked for).
  static var miniLMTokenizerPath: String? { SharedData.miniLM("tokenizer.json") }

  /// A fresh temporary file path.
  static func temporaryPath(_ name: String) -> String {
    FileManager.default.temporaryDirectory.appendingPathComponent("frontier-tok-\(getpid())-\(UUID())-\(name)").path
  }
}

/// A seeded generator for reproducible random text.
struct SplitMix: RandomNumberGenerator {
  var state: UInt64
  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }
}

/// Random text mixing ASCII, spaces, controls, accents, combining marks, CJK, emoji, ZWJ and flags.
func randomUnicodeText(_ rng: inout SplitMix, length: Int) -> String {
  let pools: [[UInt32]] = [
    Array(0x20...0x7E), [0x09, 0x0A, 0x0D, 0x0B, 0x0C, 0x00, 0x1B, 0x7F, 0x85, 0xA0, 0x2009, 0x3000],
    Array(0xC0...0xFF), Array(0x300...0x36F), Array(0x391...0x3C9), Array(0x410...0x44F), Array(0x4E00...0x4E80),
    Array(0x3040...0x309F), Array(0xAC00...0xAC40), Array(0x1F600...0x1F64F), [0x200D, 0xFE0F, 0x1F1FA, 0x1F1F8],
    Array(0x600...0x64A), [0xFFFD, 0xFEFF, 0x10FFFF, 0xE000, 0x1D11E],
  ]
  var scalars = String.UnicodeScalarView()
  for _ in 0..<length {
    let pool = pools[Int(rng.next() % UInt64(pools.count))]
    if let s = Unicode.Scalar(pool[Int(rng.next() % UInt64(pool.count))]) { scalars.append(s) }
  }
  return String(scalars)
}

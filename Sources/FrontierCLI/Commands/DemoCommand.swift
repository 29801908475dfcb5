import Data
import Foundation
import Models
import NN
import TensorCore

/// `frontier demo`: a short real training run of a small byte-level GPT, then sampling from it.
enum DemoCommand: Command {
  static let name = "demo"
  static let summary = "Train a small byte-level GPT on tiny-shakespeare for a minute, then sample from it."
  static let options = [
    OptionSpec("steps", value: "N", default: "600", "training steps"),
    OptionSpec("seed", value: "N", default: "1", "random seed"),
    OptionSpec("data", value: "FILE", default: "tinyshakespeare/input.txt", "text file (under the data folder)"),
    OptionSpec("sample", value: "N", default: "300", "bytes to sample after training"),
  ]

  static func run(_ args: ParsedArguments) throws {
    let steps = try args.int("steps", default: 600)
    let seed = try args.int("seed", default: 1)
    let sampleLength = try args.int("sample", default: 300)
    guard steps >= 0, sampleLength >= 0 else { throw UsageError(message: "frontier demo: counts must be non-negative") }
    let dataName = args.string("data") ?? "tinyshakespeare/input.txt"
    let path = FileManager.default.fileExists(atPath: dataName) ? dataName : try DataLocation.file(dataName)
    guard let data = FileManager.default.contents(atPath: path), data.count > 1000 else {
      throw DataError(message: "\(path): unreadable or shorter than 1000 bytes; pass a larger text file with --data")
    }
    let bytes = [UInt8](data)
    let split = bytes.count * 9 / 10
    let config = GPTConfiguration(vocabularySize: 256, contextLength: 128, layers: 4, heads: 4, width: 128)
    var rng = RandomGenerator(seed: UInt64(seed))
    let model = try GPT(config, generator: &rng)
    print("frontier demo: byte-level GPT, \(model.parameterCount) parameters, \(bytes.count) bytes of \(path)")
    let optimizer = AdamW(learningRate: 1e-3, weightDecay: 0.1, decays: AdamW.decayMatricesOnly)
    let schedule = LearningRateSchedule.cosine(peak: 3e-3, minimum: 3e-4, warmup: 30, total: max(steps, 1))
    let batch = 16
    let t = config.contextLength
    func window(_ range: Range<Int>) -> (Tensor, Tensor) {
      var ids: [Int64] = []
      for _ in 0..<batch {
        let start = range.lowerBound + Int(rng.next() % UInt64(range.count - t - 1))
        ids += bytes[start..<(start + t + 1)].map { Int64($0) }
      }
      let all = Tensor(indices: ids, shape: [batch, t + 1])
      return (
        try! all.sliced(axis: 1, 0..<t).contiguous(), try! all.sliced(axis: 1, 1..<(t + 1)).contiguous()
      )
    }
    let progress = ProgressLine()
    let clock = ContinuousClock()
    let start = clock.now
    var lastLoss: Float = .nan
    for s in 0..<steps {
      optimizer.learningRate = schedule.rate(at: s)
      let (x, y) = window(0..<split)
      let (loss, grads) = try valueAndGradient(of: model) { m in try m.loss(inputs: x, targets: y) }
      let (scale, _) = GradientClipping.scale(for: grads, maxNorm: 1)
      try optimizer.update(model, gradients: grads, gradientScale: scale)
      lastLoss = loss.item()
      guard lastLoss.isFinite else { throw DataError(message: "training diverged at step \(s + 1) (loss \(lastLoss))") }
      let elapsed = (clock.now - start).seconds
      let rate = Double((s + 1) * batch * t) / elapsed
      let eta = elapsed / Double(s + 1) * Double(steps - s - 1)
      progress.update(
        String(
          format: "step %d/%d  loss %.3f  lr %.2e  %.0f tok/s  ETA %.0fs", s + 1, steps, lastLoss,
          optimizer.learningRate, rate, eta), final: s == steps - 1)
    }
    model.eval()
    let validation = try withoutGradients { () -> Float in
      var total: Float = 0
      for _ in 0..<4 {
        let (x, y) = window(split..<bytes.count)
        total += try model.loss(inputs: x, targets: y).item()
      }
      return total / 4
    }
    print(String(format: "validation loss %.3f nats/byte (uniform would be %.3f)", validation, log(256.0)))
    var context = Array(bytes[split..<(split + 64)]).map { Int64($0) }
    var generated: [UInt8] = []
    try withoutGradients {
      for _ in 0..<sampleLength {
        let window = Array(context.suffix(t))
        let logits = try model(Tensor(indices: window, shape: [1, window.count]))
        let last = try logits.sliced(axis: 1, (window.count - 1)..<window.count).reshaped([256])
        let probs = try (last / 0.8).softmax().floats
        var u = rng.nextFloat()
        var choice = 255
        for (i, p) in probs.enumerated() {
          u -= p
          if u <= 0 {
            choice = i
            break
          }
        }
        context.append(Int64(choice))
        generated.append(UInt8(choice))
      }
    }
    print("--- prompt ---\n\(String(decoding: bytes[split..<(split + 64)], as: UTF8.self))")
    print("--- sample (temperature 0.8) ---\n\(String(decoding: generated, as: UTF8.self))")
  }
}

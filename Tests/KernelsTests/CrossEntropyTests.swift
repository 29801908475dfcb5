import Foundation
import Kernels
import Testing

/// Seeded splitmix64 generator for reproducible inputs.
private struct SeededRandom {
  var state: UInt64

  mutating func next() -> UInt64 {
    state &+= 0x9E37_79B9_7F4A_7C15
    var z = state
    z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
    z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
    return z ^ (z >> 31)
  }

  /// Uniform in `[-1, 1) * scale`.
  mutating func floats(_ n: Int, scale: Float = 1) -> [Float] {
    (0..<n).map { _ in (Float(next() >> 40) / Float(1 << 24) * 2 - 1) * scale }
  }

  /// Targets in `0..<classes`, each replaced by `ignore` with probability 1/4.
  mutating func targets(_ n: Int, classes: Int, ignore: Int32) -> [Int32] {
    (0..<n).map { _ in next() % 4 == 0 ? ignore : Int32(next() % UInt64(classes)) }
  }
}

/// Expects `|a - b| <= tolerance * (1 + |b|)` elementwise.
private func expectClose(
  _ a: [Float], _ b: [Float], tolerance: Float, _ label: String, sourceLocation: SourceLocation = #_sourceLocation
) {
  #expect(a.count == b.count, "\(label): counts differ", sourceLocation: sourceLocation)
  var worst: Float = 0
  var at = 0
  for i in 0..<min(a.count, b.count) {
    let err = abs(a[i] - b[i]) / (1 + abs(b[i]))
    if !(err <= worst) {
      worst = err
      at = i
    }
  }
  #expect(worst <= tolerance, "\(label): error \(worst) at \(at): \(a[at]) vs \(b[at])", sourceLocation: sourceLocation)
}

/// Per-row cross-entropy in Double (PyTorch's label-smoothing definition), the finite-difference oracle.
private func lossesDouble(
  _ logits: [Double], _ targets: [Int32], classes: Int, ignore: Int32, smoothing: Double
) -> [Double] {
  targets.indices.map { r in
    let row = logits[(r * classes)..<((r + 1) * classes)]
    guard targets[r] != ignore else { return 0 }
    let m = row.max()!
    let lse = m + log(row.reduce(0) { $0 + exp($1 - m) })
    let nll = lse - row[r * classes + Int(targets[r])]
    let smooth = row.reduce(0) { $0 + lse - $1 } / Double(classes)
    return (1 - smoothing) * nll + smoothing * smooth
  }
}

private struct Outputs {
  var losses: [Float]
  var logSumExp: [Float]
  var dLogits: [Float]
  var count: Int
}

private func run(
  reference: Bool, logits: [Float], targets: [Int32], dLoss: [Float], classes: Int, ignore: Int32,
  smoothing: Float
) -> Outputs {
  let rows = targets.count
  var out = Outputs(
    losses: .init(repeating: .nan, count: rows), logSumExp: .init(repeating: .nan, count: rows),
    dLogits: .init(repeating: .nan, count: rows * classes), count: -1)
  if reference {
    out.count = CrossEntropy.forwardReference(
      logits: logits, targets: targets, losses: &out.losses, logSumExp: &out.logSumExp, rows: rows,
      classes: classes, ignoreIndex: ignore, labelSmoothing: smoothing)
    CrossEntropy.backwardReference(
      logits: logits, targets: targets, logSumExp: out.logSumExp, dLoss: dLoss, dLogits: &out.dLogits, rows: rows,
      classes: classes, ignoreIndex: ignore, labelSmoothing: smoothing)
  } else {
    out.count = CrossEntropy.forward(
      logits: logits, targets: targets, losses: &out.losses, logSumExp: &out.logSumExp, rows: rows,
      classes: classes, ignoreIndex: ignore, labelSmoothing: smoothing)
    CrossEntropy.backward(
      logits: logits, targets: targets, logSumExp: out.logSumExp, dLoss: dLoss, dLogits: &out.dLogits, rows: rows,
      classes: classes, ignoreIndex: ignore, labelSmoothing: smoothing)
  }
  return out
}

@Suite struct CrossEntropyTests {
  @Test(arguments: [Float(0), 0.1])
  func fastMatchesReference(smoothing: Float) {
    var rng = SeededRandom(state: 11)
    let shapes = [(1, 1), (7, 7), (3, 15), (5, 16), (5, 17), (33, 33), (4, 100), (100, 7), (64, 1000), (3, 32000)]
    for (rows, classes) in shapes {
      let logits = rng.floats(rows * classes, scale: 8)
      let targets = rng.targets(rows, classes: classes, ignore: -100)
      let dLoss = rng.floats(rows)
      let fast = run(
        reference: false, logits: logits, targets: targets, dLoss: dLoss, classes: classes, ignore: -100,
        smoothing: smoothing)
      let ref = run(
        reference: true, logits: logits, targets: targets, dLoss: dLoss, classes: classes, ignore: -100,
        smoothing: smoothing)
      let label = "\(rows)x\(classes) eps=\(smoothing)"
      #expect(fast.count == ref.count, "\(label) count")
      #expect(fast.count == targets.filter { $0 != -100 }.count, "\(label) count")
      expectClose(fast.losses, ref.losses, tolerance: 2e-6, "\(label) losses")
      expectClose(fast.logSumExp, ref.logSumExp, tolerance: 2e-6, "\(label) logSumExp")
      expectClose(fast.dLogits, ref.dLogits, tolerance: 1e-6, "\(label) dLogits")
      for r in 0..<rows where targets[r] == -100 {
        #expect(fast.losses[r] == 0)
        #expect(fast.dLogits[(r * classes)..<((r + 1) * classes)].allSatisfy { $0 == 0 }, "\(label) ignored row")
      }
    }
  }

  @Test(arguments: [Float(0), 0.2])
  func referenceGradientMatchesFiniteDifferences(smoothing: Float) {
    var rng = SeededRandom(state: 12)
    let (rows, classes) = (4, 5)
    let logits = rng.floats(rows * classes, scale: 3)
    let targets: [Int32] = [2, -1, 0, 4]
    let dLoss = rng.floats(rows)
    let ref = run(
      reference: true, logits: logits, targets: targets, dLoss: dLoss, classes: classes, ignore: -1,
      smoothing: smoothing)
    let h = 1e-5
    var x = logits.map(Double.init)
    func total(_ x: [Double]) -> Double {
      let l = lossesDouble(x, targets, classes: classes, ignore: -1, smoothing: Double(smoothing))
      return zip(l, dLoss).reduce(0) { $0 + $1.0 * Double($1.1) }
    }
    var numeric = [Float]()
    for i in x.indices {
      let saved = x[i]
      x[i] = saved + h
      let up = total(x)
      x[i] = saved - h
      let down = total(x)
      x[i] = saved
      numeric.append(Float((up - down) / (2 * h)))
    }
    expectClose(ref.dLogits, numeric, tolerance: 1e-5, "dLogits vs finite differences")
    let expected = lossesDouble(
      logits.map(Double.init), targets, classes: classes, ignore: -1, smoothing: Double(smoothing))
    expectClose(ref.losses, expected.map(Float.init), tolerance: 1e-6, "losses vs Double oracle")
  }

  @Test func uniformLogitsGiveLogClasses() {
    let classes = 50
    let logits = [Float](repeating: 3.5, count: 2 * classes)
    var losses = [Float](repeating: 0, count: 2)
    var lse = losses
    let count = CrossEntropy.forward(
      logits: logits, targets: [7, 49], losses: &losses, logSumExp: &lse, rows: 2, classes: classes,
      ignoreIndex: -100, labelSmoothing: 0.3)
    #expect(count == 2)
    for l in losses { #expect(abs(l - Float(log(50.0))) < 1e-5) }
    for v in lse { #expect(abs(v - Float(3.5 + log(50.0))) < 1e-5) }
  }

  @Test func extremeLogitsStayFinite() {
    let classes = 40
    var logits = [Float](repeating: -1e4, count: classes)
    logits[3] = 1e4
    logits[5] = -.infinity
    var losses: [Float] = [0, 0]
    var lse = losses
    var d = [Float](repeating: 0, count: 2 * classes)
    let both = logits + logits
    let targets: [Int32] = [3, 0]
    CrossEntropy.forward(
      logits: both, targets: targets, losses: &losses, logSumExp: &lse, rows: 2, classes: classes,
      ignoreIndex: -100, labelSmoothing: 0)
    CrossEntropy.backward(
      logits: both, targets: targets, logSumExp: lse, dLoss: [1, 1], dLogits: &d, rows: 2, classes: classes,
      ignoreIndex: -100, labelSmoothing: 0)
    #expect(losses[0] == 0)
    #expect(losses[1] == 2e4)
    #expect(d.allSatisfy { $0.isFinite })
    #expect(d[3] == 0 && d[classes + 3] == 1 && d[classes] == -1)
  }

  @Test func allIgnoredCountsZero() {
    let logits: [Float] = [1, 2, 3, 4, 5, 6]
    var losses: [Float] = [9, 9]
    var lse = losses
    var d = [Float](repeating: 9, count: 6)
    let count = CrossEntropy.forward(
      logits: logits, targets: [-100, -100], losses: &losses, logSumExp: &lse, rows: 2, classes: 3,
      ignoreIndex: -100, labelSmoothing: 0.1)
    CrossEntropy.backward(
      logits: logits, targets: [-100, -100], logSumExp: lse, dLoss: [1, 1], dLogits: &d, rows: 2, classes: 3,
      ignoreIndex: -100, labelSmoothing: 0.1)
    #expect(count == 0)
    #expect(losses == [0, 0])
    #expect(d.allSatisfy { $0 == 0 })
  }
}

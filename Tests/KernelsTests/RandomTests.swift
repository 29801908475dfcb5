import Foundation
import Kernels
import Testing

/// Draws `count` floats with `fill`.
private func draw(_ count: Int, _ fill: (UnsafeMutablePointer<Float>) -> Void) -> [Float] {
  var y = [Float](repeating: .nan, count: count)
  y.withUnsafeMutableBufferPointer { fill($0.baseAddress!) }
  return y
}

/// Sample mean and (population) variance in Double.
private func moments(_ a: [Float]) -> (mean: Double, variance: Double) {
  let mean = a.reduce(0.0) { $0 + Double($1) } / Double(a.count)
  let variance = a.reduce(0.0) { $0 + (Double($1) - mean) * (Double($1) - mean) } / Double(a.count)
  return (mean, variance)
}

@Suite struct RandomTests {
  private let n = 100_000

  @Test func sameSeedSameStreamDifferentSeedDifferentStream() {
    var a = RandomGenerator(seed: 42)
    var b = RandomGenerator(seed: 42)
    var c = RandomGenerator(seed: 43)
    let sa = (0..<100).map { _ in a.next() }
    let sb = (0..<100).map { _ in b.next() }
    let sc = (0..<100).map { _ in c.next() }
    #expect(sa == sb)
    #expect(zip(sa, sc).allSatisfy { $0 != $1 })
    #expect(RandomGenerator(seed: 0).state.contains { $0 != 0 })
  }

  @Test func stateRoundTripContinuesIdentically() throws {
    var a = RandomGenerator(seed: 7)
    for _ in 0..<13 { _ = a.next() }
    var restored = RandomGenerator(state: a.state)
    let data = try JSONEncoder().encode(a)
    var decoded = try JSONDecoder().decode(RandomGenerator.self, from: data)
    let expected = draw(101) { a.fillNormal($0, count: 101, mean: 0, std: 1) }
    #expect(draw(101) { restored.fillNormal($0, count: 101, mean: 0, std: 1) } == expected)
    #expect(draw(101) { decoded.fillNormal($0, count: 101, mean: 0, std: 1) } == expected)
    #expect(restored.state == a.state && decoded.state == a.state)
    #expect(throws: DecodingError.self) { try JSONDecoder().decode(RandomGenerator.self, from: Data("[1,2]".utf8)) }
  }

  @Test func splitGivesIndependentStreams() {
    var parent = RandomGenerator(seed: 5)
    var twin = parent
    var child = parent.split()
    var child2 = twin.split()
    let sc = (0..<64).map { _ in child.next() }
    #expect(sc == (0..<64).map { _ in child2.next() })  // splitting is deterministic
    let sp = (0..<64).map { _ in parent.next() }
    #expect(Set(sc).isDisjoint(with: sp))
    // Child uniforms are uncorrelated with the parent's.
    let u = draw(n) { child.fillUniform($0, count: n, low: -1, high: 1) }
    let v = draw(n) { parent.fillUniform($0, count: n, low: -1, high: 1) }
    let correlation = zip(u, v).reduce(0.0) { $0 + Double($1.0) * Double($1.1) } / Double(n) / (1.0 / 3.0)
    #expect(abs(correlation) < 6 / Double(n).squareRoot())
  }

  @Test func uniformMomentsAndRange() {
    var rng = RandomGenerator(seed: 1)
    let (low, high): (Float, Float) = (-2, 3)
    let u = draw(n) { rng.fillUniform($0, count: n, low: low, high: high) }
    #expect(u.allSatisfy { $0 >= low && $0 < high })
    let (mean, variance) = moments(u)
    let w = Double(high - low)
    let sigma2 = w * w / 12
    // Standard errors: mean sigma/sqrt(n); variance sqrt((mu4 - sigma^4) / n) with mu4 = w^4 / 80.
    let meanError = (sigma2 / Double(n)).squareRoot()
    let varianceError = ((pow(w, 4) / 80 - sigma2 * sigma2) / Double(n)).squareRoot()
    #expect(abs(mean - 0.5) < 6 * meanError, "mean \(mean)")
    #expect(abs(variance - sigma2) < 6 * varianceError, "variance \(variance)")

    var a = RandomGenerator(seed: 9)
    var b = a
    let fast = draw(1001) { a.fillUniform($0, count: 1001, low: low, high: high) }
    let slow = draw(1001) { b.fillUniformReference($0, count: 1001, low: low, high: high) }
    #expect(zip(fast, slow).allSatisfy { abs($0 - $1) <= 1e-6 })
    var c = RandomGenerator(seed: 9)
    let floats = (0..<1001).map { _ in c.nextFloat() }
    #expect(floats.allSatisfy { $0 >= 0 && $0 < 1 })
    #expect(zip(fast, floats).allSatisfy { abs($0 - (low + (high - low) * $1)) <= 1e-6 })
  }

  @Test func normalMomentsAndReference() {
    var rng = RandomGenerator(seed: 2)
    let (mu, sigma): (Double, Double) = (0.5, 2)
    let z = draw(n) { rng.fillNormal($0, count: n, mean: Float(mu), std: Float(sigma)) }
    #expect(z.allSatisfy { $0.isFinite })
    let (mean, variance) = moments(z)
    // Standard errors: mean sigma/sqrt(n); variance sigma^2 sqrt(2/n).
    #expect(abs(mean - mu) < 6 * sigma / Double(n).squareRoot(), "mean \(mean)")
    #expect(abs(variance - sigma * sigma) < 6 * sigma * sigma * (2 / Double(n)).squareRoot(), "variance \(variance)")
    // About 4.55% of draws fall beyond 2 sigma.
    let tail = Double(z.filter { abs(Double($0) - mu) > 2 * sigma }.count) / Double(n)
    #expect(abs(tail - 0.0455) < 6 * (0.0455 * 0.9545 / Double(n)).squareRoot(), "tail \(tail)")

    var a = RandomGenerator(seed: 3)
    var b = a
    let fast = draw(999) { a.fillNormal($0, count: 999, mean: 1, std: 3) }
    let slow = draw(999) { b.fillNormalReference($0, count: 999, mean: 1, std: 3) }
    #expect(zip(fast, slow).allSatisfy { abs($0 - $1) <= 1e-4 * (1 + abs($1)) })
    #expect(a.state == b.state)
  }

  @Test func dropoutKeepRate() {
    for p: Float in [0, 0.1, 0.5, 0.9] {
      var rng = RandomGenerator(seed: UInt64(p * 100))
      let mask = draw(n + 1) { rng.fillDropoutMask($0, count: n + 1, probability: p) }
      let scale = 1 / (1 - p)
      #expect(mask.allSatisfy { $0 == 0 || $0 == scale })
      let keep = Double(mask.filter { $0 != 0 }.count) / Double(mask.count)
      let q = 1 - Double(p)
      #expect(abs(keep - q) <= 6 * (q * (1 - q) / Double(mask.count)).squareRoot() + 1e-12, "p \(p): keep \(keep)")
    }
    var rng = RandomGenerator(seed: 4)
    #expect(draw(33) { rng.fillDropoutMask($0, count: 33, probability: 1) }.allSatisfy { $0 == 0 })
  }
}

import Foundation
import Kernels

/// How the next token is chosen from the model's logits.
public struct SamplingOptions: Sendable, Equatable, Codable {
  /// Softmax temperature; 0 means greedy (argmax).
  public var temperature: Float
  /// Keep only the k most likely tokens (0: off).
  public var topK: Int
  /// Keep the smallest set of tokens whose probability reaches p (1: off).
  public var topP: Float
  /// Drop tokens whose probability is below minP times the top probability (0: off).
  public var minP: Float
  /// Divide positive (multiply negative) logits of tokens already in the context by this (1: off), as in HF.
  public var repetitionPenalty: Float
  /// Random seed of the sampler.
  public var seed: UInt64

  /// Creates options; the defaults are greedy decoding.
  public init(
    temperature: Float = 0, topK: Int = 0, topP: Float = 1, minP: Float = 0, repetitionPenalty: Float = 1,
    seed: UInt64 = 0
  ) {
    self.temperature = temperature
    self.topK = topK
    self.topP = topP
    self.minP = minP
    self.repetitionPenalty = repetitionPenalty
    self.seed = seed
  }

  /// Checks the ranges; the message names the offending option.
  public func validate() throws {
    guard temperature >= 0, temperature.isFinite else {
      throw SamplingError("temperature must be >= 0, got \(temperature)")
    }
    guard topK >= 0 else { throw SamplingError("top-k must be >= 0, got \(topK)") }
    guard topP > 0 && topP <= 1 else { throw SamplingError("top-p must be in (0, 1], got \(topP)") }
    guard minP >= 0 && minP < 1 else { throw SamplingError("min-p must be in [0, 1), got \(minP)") }
    guard repetitionPenalty > 0 else { throw SamplingError("repetition penalty must be > 0, got \(repetitionPenalty)") }
  }
}

/// A sampling option out of range.
public struct SamplingError: Error, CustomStringConvertible {
  /// What is wrong.
  public let description: String
  init(_ message: String) { description = message }
}

/// Turns logits into tokens: penalties, temperature, truncation (top-k, top-p, min-p), then a draw.
public struct Sampler {
  /// The options in force.
  public let options: SamplingOptions
  /// The random stream (serialisable for reproducible resumption).
  public var generator: RandomGenerator

  /// A sampler seeded from `options.seed`.
  public init(_ options: SamplingOptions) {
    self.options = options
    self.generator = RandomGenerator(seed: options.seed)
  }

  /// The processed distribution over the vocabulary (probabilities summing to 1; zeros outside the kept set).
  /// Greedy options give a one-hot vector at the argmax.
  public func distribution(logits: [Float], context: [Int] = []) -> [Float] {
    var z = logits
    if options.repetitionPenalty != 1 {
      for id in Set(context) where id >= 0 && id < z.count {
        z[id] = z[id] > 0 ? z[id] / options.repetitionPenalty : z[id] * options.repetitionPenalty
      }
    }
    if options.temperature == 0 {
      var out = [Float](repeating: 0, count: z.count)
      if let best = Sampler.argmax(z) { out[best] = 1 }
      return out
    }
    var (probs, total) = VectorMath.exponentials(of: z, minus: z.max() ?? 0, times: 1 / options.temperature)
    var order: [Int]?
    if options.topK > 0 && options.topK < probs.count {
      let sorted = Sampler.descendingOrder(probs, limit: options.topK)
      let keep = Set(sorted)
      for i in probs.indices where !keep.contains(i) { probs[i] = 0 }
      order = sorted
      total = probs.reduce(0, +)
    }
    if options.minP > 0, let top = probs.max() {
      let cut = options.minP * top
      for i in probs.indices where probs[i] < cut { probs[i] = 0 }
      total = probs.reduce(0, +)
    }
    if options.topP < 1 {
      // Exponent bands find the nucleus ranking one band; after top-k (already ranked), or when the bands
      // cannot tell, rank the largest few and widen only while their mass falls short.
      let candidates = order?.count ?? probs.count
      var nucleus: (kept: [Int], reached: Bool) = ([], false)
      if order == nil, let head = Sampler.nucleusByBands(probs, share: options.topP) { nucleus = (head, true) }
      // Running sums in double precision: the mass of thousands of small probabilities stays exact enough
      // for top-p close to 1.
      let mass = nucleus.reached ? 0 : Double(options.topP) * probs.reduce(0.0) { $0 + Double($1) }
      var limit = min(candidates, 64)
      while !nucleus.reached {
        let ranked = order.map { Array($0.prefix(limit)) } ?? Sampler.descendingOrder(probs, limit: limit)
        nucleus = Sampler.nucleusPrefix(ranked, probs: probs, reaching: mass)
        if limit >= candidates { break }
        limit = min(candidates, 4 * limit)
      }
      var kept = [Float](repeating: 0, count: probs.count)
      for i in nucleus.kept { kept[i] = probs[i] }
      probs = kept
      total = probs.reduce(0, +)
    }
    return probs.map { $0 / total }
  }

  /// Chooses the next token.
  public mutating func sample(logits: [Float], context: [Int] = []) -> Int {
    if options.temperature == 0 && options.repetitionPenalty == 1 { return Sampler.argmax(logits) ?? 0 }
    let probs = distribution(logits: logits, context: context)
    return draw(from: probs)
  }

  /// Draws an index from a probability vector (inverse CDF with one uniform number).
  public mutating func draw(from probs: [Float]) -> Int {
    let u = Double(generator.nextFloat())
    var cumulative = 0.0
    var last = 0
    for (i, p) in probs.enumerated() where p > 0 {
      cumulative += Double(p)
      last = i
      if u < cumulative { return i }
    }
    return last
  }

  /// Index of the largest value (first on ties).
  public static func argmax(_ values: [Float]) -> Int? {
    guard var best = values.indices.first else { return nil }
    for i in values.indices where values[i] > values[best] { best = i }
    return best
  }

  /// The shortest head of `ranked` (positive probabilities only) whose mass reaches `mass`, and whether it
  /// does; all of `ranked`'s positive entries when it does not.
  static func nucleusPrefix(_ ranked: [Int], probs: [Float], reaching mass: Double) -> (kept: [Int], reached: Bool) {
    var kept: [Int] = []
    var cumulative = 0.0
    for i in ranked where probs[i] > 0 {
      kept.append(i)
      cumulative += Double(probs[i])
      if cumulative >= mass { return (kept, true) }
    }
    return (kept, false)
  }

  /// The nucleus of `probs`: the most likely tokens (ties by index) until their mass reaches `share` of the
  /// total (sums in double precision), or nil when the binary-exponent bands cannot tell (probabilities
  /// below 2⁻⁶² of the largest are needed).
  ///
  /// Probabilities are grouped by binary exponent below the largest one (one pass, no logarithms). Every
  /// token of a band above the one where the bands' running mass reaches `mass` is in the nucleus whatever
  /// the order within it, so only that band is ranked (and the next, if rounding leaves it short).
  static func nucleusByBands(_ probs: [Float], share: Float) -> [Int]? {
    guard let top = probs.max(), top > 0 else { return nil }
    let bands = 64
    let topExponent = Int(top.bitPattern >> 23)
    // Band of each token (bands - 1 also for zeros, which are never kept).
    var bandOf = [UInt8](repeating: UInt8(bands - 1), count: probs.count)
    var bandMass = [Double](repeating: 0, count: bands)
    for (i, p) in probs.enumerated() where p > 0 {
      let b = min(bands - 1, topExponent - Int(p.bitPattern >> 23))
      bandOf[i] = UInt8(b)
      bandMass[b] += Double(p)
    }
    let mass = Double(share) * bandMass.reduce(0, +)
    var before = 0.0
    var boundary = 0
    while boundary < bands - 1 && before + bandMass[boundary] < mass {
      before += bandMass[boundary]
      boundary += 1
    }
    guard boundary < bands - 1 else { return nil }
    // Descending probability, then ascending index: one integer key per token.
    func rankKey(_ i: Int) -> UInt64 { UInt64(UInt32.max - probs[i].bitPattern) << 32 | UInt64(i) }
    var kept: [Int] = []
    var ranked: [UInt64] = []
    for (i, b) in bandOf.enumerated() {
      if b < boundary {
        kept.append(i)
      } else if b == boundary {
        ranked.append(rankKey(i))
      }
    }
    var cumulative = before
    var b = boundary
    while true {
      ranked.sort()
      for key in ranked {
        let i = Int(key & 0xFFFF_FFFF)
        kept.append(i)
        cumulative += Double(probs[i])
        if cumulative >= mass { return kept }
      }
      // Rounding left the band's mass short: rank the next band.
      b += 1
      guard b < bands - 1 else { return nil }
      ranked = bandOf.indices.filter { Int(bandOf[$0]) == b }.map(rankKey)
    }
  }

  /// Indices of the `limit` largest values, largest first (stable on ties).
  static func descendingOrder(_ values: [Float], limit: Int) -> [Int] {
    if limit >= values.count / 4 {
      return Array(
        values.indices.sorted { values[$0] > values[$1] || (values[$0] == values[$1] && $0 < $1) }.prefix(limit))
    }
    // Partial selection: keep a sorted buffer of the best `limit` candidates.
    var best: [Int] = []
    best.reserveCapacity(limit + 1)
    for i in values.indices {
      if best.count == limit, let last = best.last, values[i] <= values[last] { continue }
      var lo = 0
      var hi = best.count
      while lo < hi {
        let mid = (lo + hi) / 2
        if values[best[mid]] >= values[i] { lo = mid + 1 } else { hi = mid }
      }
      best.insert(i, at: lo)
      if best.count > limit { best.removeLast() }
    }
    return best
  }
}

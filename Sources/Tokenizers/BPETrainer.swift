import Foundation

/// Trains a GPT-2 style byte-level BPE tokenizer.
///
/// The vocabulary is the 256 single bytes (id = byte value), then one token per merge in the order
/// learned, then the special tokens. Text is split with GPT-2's pre-tokenizer; special-token strings in
/// the text are cut out first so that nothing merges across them. Each distinct pre-token is counted
/// once; merging then updates pair counts incrementally, touching only the words that contain the
/// merged pair (pair -> word index), and picks the next pair from a max-heap with lazy deletion.
///
/// Tie-breaking (deterministic): the most frequent pair wins; among equally frequent pairs the one whose
/// (left bytes, right bytes) is lexicographically greatest wins (the CS336 convention).
public struct BPETrainer: Sendable {
  /// The target vocabulary size: 256 bytes + merges + special tokens.
  public var vocabularySize: Int
  /// Special tokens, given ids after the merges in this order.
  public var specialTokens: [String]

  /// Creates a trainer.
  public init(vocabularySize: Int, specialTokens: [String] = ["<|endoftext|>"]) {
    self.vocabularySize = vocabularySize
    self.specialTokens = specialTokens
  }

  /// Trains on the UTF-8 text files at `paths`. Throws a one-line ``TokenizerError`` for a missing file.
  public func train(files paths: [String]) throws -> BPETokenizer {
    guard !paths.isEmpty else {
      throw TokenizerError(path: "BPETrainer", problem: "no training files given", remedy: "pass at least one file")
    }
    var counter = WordCounter(specialTokens: specialTokens)
    for path in paths {
      counter.add(Array(String(decoding: try FileBytes.read(path), as: UTF8.self).utf8))
    }
    return try train(counter)
  }

  /// Trains on in-memory texts.
  public func train(texts: [String]) throws -> BPETokenizer {
    var counter = WordCounter(specialTokens: specialTokens)
    for text in texts { counter.add(Array(text.utf8)) }
    return try train(counter)
  }

  private func train(_ counter: WordCounter) throws -> BPETokenizer {
    let mergeCount = vocabularySize - 256 - specialTokens.count
    guard mergeCount >= 0 else {
      throw TokenizerError(
        path: "BPETrainer", problem: "vocabulary size \(vocabularySize) is below 256 + \(specialTokens.count) specials",
        remedy: "ask for a larger vocabulary")
    }
    if let repeated = specialTokens.enumerated().first(where: { specialTokens[..<$0.offset].contains($0.element) }) {
      throw TokenizerError(
        path: "BPETrainer", problem: "special token \(repeated.element) is listed twice",
        remedy: "give each special token once")
    }
    var tokens = (0..<256).map { [UInt8($0)] }
    let pairs = learnMerges(counter, count: mergeCount, tokens: &tokens)
    var specials: [String: Int] = [:]
    for special in specialTokens where specials[special] == nil {
      specials[special] = tokens.count
      tokens.append(Array(special.utf8))
    }
    return try BPETokenizer(tokens: tokens, mergePairs: pairs, specialTokens: specials, source: "BPETrainer")
  }

  /// Distinct pre-tokens with their frequencies.
  struct WordCounter {
    let splitter: SpecialTokenSplitter
    var counts: [ArraySlice<UInt8>: Int] = [:]

    init(specialTokens: [String]) {
      splitter = SpecialTokenSplitter(Dictionary(specialTokens.map { ($0, 0) }) { a, _ in a })
    }

    mutating func add(_ bytes: [UInt8]) {
      for case .text(let range) in splitter.split(bytes) {
        let part = bytes[range]
        let base = range.lowerBound
        for piece in ByteLevel.pretokenize(Array(part)) {
          counts[bytes[(base + piece.lowerBound)..<(base + piece.upperBound)], default: 0] += 1
        }
      }
    }
  }

  private struct Candidate {
    var count: Int
    var pair: UInt64
  }

  private func learnMerges(_ counter: WordCounter, count mergeCount: Int, tokens result: inout [[UInt8]]) -> [(
    Int, Int
  )] {
    var tokens = result
    defer { result = tokens }
    // Sort words so that the word order (and hence every later step) is deterministic.
    let sortedWords = counter.counts.sorted { $0.key.lexicographicallyPrecedes($1.key) }
    var words = sortedWords.map { $0.key.map { Int32($0) } }
    let frequencies = sortedWords.map { $0.value }
    var pairCounts: [UInt64: Int] = [:]
    var wordsWithPair: [UInt64: [Int32]] = [:]
    @inline(__always) func key(_ a: Int32, _ b: Int32) -> UInt64 { UInt64(a) << 32 | UInt64(b) }
    for (w, word) in words.enumerated() where word.count > 1 {
      for i in 0..<(word.count - 1) {
        let p = key(word[i], word[i + 1])
        pairCounts[p, default: 0] += frequencies[w]
        wordsWithPair[p, default: []].append(Int32(w))
      }
    }
    var heap = Heap<Candidate> { a, b in
      if a.count != b.count { return a.count > b.count }
      let (al, ar) = (tokens[Int(a.pair >> 32)], tokens[Int(a.pair & 0xFFFF_FFFF)])
      let (bl, br) = (tokens[Int(b.pair >> 32)], tokens[Int(b.pair & 0xFFFF_FFFF)])
      if al != bl { return bl.lexicographicallyPrecedes(al) }
      return br.lexicographicallyPrecedes(ar)
    }
    for (p, c) in pairCounts { heap.push(Candidate(count: c, pair: p)) }
    var merges: [(Int, Int)] = []
    var stamp = [Int](repeating: -1, count: words.count)
    while merges.count < mergeCount, let top = heap.pop() {
      guard let current = pairCounts[top.pair], current == top.count, current > 0 else { continue }
      let a = Int32(top.pair >> 32)
      let b = Int32(top.pair & 0xFFFF_FFFF)
      let merged = Int32(tokens.count)
      tokens.append(tokens[Int(a)] + tokens[Int(b)])
      merges.append((Int(a), Int(b)))
      var changed = Set<UInt64>()
      for w in wordsWithPair[top.pair] ?? [] where stamp[Int(w)] != merges.count {
        stamp[Int(w)] = merges.count
        let old = words[Int(w)]
        var new: [Int32] = []
        new.reserveCapacity(old.count)
        var i = 0
        while i < old.count {
          if i + 1 < old.count && old[i] == a && old[i + 1] == b {
            new.append(merged)
            i += 2
          } else {
            new.append(old[i])
            i += 1
          }
        }
        if new.count == old.count { continue }
        let f = frequencies[Int(w)]
        for i in 0..<(old.count - 1) {
          let p = key(old[i], old[i + 1])
          pairCounts[p, default: 0] -= f
          changed.insert(p)
        }
        for i in 0..<max(0, new.count - 1) {
          let p = key(new[i], new[i + 1])
          pairCounts[p, default: 0] += f
          changed.insert(p)
          if new[i] == merged || new[i + 1] == merged { wordsWithPair[p, default: []].append(w) }
        }
        words[Int(w)] = new
      }
      wordsWithPair[top.pair] = nil
      pairCounts[top.pair] = nil
      for p in changed {
        if let c = pairCounts[p], c > 0 {
          heap.push(Candidate(count: c, pair: p))
        } else {
          pairCounts[p] = nil
        }
      }
    }
    return merges
  }
}

/// A binary heap ordered by `precedes` (the first element precedes all others).
struct Heap<Element> {
  private var items: [Element] = []
  private let precedes: (Element, Element) -> Bool

  init(precedes: @escaping (Element, Element) -> Bool) { self.precedes = precedes }

  mutating func push(_ item: Element) {
    items.append(item)
    var child = items.count - 1
    while child > 0 {
      let parent = (child - 1) / 2
      if !precedes(items[child], items[parent]) { break }
      items.swapAt(child, parent)
      child = parent
    }
  }

  mutating func pop() -> Element? {
    guard let top = items.first else { return nil }
    let last = items.removeLast()
    if !items.isEmpty {
      items[0] = last
      var parent = 0
      while true {
        let l = 2 * parent + 1
        if l >= items.count { break }
        var best = l
        if l + 1 < items.count && precedes(items[l + 1], items[l]) { best = l + 1 }
        if !precedes(items[best], items[parent]) { break }
        items.swapAt(best, parent)
        parent = best
      }
    }
    return top
  }
}

/// Repeated best-pair merging shared by the BPE flavours.
///
/// Both GPT-2 BPE (lowest merge rank first) and llama2.c (highest score first) repeatedly replace the best
/// adjacent pair by its merged token; ties go to the leftmost pair. `lookup(left, right)` returns the
/// pair's priority (lower merges first) and merged id, or nil when the pair does not merge.
///
/// Short sequences use a plain scan (quadratic, but tiny); long ones use a linked list plus a min-heap
/// keyed by (priority, original left position) with lazy deletion, which yields the same merge order:
/// positions keep their left-to-right order, so the smallest original position is the leftmost pair.
enum PairMerger {
  /// Sequences at most this long use the scan.
  static let scanLimit = 48

  @inline(__always)
  static func merge(
    _ symbols: inout [Int32], forceHeap: Bool = false, lookup: (Int32, Int32) -> (Double, Int32)?
  ) {
    if symbols.count < 2 { return }
    if symbols.count <= scanLimit && !forceHeap {
      scanMerge(&symbols, lookup: lookup)
    } else {
      heapMerge(&symbols, lookup: lookup)
    }
  }

  @inline(__always)
  static func scanMerge(_ symbols: inout [Int32], lookup: (Int32, Int32) -> (Double, Int32)?) {
    while symbols.count > 1 {
      var bestIndex = -1
      var bestPriority = Double.infinity
      var bestID: Int32 = 0
      for i in 0..<(symbols.count - 1) {
        if let (priority, id) = lookup(symbols[i], symbols[i + 1]), priority < bestPriority {
          bestPriority = priority
          bestIndex = i
          bestID = id
        }
      }
      if bestIndex < 0 { return }
      symbols[bestIndex] = bestID
      symbols.remove(at: bestIndex + 1)
    }
  }

  private struct Entry {
    var priority: Double
    var position: Int32
    var left: Int32
    var right: Int32

    @inline(__always)
    func precedes(_ other: Entry) -> Bool {
      priority != other.priority ? priority < other.priority : position < other.position
    }
  }

  static func heapMerge(_ symbols: inout [Int32], lookup: (Int32, Int32) -> (Double, Int32)?) {
    let n = symbols.count
    var next = (0..<n).map { Int32($0 + 1) }  // n means none
    var prev = (0..<n).map { Int32($0 - 1) }  // -1 means none
    var alive = [Bool](repeating: true, count: n)
    var heap: [Entry] = []
    heap.reserveCapacity(n)

    func push(_ entry: Entry) {
      heap.append(entry)
      var child = heap.count - 1
      while child > 0 {
        let parent = (child - 1) / 2
        if !heap[child].precedes(heap[parent]) { break }
        heap.swapAt(child, parent)
        child = parent
      }
    }
    func pop() -> Entry {
      let top = heap[0]
      let last = heap.removeLast()
      if !heap.isEmpty {
        heap[0] = last
        var parent = 0
        while true {
          let l = 2 * parent + 1
          if l >= heap.count { break }
          var best = l
          if l + 1 < heap.count && heap[l + 1].precedes(heap[l]) { best = l + 1 }
          if !heap[best].precedes(heap[parent]) { break }
          heap.swapAt(best, parent)
          parent = best
        }
      }
      return top
    }
    func consider(_ i: Int32) {
      guard i >= 0 else { return }
      let j = next[Int(i)]
      guard Int(j) < n else { return }
      let a = symbols[Int(i)]
      let b = symbols[Int(j)]
      if let (priority, _) = lookup(a, b) { push(Entry(priority: priority, position: i, left: a, right: b)) }
    }

    for i in 0..<(n - 1) { consider(Int32(i)) }
    while !heap.isEmpty {
      let entry = pop()
      let i = Int(entry.position)
      let j = Int(next[i])
      guard alive[i], j < n, symbols[i] == entry.left, symbols[j] == entry.right,
        let (_, merged) = lookup(entry.left, entry.right)
      else { continue }
      symbols[i] = merged
      alive[j] = false
      let k = next[j]
      next[i] = k
      if Int(k) < n { prev[Int(k)] = Int32(i) }
      if prev[i] >= 0 { consider(prev[i]) }
      consider(Int32(i))
    }
    var out: [Int32] = []
    out.reserveCapacity(n)
    var i = 0
    while i < n {
      out.append(symbols[i])
      i = Int(next[i])
    }
    symbols = out
  }
}

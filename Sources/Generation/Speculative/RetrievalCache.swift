import LMCore
import TensorCore

/// TriForce's retrieval cache (arXiv 2404.11912, §4.1): the prompt's keys are cut into chunks, each chunk is
/// scored per layer and key/value head by the dot product of its mean key with the last query, and the best
/// chunks are kept up to a budget. Keys were rotated before caching, so the kept rows keep their absolute
/// positions.
///
/// Chunk 0 (the attention sinks) is always kept, and so is a partial last chunk (the most recent prompt
/// tokens), so every head keeps the same number of rows. With grouped-query attention a group's query heads
/// are summed before scoring (the sum of their scores ranks the chunks).
public struct RetrievalCache: Sendable {
  /// Prompt rows kept (the paper's 4096).
  public var budget: Int
  /// Rows per chunk (the paper's 8).
  public var chunk: Int

  /// A builder; `budget` must hold at least two chunks.
  public init(budget: Int = 4096, chunk: Int = 8) throws {
    guard chunk > 0, budget >= 2 * chunk else {
      throw GenerationError("the retrieval budget (\(budget)) must hold at least two chunks of \(chunk) tokens")
    }
    self.budget = budget
    self.chunk = chunk
  }

  /// A cache holding the selected rows of the dense `source` (batch 1), with room for `extraCapacity` more rows.
  /// Chunks are scored against `queries` (the last query row [1, H, 1, D] per layer), by default the ones the
  /// source recorded (``KVCache/recordsQueries``).
  public func build(from source: KVCache, queries: [Tensor]? = nil, extraCapacity: Int) throws -> KVCache {
    let rows = source.length
    guard source.omittedPositions == 0, let first = source.keys.first, first.shape[0] == 1 else {
      throw GenerationError("a retrieval cache is built from a dense cache of one sequence")
    }
    let (g, d) = (first.shape[1], first.shape[3])
    let selection =
      try rows <= budget
      ? nil
      : (0..<source.keys.count).map {
        try selectRows(source, query: queries?[$0] ?? source.lastQueries[$0], layer: $0)
      }
    let kept = selection?.first?.first?.count ?? rows
    let target = KVCache(
      layers: source.keys.count, batch: 1, heads: g, capacity: kept + extraCapacity, headDimensions: d)
    var keys: [Tensor] = []
    var values: [Tensor] = []
    for layer in source.keys.indices {
      let (k, v) = try source.heldRows(layer: layer)  // [1, G, P, D]
      guard let perHead = selection?[layer] else {
        keys.append(k)
        values.append(v)
        continue
      }
      let gather = { (x: Tensor) -> Tensor in
        let heads = try perHead.enumerated().map { h, indices in
          try x.sliced(axis: 1, h..<(h + 1)).reshaped([rows, d])
            .indexSelect(axis: 0, indices: Tensor(indices: indices, shape: [indices.count]))
        }
        return try Tensor.stack(heads, axis: 0).reshaped([1, g, kept, d])
      }
      keys.append(try gather(k))
      values.append(try gather(v))
    }
    try target.load(keys: keys, values: values, position: rows)
    return target
  }

  /// Chunk scores [G, chunks] of one layer: each full chunk's mean key against the group's summed `query`
  /// [1, H, 1, D].
  public func chunkScores(_ source: KVCache, query: Tensor?, layer: Int) throws -> [[Float]] {
    guard let query else {
      throw GenerationError("the source cache recorded no query; set recordsQueries before the prefill")
    }
    let (k, _) = try source.heldRows(layer: layer)  // [1, G, P, D]
    let (g, p, d) = (k.shape[1], k.shape[2], k.shape[3])
    let h = query.shape[1]
    let chunks = p / chunk
    let means = try k.sliced(axis: 2, 0..<(chunks * chunk)).reshaped([g, chunks, chunk, d]).mean(axes: [2])
    let q = try query.reshaped([g, h / g, d]).sum(axes: [1]).reshaped([g, d, 1])  // [G, D, 1]
    let scores = try means.matmul(q).floats  // [G, chunks, 1]
    return (0..<g).map { Array(scores[($0 * chunks)..<(($0 + 1) * chunks)]) }
  }

  /// Row indices kept per head of one layer, ascending: chunk 0, the best-scoring full chunks, the partial tail.
  func selectRows(_ source: KVCache, query: Tensor?, layer: Int) throws -> [[Int]] {
    let rows = source.length
    let chunks = rows / chunk
    let tail = rows - chunks * chunk
    let keptChunks = min(chunks, (budget - tail) / chunk)
    return try chunkScores(source, query: query, layer: layer).map { scores in
      let ranked = (1..<chunks).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
      let chosen = ([0] + ranked.prefix(max(0, keptChunks - 1))).sorted()
      return chosen.flatMap { ($0 * chunk)..<(($0 + 1) * chunk) } + Array((chunks * chunk)..<rows)
    }
  }
}

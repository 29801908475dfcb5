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

  /// A state holding the selected rows of the dense `source` (batch 1, attention in every layer), with room
  /// for `extraCapacity` more rows. Chunks are scored against `queries` (the last query row [1, H, 1, D] per
  /// layer), by default the ones the source recorded (``QueryRecordingKV``).
  public func build(from source: DecodingState, queries: [Tensor]? = nil, extraCapacity: Int) throws -> DecodingState {
    guard let layers = source.attentionLayers, let first = layers.first, first.omittedPositions == 0,
      first.layout.batch == 1
    else {
      throw GenerationError("a retrieval cache is built from a dense attention cache of one sequence")
    }
    let rows = first.length
    let (g, d) = (first.layout.heads, first.layout.headDimensions)
    var selection: [[[Int]]]?
    if rows > budget {
      guard let queries = queries ?? source.lastQueries, queries.count == layers.count else {
        throw GenerationError("the source cache recorded no query; prefill it with a query-recording state")
      }
      selection = try layers.indices.map { try selectRows(layers[$0], query: queries[$0]) }
    }
    let kept = selection?.first?.first?.count ?? rows
    return DecodingState(
      layers: try layers.indices.map { layer in
        let target = AttentionKV(batch: 1, heads: g, capacity: kept + extraCapacity, headDimensions: d)
        let (k, v) = try layers[layer].heldRows()  // [1, G, P, D]
        guard let perHead = selection?[layer] else {
          try target.load(keys: k, values: v, position: rows)
          return target
        }
        let gather = { (x: Tensor) -> Tensor in
          let heads = try perHead.enumerated().map { h, indices in
            try x.sliced(axis: 1, h..<(h + 1)).reshaped([rows, d])
              .indexSelect(axis: 0, indices: Tensor(indices: indices, shape: [indices.count]))
          }
          return try Tensor.stack(heads, axis: 0).reshaped([1, g, kept, d])
        }
        try target.load(keys: gather(k), values: gather(v), position: rows)
        return target
      })
  }

  /// Chunk scores [G, chunks] of one layer's cache: each full chunk's mean key against the group's summed
  /// `query` [1, H, 1, D].
  public func chunkScores(_ source: AttentionKV, query: Tensor) throws -> [[Float]] {
    let (k, _) = try source.heldRows()  // [1, G, P, D]
    let (g, p, d) = (k.shape[1], k.shape[2], k.shape[3])
    let h = query.shape[1]
    let chunks = p / chunk
    let means = try k.sliced(axis: 2, 0..<(chunks * chunk)).reshaped([g, chunks, chunk, d]).mean(axes: [2])
    let q = try query.reshaped([g, h / g, d]).sum(axes: [1]).reshaped([g, d, 1])  // [G, D, 1]
    let scores = try means.matmul(q).floats  // [G, chunks, 1]
    return (0..<g).map { Array(scores[($0 * chunks)..<(($0 + 1) * chunks)]) }
  }

  /// Row indices kept per head of one layer, ascending: chunk 0, the best-scoring full chunks, the partial tail.
  func selectRows(_ source: AttentionKV, query: Tensor) throws -> [[Int]] {
    let rows = source.length
    let chunks = rows / chunk
    let tail = rows - chunks * chunk
    let keptChunks = min(chunks, (budget - tail) / chunk)
    return try chunkScores(source, query: query).map { scores in
      let ranked = (1..<chunks).sorted { scores[$0] > scores[$1] || (scores[$0] == scores[$1] && $0 < $1) }
      let chosen = ([0] + ranked.prefix(max(0, keptChunks - 1))).sorted()
      return chosen.flatMap { ($0 * chunk)..<(($0 + 1) * chunk) } + Array((chunks * chunk)..<rows)
    }
  }
}

import LMCore
import TensorCore

/// Attention keys and values that also keep the last query row of each pass: TriForce's retrieval cache
/// scores the prompt's chunks against the query of the prompt's last token.
///
/// Recording needs the query tensors, so a model's fused decoding step (which forms none) stays off for a
/// state that holds these.
public final class QueryRecordingKV: AttentionKV {
  /// The last query row [B, H, 1, D] of the latest recorded pass, if any.
  public private(set) var lastQuery: Tensor?
  /// Whether passes record their queries now; switched off, the state is a plain cache again (and a fused
  /// decoding step may run).
  public var isRecording = true

  public override var observesQueries: Bool { isRecording }

  public override func append(keys newKeys: Tensor, values newValues: Tensor, queries: Tensor? = nil) throws -> (
    keys: Tensor, values: Tensor
  ) {
    let held = try super.append(keys: newKeys, values: newValues, queries: queries)
    if isRecording, let queries {
      let rows = queries.shape[2]
      lastQuery = try queries.sliced(axis: 2, (rows - 1)..<rows).contiguous()
    }
    return held
  }
}

extension LanguageModel {
  /// A dense state for one sequence of up to `capacity` tokens whose layers record their last query
  /// (every layer must keep attention keys and values).
  public func makeQueryRecordingState(capacity: Int) throws -> DecodingState {
    let template = makeState(batch: 1, capacity: 0)
    return DecodingState(
      layers: try template.layers.indices.map { i in
        let layout = try template.attention(i).layout
        return QueryRecordingKV(
          batch: 1, heads: layout.heads, capacity: capacity, headDimensions: layout.headDimensions)
      })
  }
}

extension DecodingState {
  /// Switches query recording on or off in every layer that can record.
  public func setRecordingQueries(_ on: Bool) {
    for case let layer as QueryRecordingKV in layers { layer.isRecording = on }
  }

  /// The last query row [1, H, 1, D] of every layer, when every layer recorded one.
  public var lastQueries: [Tensor]? {
    let queries = layers.compactMap { ($0 as? QueryRecordingKV)?.lastQuery }
    return queries.count == layers.count ? queries : nil
  }
}

import Generation
import LMCore
import TensorCore

/// TriForce, hierarchical speculative decoding for long contexts (Sun et al., COLM 2024, arXiv 2404.11912):
/// a small draft with a StreamingLLM cache proposes γ1 tokens to the target reading a retrieval cache, which
/// produces γ2 tokens that the target with its full cache verifies in one pass.
///
/// The output is distributed exactly as the target's own sampling: the middle level replaces a rejected
/// draft token by a draw from the residual of its distribution (the paper's rule; the released code's
/// resampling is not lossless), so the top level sees exact samples of target+retrieval-cache.
public final class TriForceDecoder {
  /// The model whose distribution the output follows.
  public let target: LanguageModel
  /// The small draft model (same tokenizer).
  public let draft: LanguageModel
  /// The knobs.
  public let configuration: TriForceConfiguration

  /// A TriForce decoder of `target` with `draft`.
  public init(target: LanguageModel, draft: LanguageModel, configuration: TriForceConfiguration = .init()) throws {
    try configuration.validate()
    guard target.vocabularySize == draft.vocabularySize else {
      throw TriForceError(
        "the draft's vocabulary (\(draft.vocabularySize)) differs from the target's (\(target.vocabularySize)); "
          + "use a draft trained with the same tokenizer")
    }
    self.target = target
    self.draft = draft
    self.configuration = configuration
  }

  /// Extra rows the retrieval cache keeps for generated and speculative tokens.
  func retrievalSlack(_ maxTokens: Int) -> Int {
    maxTokens + configuration.middleLength + configuration.draftLength + 4
  }

  /// Generates from `prompt` with the three-level hierarchy; prefill and cache construction are timed
  /// apart from decoding.
  public func generate(
    prompt: [Int], options: GenerationOptions, text: (any IncrementalDecoder)? = nil,
    onToken: ((Int) -> Void)? = nil
  ) throws -> DecodingRun {
    try run(.triforce, prompt: prompt, options: options, text: text, onToken: onToken)
  }

  func checkPrompt(_ prompt: [Int], maxTokens: Int) throws {
    guard !prompt.isEmpty else { throw TriForceError("the prompt is empty; give at least one token") }
    if let bad = prompt.first(where: { $0 < 0 || $0 >= target.vocabularySize }) {
      throw TriForceError("prompt token \(bad) is outside the vocabulary 0..<\(target.vocabularySize)")
    }
    let needed = prompt.count + maxTokens + configuration.middleLength + configuration.draftLength + 2
    for (name, model) in [("target", target), ("draft", draft)] where needed > model.contextLength {
      throw TriForceError(
        "the prompt (\(prompt.count) tokens) plus \(maxTokens) new tokens exceed the \(name)'s context of "
          + "\(model.contextLength); shorten the prompt or extend the context")
    }
  }
}

import Foundation
import Generation
import Kernels
import LMCore
import Tokenizers

extension GenerateCommand {
  /// `--prompts-file FILE --batch N`: every prompt of the file decoded in batches, one JSON line per prompt
  /// on stdout in the file's order (index, prompt, text, tokens, stop reason); a timing line on stderr.
  static func runBatch(
    file: String, batch: Int, model: any LanguageModel, tokenizer: (any Tokenizer)?, request: GenerationRequest,
    options: GenerationOptions
  ) throws {
    guard batch > 0 else { throw UsageError(message: "frontier generate: --batch must be positive, got \(batch)") }
    let texts = try promptLines(file)
    let generator = try BatchedGenerator(model: model, batchSize: batch)
    var prompts: [[Int]] = []
    for (line, text) in texts {
      var single = request
      (single.prompt, single.promptIDs) = (text.text, text.ids)
      do {
        let ids = try single.promptIDs(tokenizer: tokenizer)
        try generator.check(prompt: ids)
        prompts.append(ids)
      } catch {
        throw CLIError("\(file):\(line): \(error)")
      }
    }
    let clock = ContinuousClock()
    let start = clock.now
    var finished = [GenerationResult?](repeating: nil, count: prompts.count)
    var printed = 0
    let results = try generator.generate(
      prompts: prompts, options: options,
      text: { i in tokenizer.map { StreamingDetokenizer.continuing(prompts[i], tokenizer: $0) } },
      onFinish: { index, result in
        finished[index] = result
        while printed < finished.count, let ready = finished[printed] {
          writeOut(jsonLine(index: printed, prompt: texts[printed].1, result: ready))
          printed += 1
        }
      })
    let seconds = (clock.now - start).seconds
    let tokens = results.reduce(0) { $0 + $1.tokens.count }
    let line = String(
      format: "frontier generate: %d prompts, batch %d: %d new tokens in %.2f s, %.1f tokens/s", prompts.count, batch,
      tokens, seconds, seconds > 0 ? Double(tokens) / seconds : 0)
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }

  /// A prompt line: text, or ids given as a JSON list.
  struct PromptLine {
    var text: String?
    var ids: [Int]?
  }

  /// The non-empty lines of `file` (numbered from 1): plain text, or a JSON object with `prompt` (text) or
  /// `prompt_ids` (a list of ids).
  static func promptLines(_ file: String) throws -> [(Int, PromptLine)] {
    guard let data = FileManager.default.contents(atPath: file), let content = String(data: data, encoding: .utf8)
    else { throw CLIError("\(file): cannot read the prompts file as UTF-8 text; check the path") }
    var lines: [(Int, PromptLine)] = []
    // "\r\n" is one Character, a newline like "\n".
    for (number, raw) in content.split(omittingEmptySubsequences: false, whereSeparator: \.isNewline).enumerated() {
      let line = String(raw)
      guard !line.trimmingCharacters(in: .whitespaces).isEmpty else { continue }
      guard line.hasPrefix("{") else {
        lines.append((number + 1, PromptLine(text: line.replacingOccurrences(of: "\\n", with: "\n"))))
        continue
      }
      guard let object = (try? JSONSerialization.jsonObject(with: Data(line.utf8))) as? [String: Any] else {
        throw CLIError("\(file):\(number + 1): is not a JSON object; write {\"prompt\": \"...\"} or plain text")
      }
      if let text = object["prompt"] as? String {
        lines.append((number + 1, PromptLine(text: text)))
      } else if let ids = object["prompt_ids"] as? [Int], !ids.isEmpty {
        lines.append((number + 1, PromptLine(ids: ids)))
      } else {
        throw CLIError("\(file):\(number + 1): needs a string \"prompt\" or a non-empty list \"prompt_ids\"")
      }
    }
    guard !lines.isEmpty else {
      throw CLIError("\(file): holds no prompts; put one prompt per line (text or {\"prompt\": \"...\"})")
    }
    return lines
  }

  /// One result as a JSON line.
  static func jsonLine(index: Int, prompt: PromptLine, result: GenerationResult) -> String {
    var object: [String: Any] = [
      "index": index, "tokens": result.tokens, "stop_reason": result.stopReason.rawValue,
      "prompt_tokens": result.promptTokens,
    ]
    if let text = prompt.text { object["prompt"] = text }
    if let text = result.text { object["text"] = text }
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self) + "\n"
  }
}

/// Turns token ids into text one id at a time, for streaming generation, without ever emitting half of a
/// multi-byte UTF-8 character.
///
/// Works with any ``Tokenizer``: it decodes a short window of recent ids twice (with and without the
/// newest ones) and emits the new Unicode scalars, holding text back while it ends in U+FFFD (an
/// incomplete character). Only the window since the last emitted text is kept, so cost stays linear.
///
/// ```swift
/// var stream = StreamingDetokenizer(tokenizer: tokenizer)
/// for id in generatedIDs { print(stream.append(id), terminator: "") }
/// print(stream.finish())
/// ```
public struct StreamingDetokenizer: Sendable {
  /// The tokenizer that decodes.
  public let tokenizer: any Tokenizer
  /// Whether special tokens produce text.
  public let skipSpecialTokens: Bool
  private var window: [Int] = []
  private var prefixEnd = 0  // window[..<prefixEnd] has been emitted (and is kept as context)
  /// Everything emitted so far.
  public private(set) var text = ""

  /// Creates a detokenizer over `tokenizer`.
  public init(tokenizer: any Tokenizer, skipSpecialTokens: Bool = false) {
    self.tokenizer = tokenizer
    self.skipSpecialTokens = skipSpecialTokens
  }

  /// Adds one id and returns the text that became complete (often empty).
  public mutating func append(_ id: Int) -> String {
    window.append(id)
    let before = tokenizer.decode(Array(window[..<prefixEnd]), skipSpecialTokens: skipSpecialTokens)
    let after = tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens)
    let old = before.unicodeScalars.count
    let scalars = after.unicodeScalars
    guard scalars.count > old, scalars.last != "\u{FFFD}" else { return "" }
    let new = String(String.UnicodeScalarView(scalars.dropFirst(old)))
    // Keep the ids just emitted as context for the next decode; drop older ones.
    window.removeFirst(prefixEnd)
    prefixEnd = window.count
    text += new
    return new
  }

  /// Adds several ids and returns the text that became complete.
  public mutating func append(contentsOf ids: some Sequence<Int>) -> String {
    var out = ""
    for id in ids { out += append(id) }
    return out
  }

  /// Flushes what is held back (an incomplete character decodes as U+FFFD) and resets the state.
  public mutating func finish() -> String {
    let before = tokenizer.decode(Array(window[..<prefixEnd]), skipSpecialTokens: skipSpecialTokens)
    let after = tokenizer.decode(window, skipSpecialTokens: skipSpecialTokens)
    let old = before.unicodeScalars.count
    let scalars = after.unicodeScalars
    let new = scalars.count > old ? String(String.UnicodeScalarView(scalars.dropFirst(old))) : ""
    window.removeAll()
    prefixEnd = 0
    text += new
    return new
  }
}

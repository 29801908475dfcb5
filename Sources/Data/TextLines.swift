/// Lines of text files, read the same way whether the file ends its lines with LF or CRLF.
public enum TextLines {
  /// The lines of `text`: split at "\n", each line without a trailing "\r". Empty lines are kept, so that
  /// index i is line i + 1 of the file. (Splitting a `String` at the Character "\n" leaves "\r\n" whole,
  /// because Swift treats it as one Character: a CRLF file would read as one line.)
  public static func split(_ text: String) -> [Substring] {
    text.unicodeScalars.split(separator: "\n", omittingEmptySubsequences: false)
      .map { line in Substring(line.last == "\r" ? line.dropLast() : line) }
  }
}

import Data
import Foundation

/// `frontier fetch NAME`: downloads public data files into the data folder.
enum FetchCommand: Command {
  static let name = "fetch"
  static let summary = "Download public data (tinyshakespeare, stories260K, tinystories) into the data folder."
  static let usage = "frontier fetch NAME [NAME...] [--dir DIR] | --list"
  static let allowsPositional = true
  static let options = [
    OptionSpec("dir", value: "DIR", default: "$FRONTIER_DATA or ~/.cache/frontier", "where to download to"),
    OptionSpec("list", "list the datasets and their files"),
  ]

  static func run(_ args: ParsedArguments) throws {
    if args.flag("list") {
      for (name, items) in DataCatalog.entries.sorted(by: { $0.key < $1.key }) {
        print(name)
        for item in items { print("  \(item.relativePath)  <- \(item.url)") }
      }
      return
    }
    guard !args.positional.isEmpty else {
      let names = DataCatalog.entries.keys.sorted().joined(separator: ", ")
      throw UsageError(message: "frontier fetch: name a dataset (\(names))")
    }
    for name in args.positional where DataCatalog.entries[name] == nil {
      let names = DataCatalog.entries.keys.sorted().joined(separator: ", ")
      throw UsageError(message: "frontier fetch: unknown dataset '\(name)' (choose from \(names))")
    }
    let directory = args.string("dir") ?? DataLocation.downloadDirectory
    for name in args.positional {
      _ = try DataCatalog.fetch(name, into: directory) { print("frontier fetch: \($0)") }
    }
  }
}

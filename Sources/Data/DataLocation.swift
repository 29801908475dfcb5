import Foundation

/// Where Frontier looks for data: `FRONTIER_DATA`, then `../shared/data` beside the repository, then
/// `~/.cache/frontier` (where `frontier fetch` downloads to).
public enum DataLocation {
  /// The folders searched, in order.
  public static var candidates: [String] {
    var list: [String] = []
    if let env = ProcessInfo.processInfo.environment["FRONTIER_DATA"], !env.isEmpty { list.append(env) }
    let cwd = URL(fileURLWithPath: FileManager.default.currentDirectoryPath)
    list.append(cwd.deletingLastPathComponent().appendingPathComponent("shared/data").path)
    // The repository the binary was built in: the nearest folder above the executable (links resolved, so
    // `.build/release/frontier` is `.build/<triple>/release/frontier`) that holds Package.swift.
    var folder = URL(fileURLWithPath: CommandLine.arguments.first ?? ".").resolvingSymlinksInPath()
      .deletingLastPathComponent()
    for _ in 0..<8 {
      if FileManager.default.fileExists(atPath: folder.appendingPathComponent("Package.swift").path) {
        let besideRoot = folder.deletingLastPathComponent().appendingPathComponent("shared/data").path
        if !list.contains(besideRoot) { list.append(besideRoot) }
        break
      }
      folder = folder.deletingLastPathComponent()
    }
    list.append(cacheDirectory)
    return list
  }

  /// `~/.cache/frontier`.
  public static var cacheDirectory: String {
    FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/frontier").path
  }

  /// Where downloads go: `FRONTIER_DATA` when set, else the cache folder.
  public static var downloadDirectory: String {
    if let env = ProcessInfo.processInfo.environment["FRONTIER_DATA"], !env.isEmpty { return env }
    return cacheDirectory
  }

  /// The first existing file at `relative` under a data folder, or an error naming where to put it.
  public static func file(_ relative: String) throws -> String {
    if let found = existingFile(relative) { return found }
    throw DataError(
      path: relative, problem: "data file not found",
      remedy: "put it under $FRONTIER_DATA, ../shared/data or ~/.cache/frontier (or run `frontier fetch`)")
  }

  /// The first existing file at `relative` under a data folder, or nil.
  public static func existingFile(_ relative: String) -> String? {
    for directory in candidates {
      let path = (directory as NSString).appendingPathComponent(relative)
      if FileManager.default.fileExists(atPath: path) { return path }
    }
    return nil
  }
}

/// The public files `frontier fetch NAME` can download, and the downloader.
public enum DataCatalog {
  /// One downloadable file: its public address and where it goes under the data folder.
  public struct Item: Sendable, Equatable {
    /// The public URL.
    public let url: String
    /// The path under the data folder.
    public let relativePath: String
  }

  /// Dataset names and their files.
  public static let entries: [String: [Item]] = [
    "tinyshakespeare": [
      Item(
        url: "https://raw.githubusercontent.com/karpathy/char-rnn/master/data/tinyshakespeare/input.txt",
        relativePath: "tinyshakespeare/input.txt")
    ],
    "stories260K": [
      Item(
        url: "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/stories260K.bin",
        relativePath: "llama2c/stories260K.bin"),
      Item(
        url: "https://huggingface.co/karpathy/tinyllamas/resolve/main/stories260K/tok512.bin",
        relativePath: "llama2c/tok512.bin"),
    ],
    "tinystories": [
      Item(
        url: "https://huggingface.co/datasets/roneneldan/TinyStories/resolve/main/TinyStories-valid.txt",
        relativePath: "tinystories/TinyStories-valid.txt")
    ],
  ]

  /// Downloads every file of `name` that no data folder holds yet into `directory`; returns the paths.
  ///
  /// Uses `curl`; offline, the error is one line naming the file, its address and the folder to put it in.
  public static func fetch(
    _ name: String, into directory: String = DataLocation.downloadDirectory, log: (String) -> Void = { print($0) }
  ) throws -> [String] {
    guard let items = entries[name] else {
      let known = entries.keys.sorted().joined(separator: ", ")
      throw DataError(path: "", problem: "unknown dataset '\(name)'", remedy: "choose one of: \(known)")
    }
    var paths: [String] = []
    for item in items {
      if let existing = DataLocation.existingFile(item.relativePath) {
        log("\(item.relativePath): already present at \(existing)")
        paths.append(existing)
        continue
      }
      let destination = (directory as NSString).appendingPathComponent(item.relativePath)
      try download(item, to: destination)
      log("\(item.relativePath): downloaded to \(destination)")
      paths.append(destination)
    }
    return paths
  }

  private static func download(_ item: Item, to destination: String) throws {
    let folder = (destination as NSString).deletingLastPathComponent
    let offline = DataError(
      path: destination, problem: "cannot download \(item.url)",
      remedy: "offline? download it elsewhere and put \((item.relativePath as NSString).lastPathComponent) "
        + "in \(folder)")
    do {
      try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    } catch {
      throw offline
    }
    let temporary = destination + ".part-\(ProcessInfo.processInfo.processIdentifier)"
    let process = Process()
    process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
    process.arguments = ["curl", "-fsSL", "--retry", "2", "--connect-timeout", "15", "-o", temporary, item.url]
    process.standardError = FileHandle.nullDevice
    do {
      try process.run()
      process.waitUntilExit()
    } catch {
      throw offline
    }
    guard process.terminationStatus == 0 else {
      try? FileManager.default.removeItem(atPath: temporary)
      throw offline
    }
    guard rename(temporary, destination) == 0 else {
      try? FileManager.default.removeItem(atPath: temporary)
      throw offline
    }
  }
}

import Foundation

/// One system's miniature reproduction, as `frontier reproduce NAME [--quick]` and `frontier reproduce all` run
/// it: the settings of a quick or full run, the run itself (which fills its cache and returns the report it
/// would write) and the write, which puts the report in place only once everything in it was computed.
///
/// The driver (``ReproductionDriver``) keys the cache folder by the settings and by the code the results depend
/// on (``sources``), so that no report is assembled from results of older code, and puts a ``ReportHeader``
/// under every report's title.
public protocol Reproduction {
  /// What one run measures; encoded into the cache key.
  associatedtype Settings: Encodable

  /// The short name used alike by the system's target, command, reproduce key, report folder and test target.
  static var name: String { get }
  /// One line: the system and its paper.
  static var summary: String { get }
  /// The reproductions whose cached outputs this one reads (`frontier reproduce all` runs them first).
  static var dependencies: [String] { get }
  /// The repository paths (folders or files) whose code the cached results depend on.
  static var sources: [String] { get }

  /// The quick settings (the same code path as the full run, in minutes) or the full ones.
  static func settings(quick: Bool) -> Settings

  /// Runs what the cache lacks and returns the report; `context.workDirectory` is the cache.
  static func run(_ settings: Settings, in context: ReproductionContext) throws -> ReportDraft

  /// The cache folder of a quick or full run (by default `~/.cache/frontier/reproduce/NAME[-quick]`).
  static func cacheDirectory(quick: Bool) -> String
}

extension Reproduction {
  /// `~/.cache/frontier/reproduce/NAME[-quick]`.
  public static func cacheDirectory(quick: Bool) -> String {
    (ReproductionContext.cacheRoot as NSString).appendingPathComponent("reproduce/\(name)\(quick ? "-quick" : "")")
  }

  /// Writes `draft` into the report folder: the header under the title, then every file by temporary name
  /// and rename, README.md last.
  public static func write(_ draft: ReportDraft, in context: ReproductionContext) throws {
    draft.insertHeader(context.header)
    try draft.commit(to: context.reportDirectory)
  }
}

/// What a reproduction is handed.
public struct ReproductionContext: Sendable {
  /// Smaller settings that finish in minutes.
  public var quick: Bool
  /// Where the report goes.
  public var reportDirectory: String
  /// The reproduction's own cache folder (checked against ``CacheStamp`` before the run).
  public var workDirectory: String
  /// A part to run alone into the cache (no report), or nil for all of it.
  public var only: String?
  /// The header of the report this run writes.
  public var header: ReportHeader
  /// The cache folders of the other reproductions, by name, for this run's quick or full mode.
  public var caches: [String: String]

  /// Creates a context.
  public init(
    quick: Bool, reportDirectory: String, workDirectory: String, only: String? = nil, header: ReportHeader,
    caches: [String: String] = [:]
  ) {
    self.quick = quick
    self.reportDirectory = reportDirectory
    self.workDirectory = workDirectory
    self.only = only
    self.header = header
    self.caches = caches
  }

  /// `~/.cache/frontier`.
  public static var cacheRoot: String {
    FileManager.default.homeDirectoryForCurrentUser.appendingPathComponent(".cache/frontier").path
  }

  /// The cache folder of the reproduction `name` (a dependency), in this run's quick or full mode.
  public func cache(of name: String) throws -> String {
    guard let folder = caches[name] else {
      throw ReportError(path: name, problem: "no reproduction of that name is registered")
    }
    return folder
  }

  /// Prints a progress line to standard error.
  public func log(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
  }
}

/// A report being assembled: Markdown and plot files held in memory until ``commit(to:)``, so that a run that
/// fails half-way leaves the previous report whole instead of new plots beside an old README. It is written to
/// like a ``ReportFolder``.
public final class ReportDraft {
  /// File names and contents, in the order they were added.
  public private(set) var files: [(name: String, text: String)] = []

  /// An empty draft.
  public init() {}

  /// Adds (or replaces) the file `name`; returns its name. (It throws nothing: it has the signature of
  /// ``ReportFolder/write(_:to:)`` so that code writing a report can take either.)
  @discardableResult
  public func write(_ text: String, to name: String) throws -> String {
    if let index = files.firstIndex(where: { $0.name == name }) {
      files[index].text = text
    } else {
      files.append((name, text))
    }
    return name
  }

  /// The text of `name`, if the draft holds it.
  public func text(of name: String) -> String? { files.first { $0.name == name }?.text }

  /// Puts `header` under the title line of README.md (the first line that starts with "# "), unless a header
  /// table is already there.
  public func insertHeader(_ header: ReportHeader) {
    guard let index = files.firstIndex(where: { $0.name == "README.md" }) else { return }
    let text = files[index].text
    guard !text.contains(ReportHeader.tableHead) else { return }
    var lines = text.components(separatedBy: "\n")
    let title = lines.firstIndex { $0.hasPrefix("# ") } ?? -1
    lines.insert(contentsOf: ["", header.markdown.trimmingCharacters(in: .newlines)], at: title + 1)
    files[index].text = lines.joined(separator: "\n")
  }

  /// Writes every file into `path` (created when missing), each by temporary name and rename, README.md last;
  /// an empty draft writes nothing.
  public func commit(to path: String) throws {
    guard !files.isEmpty else { return }
    let folder = try ReportFolder(path: path)
    let ordered = files.filter { $0.name != "README.md" } + files.filter { $0.name == "README.md" }
    for file in ordered { try folder.write(file.text, to: file.name) }
  }
}

/// What a cache folder was built from: a run's settings and a fingerprint of the code its results depend on.
/// A cache whose stamp differs is set aside before the run, so results of older code or other settings are
/// never reused.
public struct CacheStamp: Codable, Equatable, Sendable {
  /// The settings, as sorted-key JSON.
  public var settings: String
  /// ``SourceFingerprint`` of the reproduction's sources.
  public var code: String
  /// The dependencies' stamps (name: fingerprint of its stamp), so that a retrained dependency makes this
  /// cache stale too.
  public var inputs: [String: String]

  /// The stamp file's name inside a cache folder.
  public static let fileName = "stamp.json"

  /// The stamp of `settings`, `code` and the dependencies' stamps.
  public init<S: Encodable>(settings: S, code: String, inputs: [String: String] = [:]) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys]
    self.settings = String(decoding: try encoder.encode(settings), as: UTF8.self)
    self.code = code
    self.inputs = inputs
  }

  /// A short fingerprint of the whole stamp (what a dependent records in its ``inputs``).
  public var fingerprint: String {
    var hash = SourceFingerprint.FNV1a()
    hash.add(Array(settings.utf8) + [0] + Array(code.utf8) + [0])
    for (name, value) in inputs.sorted(by: { $0.key < $1.key }) { hash.add(Array("\(name)=\(value)".utf8) + [0]) }
    return SourceFingerprint.hex(hash.value)
  }

  /// The stamp recorded in `folder`, if any.
  public static func recorded(in folder: String) -> CacheStamp? {
    let path = (folder as NSString).appendingPathComponent(fileName)
    return FileManager.default.contents(atPath: path).flatMap { try? JSONDecoder().decode(CacheStamp.self, from: $0) }
  }

  /// Makes `folder` a cache of this stamp: when it holds anything built under another stamp (or none), moves
  /// that into `folder/stale-DATE/` and says so through `log`; then records this stamp. Returns what was set
  /// aside.
  @discardableResult
  public func claim(_ folder: String, log: (String) -> Void) throws -> [String] {
    let manager = FileManager.default
    try manager.createDirectory(atPath: folder, withIntermediateDirectories: true)
    if CacheStamp.recorded(in: folder) == self { return [] }
    let entries = try manager.contentsOfDirectory(atPath: folder).filter {
      $0 != CacheStamp.fileName && !$0.hasPrefix("stale-")
    }.sorted()
    if !entries.isEmpty {
      let formatter = DateFormatter()
      formatter.dateFormat = "yyyyMMdd-HHmmss"
      formatter.timeZone = TimeZone(identifier: "UTC")
      let aside = (folder as NSString).appendingPathComponent("stale-\(formatter.string(from: Date()))")
      try manager.createDirectory(atPath: aside, withIntermediateDirectories: true)
      for name in entries {
        try manager.moveItem(
          atPath: (folder as NSString).appendingPathComponent(name),
          toPath: (aside as NSString).appendingPathComponent(name))
      }
      log(
        "\(folder): built from other settings or older code; moved \(entries.joined(separator: ", ")) to \(aside) "
          + "(delete it when not needed) and starting over")
    }
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
    let path = (folder as NSString).appendingPathComponent(CacheStamp.fileName)
    let temporary = path + ".tmp-\(ProcessInfo.processInfo.processIdentifier)"
    try encoder.encode(self).write(to: URL(fileURLWithPath: temporary))
    guard rename(temporary, path) == 0 else {
      try? manager.removeItem(atPath: temporary)
      throw ReportError(path: path, problem: "cannot rename \(temporary) over it (errno \(errno))")
    }
    return entries
  }
}

/// A fingerprint of source code: FNV-1a (64 bits) over the relative path and bytes of every file under the
/// given repository paths, in sorted order. When the sources are not beside the binary (an installed copy),
/// the fingerprint of the executable itself stands in, so that any rebuilt code still changes the key.
public enum SourceFingerprint {
  /// The fingerprint of `paths` (folders or files, relative to `repository`), as 16 hex digits prefixed by
  /// "src-", or of the running executable ("bin-…") when none of them exists.
  public static func of(_ paths: [String], in repository: String = ReportHeader.repositoryDirectory()) -> String {
    // Once per process: a command that runs for hours keys every stage by the sources as they were when it
    // started, not as they are after an edit made while it ran.
    let key = ([repository] + paths).joined(separator: "\u{0}")
    memo.lock()
    defer { memo.unlock() }
    if let known = memoized[key] { return known }
    let value = compute(paths, in: repository)
    memoized[key] = value
    return value
  }

  private static let memo = NSLock()
  nonisolated(unsafe) private static var memoized: [String: String] = [:]

  /// The fingerprint computed afresh (what ``of(_:in:)`` memoizes).
  static func compute(_ paths: [String], in repository: String) -> String {
    let manager = FileManager.default
    var files: [String] = []
    for path in paths {
      let full = (repository as NSString).appendingPathComponent(path)
      var isDirectory: ObjCBool = false
      guard manager.fileExists(atPath: full, isDirectory: &isDirectory) else { continue }
      if !isDirectory.boolValue {
        files.append(path)
        continue
      }
      for case let relative as String in manager.enumerator(atPath: full) ?? NSEnumerator() {
        var isFolder: ObjCBool = false
        let child = (full as NSString).appendingPathComponent(relative)
        if manager.fileExists(atPath: child, isDirectory: &isFolder), !isFolder.boolValue {
          files.append((path as NSString).appendingPathComponent(relative))
        }
      }
    }
    guard !files.isEmpty else { return "bin-" + hex(executableFingerprint) }
    var hash = FNV1a()
    for file in Set(files).sorted() {
      hash.add(Array(file.utf8) + [0])
      let bytes = manager.contents(atPath: (repository as NSString).appendingPathComponent(file)) ?? Data()
      hash.add(bytes)
      hash.add([0xff])
    }
    return "src-" + hex(hash.value)
  }

  /// The running executable's hash, computed once.
  static let executableFingerprint: UInt64 = executableHash()

  static func executableHash() -> UInt64 {
    let executable = URL(fileURLWithPath: CommandLine.arguments.first ?? "").resolvingSymlinksInPath()
    var hash = FNV1a()
    hash.add((try? Data(contentsOf: executable, options: .alwaysMapped)) ?? Data())
    return hash.value
  }

  static func hex(_ value: UInt64) -> String {
    let digits = String(value, radix: 16)
    return String(repeating: "0", count: max(0, 16 - digits.count)) + digits
  }

  /// 64-bit FNV-1a.
  struct FNV1a {
    var value: UInt64 = 0xcbf2_9ce4_8422_2325

    mutating func add<C: Collection>(_ bytes: C) where C.Element == UInt8 {
      for byte in bytes {
        value ^= UInt64(byte)
        value = value &* 0x0000_0100_0000_01b3
      }
    }
  }
}

/// Repository paths shared by the reproductions' ``Reproduction/sources``.
public enum ReproductionSources {
  /// The engine every trained or measured model runs on: kernels, tensors, layers, models, checkpoints,
  /// tokenizers, data, training and generation (Package.swift is left out, so adding a target does not retrain).
  public static let engine = [
    "Sources/CBLAS", "Sources/CPrefetch", "Sources/CQuant", "Sources/Kernels", "Sources/TensorCore", "Sources/NN",
    "Sources/LMCore", "Sources/Models", "Sources/Checkpoints", "Sources/Tokenizers", "Sources/Data",
    "Sources/Training", "Sources/Generation",
  ]
}

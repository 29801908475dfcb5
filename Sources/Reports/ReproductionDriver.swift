import Foundation

/// Runs registered ``Reproduction``s: one by name, or all of them in dependency order, each with its cache
/// claimed by a ``CacheStamp`` of its settings, its code and its dependencies' stamps.
public struct ReproductionDriver {
  /// Every reproduction, in any order.
  public let reproductions: [any Reproduction.Type]

  /// A driver over `reproductions` (names must be unique and dependencies registered).
  public init(_ reproductions: [any Reproduction.Type]) throws {
    var seen = Set<String>()
    for reproduction in reproductions {
      guard seen.insert(reproduction.name).inserted else {
        throw ReportError(path: reproduction.name, problem: "two reproductions share this name")
      }
    }
    for reproduction in reproductions {
      for dependency in reproduction.dependencies where !seen.contains(dependency) {
        throw ReportError(path: reproduction.name, problem: "depends on '\(dependency)', which is not registered")
      }
    }
    self.reproductions = reproductions
  }

  /// The registered names, sorted.
  public var names: [String] { reproductions.map { $0.name }.sorted() }

  /// The reproduction called `name`.
  public func reproduction(named name: String) -> (any Reproduction.Type)? {
    reproductions.first { $0.name == name }
  }

  /// Every reproduction after the ones it depends on (ties in name order); a cycle is an error.
  public func dependencyOrder() throws -> [any Reproduction.Type] {
    var ordered: [any Reproduction.Type] = []
    var placed = Set<String>()
    var remaining = reproductions.sorted { $0.name < $1.name }
    while !remaining.isEmpty {
      guard let next = remaining.firstIndex(where: { Set($0.dependencies).isSubset(of: placed) }) else {
        throw ReportError(
          path: remaining.map { $0.name }.joined(separator: ", "), problem: "these reproductions depend on each other")
      }
      let reproduction = remaining.remove(at: next)
      ordered.append(reproduction)
      placed.insert(reproduction.name)
    }
    return ordered
  }

  /// The cache folders of every reproduction in quick or full mode.
  public func caches(quick: Bool) -> [String: String] {
    Dictionary(uniqueKeysWithValues: reproductions.map { ($0.name, $0.cacheDirectory(quick: quick)) })
  }

  /// The stamp a run of `reproduction` would claim its cache with now.
  public func stamp(of reproduction: any Reproduction.Type, quick: Bool) throws -> CacheStamp {
    try stampOpened(reproduction, quick: quick)
  }

  private func stampOpened<R: Reproduction>(_ reproduction: R.Type, quick: Bool) throws -> CacheStamp {
    var inputs: [String: String] = [:]
    for dependency in R.dependencies {
      let folder = caches(quick: quick)[dependency] ?? ""
      inputs[dependency] = CacheStamp.recorded(in: folder)?.fingerprint ?? "not built"
    }
    return try CacheStamp(settings: R.settings(quick: quick), code: SourceFingerprint.of(R.sources), inputs: inputs)
  }

  /// Whether `reproduction`'s cache holds results of its current settings, code and dependencies.
  public func isFresh(_ reproduction: any Reproduction.Type, quick: Bool) throws -> Bool {
    try CacheStamp.recorded(in: reproduction.cacheDirectory(quick: quick)) == stamp(of: reproduction, quick: quick)
  }

  /// Runs `reproduction`: claims its cache (setting aside results of other settings or code), runs what the
  /// cache lacks and, unless `only` names a part, writes its report into `reportDirectory`.
  public func run(
    _ reproduction: any Reproduction.Type, quick: Bool, reportDirectory: String, only: String? = nil,
    header: ReportHeader
  ) throws {
    try runOpened(reproduction, quick: quick, reportDirectory: reportDirectory, only: only, header: header)
  }

  private func runOpened<R: Reproduction>(
    _ reproduction: R.Type, quick: Bool, reportDirectory: String, only: String?, header: ReportHeader
  ) throws {
    let context = ReproductionContext(
      quick: quick, reportDirectory: reportDirectory, workDirectory: R.cacheDirectory(quick: quick), only: only,
      header: header, caches: caches(quick: quick))
    for dependency in R.dependencies {
      guard let needed = self.reproduction(named: dependency), try isComplete(needed, quick: quick) else {
        throw ReportError(
          path: R.name,
          problem:
            "needs finished results of '\(dependency)' from the current code; run `frontier reproduce \(dependency)"
            + "\(quick ? " --quick" : "")` first, or `frontier reproduce all\(quick ? " --quick" : "")`")
      }
    }
    try stampOpened(R.self, quick: quick).claim(context.workDirectory, log: context.log)
    let draft = try R.run(R.settings(quick: quick), in: context)
    guard only == nil else { return }
    try R.write(draft, in: context)
    let marker = (context.workDirectory as NSString).appendingPathComponent(Self.completeMarker)
    try Data("\(header.date)\n".utf8).write(to: URL(fileURLWithPath: marker), options: .atomic)
  }

  /// The file a finished run leaves in its cache (removed with the rest when the stamp changes).
  public static let completeMarker = "complete"

  /// Whether `reproduction`'s cache holds a finished run of its current settings, code and dependencies.
  public func isComplete(_ reproduction: any Reproduction.Type, quick: Bool) throws -> Bool {
    let folder = reproduction.cacheDirectory(quick: quick)
    let marker = (folder as NSString).appendingPathComponent(Self.completeMarker)
    return try isFresh(reproduction, quick: quick) && FileManager.default.fileExists(atPath: marker)
  }
}

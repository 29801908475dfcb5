import Foundation
import Testing

@testable import Reports

/// A scratch folder removed when the test ends.
private func scratch(_ name: String) throws -> String {
  let path = FileManager.default.temporaryDirectory.appendingPathComponent("frontier-\(name)-\(UUID().uuidString)")
    .path
  try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
  return path
}

/// Test reproductions share one root folder per test process; each test sets it before running.
nonisolated(unsafe) private var root = FileManager.default.temporaryDirectory.path
nonisolated(unsafe) private var ran: [String] = []
nonisolated(unsafe) private var setting = 1

private struct Knob: Encodable { var value: Int }

private enum Parent: Reproduction {
  static let name = "parent"
  static let summary = "the parent"
  static let dependencies: [String] = []
  static let sources = ["parent-code"]
  static func settings(quick: Bool) -> Knob { Knob(value: setting) }
  static func cacheDirectory(quick: Bool) -> String { (root as NSString).appendingPathComponent("parent") }
  static func run(_ settings: Knob, in context: ReproductionContext) throws -> ReportDraft {
    ran.append(name)
    let marker = (context.workDirectory as NSString).appendingPathComponent("trained")
    if !FileManager.default.fileExists(atPath: marker) {
      try Data("\(settings.value)".utf8).write(to: URL(fileURLWithPath: marker))
    }
    let draft = ReportDraft()
    try draft.write("# Parent\n\nbody\n", to: "README.md")
    try draft.write("<svg/>", to: "plot.svg")
    return draft
  }
}

private enum Child: Reproduction {
  static let name = "child"
  static let summary = "the child"
  static let dependencies = ["parent"]
  static let sources = ["child-code"]
  static func settings(quick: Bool) -> Knob { Knob(value: 0) }
  static func cacheDirectory(quick: Bool) -> String { (root as NSString).appendingPathComponent("child") }
  static func run(_ settings: Knob, in context: ReproductionContext) throws -> ReportDraft {
    ran.append(name)
    #expect(try context.cache(of: "parent") == Parent.cacheDirectory(quick: context.quick))
    return ReportDraft()
  }
}

private enum Loop: Reproduction {
  static let name = "loop"
  static let summary = "depends on itself"
  static let dependencies = ["loop"]
  static let sources: [String] = []
  static func settings(quick: Bool) -> Knob { Knob(value: 0) }
  static func run(_ settings: Knob, in context: ReproductionContext) throws -> ReportDraft { ReportDraft() }
}

private enum Failing: Reproduction {
  static let name = "failing"
  static let summary = "fails after computing half its report"
  static let dependencies: [String] = []
  static let sources: [String] = []
  static func settings(quick: Bool) -> Knob { Knob(value: 0) }
  static func cacheDirectory(quick: Bool) -> String { (root as NSString).appendingPathComponent("failing") }
  static func run(_ settings: Knob, in context: ReproductionContext) throws -> ReportDraft {
    throw ReportError(path: "failing", problem: "stopped half-way")
  }
}

private let header = ReportHeader(command: "frontier reproduce test", date: "2026-12-08T00:00:00Z")

extension ReportHeader {
  fileprivate init(command: String, date: String) {
    self.init(commit: "abc123", command: command, date: date, machine: "test CPU, 2 threads")
  }
}

@Suite(.serialized) struct ReproductionTests {
  @Test("all runs dependencies first; a dependent refuses to run before its dependency has finished")
  func dependencyOrder() throws {
    root = try scratch("order")
    let driver = try ReproductionDriver([Child.self, Parent.self])
    #expect(try driver.dependencyOrder().map { $0.name } == ["parent", "child"])
    ran = []
    #expect(throws: ReportError.self) {
      try driver.run(Child.self, quick: false, reportDirectory: root + "/child-report", header: header)
    }
    #expect(ran.isEmpty)
    try driver.run(Parent.self, quick: false, reportDirectory: root + "/parent-report", header: header)
    try driver.run(Child.self, quick: false, reportDirectory: root + "/child-report", header: header)
    #expect(ran == ["parent", "child"])
    #expect(try driver.isComplete(Parent.self, quick: false))
  }

  @Test("a dependency on itself or on an unregistered name is an error, and so are two of one name")
  func badRegistries() throws {
    #expect(throws: ReportError.self) { try ReproductionDriver([Loop.self]).dependencyOrder() }
    #expect(throws: ReportError.self) { try ReproductionDriver([Child.self]) }
    #expect(throws: ReportError.self) { try ReproductionDriver([Parent.self, Parent.self]) }
  }

  @Test("changed settings set the cache aside and make dependents stale")
  func changedSettingsSetTheCacheAside() throws {
    root = try scratch("settings")
    setting = 1
    let driver = try ReproductionDriver([Parent.self, Child.self])
    try driver.run(Parent.self, quick: false, reportDirectory: root + "/report", header: header)
    try driver.run(Child.self, quick: false, reportDirectory: root + "/child-report", header: header)
    #expect(try driver.isComplete(Child.self, quick: false))
    let cache = Parent.cacheDirectory(quick: false)
    setting = 2
    #expect(try !driver.isFresh(Parent.self, quick: false))
    try driver.run(Parent.self, quick: false, reportDirectory: root + "/report", header: header)
    let trained = try String(contentsOfFile: cache + "/trained", encoding: .utf8)
    #expect(trained == "2")
    let stale = try FileManager.default.contentsOfDirectory(atPath: cache).filter { $0.hasPrefix("stale-") }
    #expect(stale.count == 1)
    #expect(try String(contentsOfFile: "\(cache)/\(stale[0])/trained", encoding: .utf8) == "1")
    // The child was built from the parent's earlier stamp.
    #expect(try !driver.isFresh(Child.self, quick: false))
    setting = 1
  }

  @Test("the report gets the header under its title, and a run that fails leaves the old report whole")
  func reportWriting() throws {
    root = try scratch("report")
    let report = root + "/report"
    let driver = try ReproductionDriver([Parent.self, Failing.self])
    try driver.run(Parent.self, quick: false, reportDirectory: report, header: header)
    let text = try String(contentsOfFile: report + "/README.md", encoding: .utf8)
    let lines = text.components(separatedBy: "\n")
    #expect(lines[0] == "# Parent")
    #expect(lines[2] == ReportHeader.tableHead)
    #expect(text.contains("`frontier reproduce test`"))
    #expect(text.hasSuffix("body\n"))
    #expect(FileManager.default.fileExists(atPath: report + "/plot.svg"))
    #expect(throws: ReportError.self) {
      try driver.run(Failing.self, quick: false, reportDirectory: report, header: header)
    }
    #expect(try String(contentsOfFile: report + "/README.md", encoding: .utf8) == text)
    #expect(try !driver.isComplete(Failing.self, quick: false))
  }

  @Test("the source fingerprint changes with a file's bytes, its name and a new file, and not otherwise")
  func sourceFingerprint() throws {
    let repository = try scratch("sources")
    let folder = repository + "/Sources/Thing"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    try Data("let a = 1\n".utf8).write(to: URL(fileURLWithPath: folder + "/A.swift"))
    let first = SourceFingerprint.compute(["Sources/Thing"], in: repository)
    // The memoized fingerprint a long command keys its stages by stays what it was when first read.
    let memoized = SourceFingerprint.of(["Sources/Thing"], in: repository)
    #expect(memoized == first)
    #expect(first.hasPrefix("src-") && first.count == 20)
    #expect(SourceFingerprint.compute(["Sources/Thing"], in: repository) == first)
    try Data("let a = 2\n".utf8).write(to: URL(fileURLWithPath: folder + "/A.swift"))
    let changed = SourceFingerprint.compute(["Sources/Thing"], in: repository)
    #expect(changed != first)
    try FileManager.default.moveItem(atPath: folder + "/A.swift", toPath: folder + "/B.swift")
    #expect(SourceFingerprint.compute(["Sources/Thing"], in: repository) != changed)
    try Data("// more\n".utf8).write(to: URL(fileURLWithPath: folder + "/C.swift"))
    let added = SourceFingerprint.compute(["Sources/Thing"], in: repository)
    #expect(added != changed)
    #expect(SourceFingerprint.of(["Sources/Thing"], in: repository) == memoized)
    // Paths that do not exist fall back to the executable's fingerprint.
    #expect(SourceFingerprint.compute(["Sources/Nothing"], in: repository).hasPrefix("bin-"))
  }
}

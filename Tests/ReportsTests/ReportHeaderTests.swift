import Foundation
import Testing

@testable import Reports

@Suite struct ReportHeaderTests {
  @Test func headerNamesCommitCommandDateAndMachine() {
    let header = ReportHeader.current(threads: 2)
    #expect(!header.commit.isEmpty && !header.command.isEmpty)
    #expect(header.machine.hasSuffix("2 threads"))
    // ISO 8601 in UTC: 2026-12-07T19:56:19Z.
    #expect(header.date.count == 20 && header.date.hasSuffix("Z"))
    let lines = header.markdown.split(separator: "\n")
    #expect(lines.count == 3)
    #expect(lines[0] == "| commit | command | date | machine |")
    #expect(lines[2].contains(header.commit) && lines[2].contains(header.date) && lines[2].contains(header.machine))
  }

  @Test func aFolderOutsideGitHasAnUnknownCommit() throws {
    let folder = NSTemporaryDirectory() + "frontier-header-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    #expect(ReportHeader.commit(in: folder) == "unknown (not a git checkout)")
  }

  static let hasGit = ReportHeader.run(["git", "--version"]) != nil

  @Test(.enabled(if: hasGit, "git is not installed"))
  func aGitCheckoutGivesItsCommitAndLocalChanges() throws {
    let folder = NSTemporaryDirectory() + "frontier-header-git-\(UUID().uuidString)"
    try FileManager.default.createDirectory(atPath: folder, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(atPath: folder) }
    let git = { (arguments: [String]) in ReportHeader.run(["git", "-C", folder] + arguments) }
    #expect(git(["init", "-q"]) != nil)
    _ = git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "--allow-empty", "-m", "x"])
    try "a".write(toFile: folder + "/f.txt", atomically: true, encoding: .utf8)
    _ = git(["add", "f.txt"])
    _ = git(["-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "y"])
    let head = try #require(git(["rev-parse", "--short=12", "HEAD"]))
    #expect(ReportHeader.commit(in: folder) == head)
    try "b".write(toFile: folder + "/f.txt", atomically: true, encoding: .utf8)
    #expect(ReportHeader.commit(in: folder) == head + " + local changes")
  }
}

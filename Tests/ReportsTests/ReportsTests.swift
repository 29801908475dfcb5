import Foundation
import Testing

@testable import Reports

@Suite struct ReportsTests {
  @Test func markdownTableEscapesPipesAndPadsRows() {
    var table = MarkdownTable(header: ["run", "loss"])
    table.append(["a|b", "1.5"])
    table.append(["c"])
    #expect(table.markdown == "| run | loss |\n|---|---|\n| a\\|b | 1.5 |\n| c |  |\n")
  }

  @Test func summaryUsesSampleDeviation() {
    let s = Summary([1, 2, 3, 4])
    #expect(s.mean == 2.5)
    #expect(abs(s.standardDeviation - (5.0 / 3).squareRoot()) < 1e-12)
    #expect(ReportFormat.meanAndDeviation([2, 4], digits: 2) == "3.00 ± 1.41")
    #expect(ReportFormat.grouped(12_194_688) == "12,194,688")
    #expect(ReportFormat.grouped(-1000) == "-1,000")
  }

  @Test func reportFolderReplacesFilesWhole() throws {
    let dir = NSTemporaryDirectory() + "reports-\(UUID().uuidString)"
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let folder = try ReportFolder(path: dir + "/nested")
    try folder.write("first", to: "a.md")
    let path = try folder.write("second", to: "a.md")
    #expect(try String(contentsOfFile: path, encoding: .utf8) == "second")
    #expect(try FileManager.default.contentsOfDirectory(atPath: dir + "/nested") == ["a.md"])
  }
}

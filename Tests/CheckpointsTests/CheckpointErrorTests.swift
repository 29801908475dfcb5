import Testing

@testable import Checkpoints

@Suite struct CheckpointErrorTests {
  @Test func descriptionIsOneLineNamingTheFile() {
    let e = CheckpointError(path: "/x/model.safetensors", problem: "header is truncated")
    #expect(e.description.hasPrefix("/x/model.safetensors: header is truncated"))
    #expect(!e.description.contains("\n"))
  }
}

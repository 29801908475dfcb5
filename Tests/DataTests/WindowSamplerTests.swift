import Foundation
import Testing

@testable import Data

@Suite struct WindowSamplerTests {
  func shard(_ count: Int) throws -> (TokenShard, String) {
    let dir = try temporaryDirectory("sampler")
    try TokenShard.write((0..<count).map { $0 % 60_000 }, width: .uint16, to: dir + "/t.bin")
    return (try TokenShard(path: dir + "/t.bin"), dir)
  }

  @Test func sameSeedSameWindowsAndTargetsShiftByOne() throws {
    let (s, dir) = try shard(5000)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var a = WindowSampler(seed: 7, context: 16)
    var b = WindowSampler(seed: 7, context: 16)
    var c = WindowSampler(seed: 8, context: 16)
    for _ in 0..<3 {
      let x = try a.next(from: s, batch: 4)
      let y = try b.next(from: s, batch: 4)
      let z = try c.next(from: s, batch: 4)
      #expect(x.inputs.int64s == y.inputs.int64s)
      #expect(x.inputs.int64s != z.inputs.int64s)
      #expect(x.inputs.shape == [4, 16] && x.targets.shape == [4, 16])
      // The shard holds 0, 1, 2, ... so every target is its input plus one.
      #expect(zip(x.inputs.int64s, x.targets.int64s).allSatisfy { $1 == $0 + 1 })
    }
    #expect(a.state.position == 12)
  }

  @Test func windowsCoverTheShardAndStayInBounds() throws {
    let (s, dir) = try shard(40)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let sampler = WindowSampler(seed: 3, context: 8)
    let starts = (0..<2000).map { sampler.windowStart(UInt64($0), tokenCount: s.count) }
    #expect(starts.allSatisfy { $0 >= 0 && $0 + 9 <= 40 })
    #expect(Set(starts).count == 32)
  }

  @Test func stateRoundTripContinuesIdentically() throws {
    let (s, dir) = try shard(3000)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var a = WindowSampler(seed: 11, context: 12)
    _ = try a.next(from: s, batch: 3)
    let saved = try JSONEncoder().encode(a.state)
    var b = WindowSampler(state: try JSONDecoder().decode(SamplerState.self, from: saved), context: 12)
    #expect(b.state == a.state)
    for _ in 0..<3 {
      #expect(try a.next(from: s, batch: 3).inputs.int64s == b.next(from: s, batch: 3).inputs.int64s)
    }
  }

  @Test func rankSlicesTogetherEqualTheGlobalBatch() throws {
    let (s, dir) = try shard(4000)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var whole = WindowSampler(seed: 5, context: 10)
    var ranks = [WindowSampler(seed: 5, context: 10), WindowSampler(seed: 5, context: 10)]
    for _ in 0..<2 {
      let global = try whole.next(from: s, batch: 6).inputs.int64s
      let parts = try (0..<2).flatMap { r in try ranks[r].next(from: s, batch: 3, rank: r, ranks: 2).inputs.int64s }
      #expect(parts == global)
    }
    #expect(ranks[0].state == whole.state && ranks[1].state == whole.state)
  }

  @Test func tooShortShardIsAnError() throws {
    let (s, dir) = try shard(10)
    defer { try? FileManager.default.removeItem(atPath: dir) }
    var sampler = WindowSampler(seed: 0, context: 10)
    #expect(throws: DataError.self) { try sampler.next(from: s, batch: 1) }
    #expect(throws: DataError.self) { try sampler.next(from: s, batch: 1, rank: 2, ranks: 2) }
  }
}

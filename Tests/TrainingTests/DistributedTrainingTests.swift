import Distributed
import Foundation
import TensorCore
import TestSupport
import Testing

@testable import Training

/// Ranks of one process that sum through shared memory; each rank must run on its own thread.
final class InProcessGroup: @unchecked Sendable {
  let size: Int
  private let condition = NSCondition()
  private var partial: [Float] = []
  private var result: [Float] = []
  private var arrived = 0
  private var generation = 0

  init(size: Int) { self.size = size }

  func allReduceSum(_ values: inout [Float]) {
    condition.lock()
    defer { condition.unlock() }
    let mine = generation
    if arrived == 0 {
      partial = values
    } else {
      for i in partial.indices { partial[i] += values[i] }
    }
    arrived += 1
    if arrived == size {
      result = partial
      arrived = 0
      generation += 1
      condition.broadcast()
    } else {
      while generation == mine { condition.wait() }
    }
    values = result
  }
}

/// A ``Communicator`` over an ``InProcessGroup``.
final class InProcessCommunicator: Communicator, @unchecked Sendable {
  let rank: Int
  let group: InProcessGroup
  var size: Int { group.size }

  init(rank: Int, group: InProcessGroup) {
    self.rank = rank
    self.group = group
  }

  func allReduceSum(_ values: inout [Float]) throws { group.allReduceSum(&values) }
  func broadcast(_ values: inout [Float]) throws {}
  func barrier() throws {
    var nothing: [Float] = []
    group.allReduceSum(&nothing)
  }
}

/// Runs `body(rank)` on one thread per rank and waits for all of them.
func onThreads(_ count: Int, _ body: @escaping @Sendable (Int) -> Void) {
  let done = DispatchGroup()
  for rank in 0..<count {
    done.enter()
    let thread = Thread {
      body(rank)
      done.leave()
    }
    thread.stackSize = 8 << 20
    thread.start()
  }
  done.wait()
}

final class Box<T>: @unchecked Sendable {
  var value: T
  init(_ value: T) { self.value = value }
}

@Suite struct DistributedTrainingTests {
  @Test func twoRanksEqualOneRankWithTheDoubleBatch() throws {
    let dir = try temporaryDirectory("ranks")
    defer { try? FileManager.default.removeItem(atPath: dir) }
    let shards = try randomShards(in: dir)
    let single = TrainingConfiguration(steps: 3, batchSize: 4, contextLength: 8, learningRate: 1e-3)
    let perRank = TrainingConfiguration(steps: 3, batchSize: 2, contextLength: 8, learningRate: 1e-3)
    let (reference, referenceModel) = try makeTrainer(single, shards: shards)
    let (referenceLoss, referenceGradients) = try reference.nextGradients()
    let referenceLosses = [referenceLoss] + (try reference.run().map(\.loss))

    let group = InProcessGroup(size: 2)
    let trainers = try (0..<2).map { rank in
      try makeTrainer(perRank, shards: shards, communicator: InProcessCommunicator(rank: rank, group: group))
    }
    let outcomes = Box([Result<([Float], [String: Tensor]), Error>](repeating: .failure(CancellationError()), count: 2))
    let shared = Box(trainers.map(\.0))
    onThreads(2) { rank in
      let trainer = shared.value[rank]
      let result = Result { () -> ([Float], [String: Tensor]) in
        let (loss, gradients) = try trainer.nextGradients()
        return ([loss] + (try trainer.run().map(\.loss)), gradients)
      }
      outcomes.value[rank] = result
    }
    let (losses0, gradients0) = try outcomes.value[0].get()
    let (losses1, _) = try outcomes.value[1].get()
    #expect(losses0 == losses1)
    #expect(allClose(losses0, referenceLosses, atol: 1e-5, rtol: 1e-4), "\(losses0) vs \(referenceLosses)")
    for (key, g) in referenceGradients {
      #expect(allClose(g.floats, gradients0[key]!.floats, atol: 1e-6, rtol: 1e-4), "\(key)")
    }
    // Both ranks took identical steps, and they agree with the single-rank run within float tolerance.
    #expect(weights(trainers[0].1) == weights(trainers[1].1))
    for (key, w) in weights(referenceModel) {
      #expect(allClose(w, weights(trainers[0].1)[key]!, atol: 1e-4, rtol: 1e-3), "\(key)")
    }
  }
}

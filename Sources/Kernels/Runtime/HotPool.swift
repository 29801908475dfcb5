#if os(Linux)
  import Glibc
  import Synchronization
#endif

/// Worker threads that stay awake between short parallel jobs.
///
/// Decoding runs dozens of matrix-vector products per token, each a few microseconds long. Waking a
/// sleeping thread takes about as long, so with a pool whose threads sleep the caller usually
/// finishes alone. Here the workers spin for a short while after each job (then sleep), and every job
/// is split into chunks that whoever is free claims: a late or descheduled worker never holds the
/// caller up by more than the chunk it is running. One job runs at a time; a call made while another
/// job runs (from another thread, or from inside a chunk) runs serially on its caller.
///
/// Every parallel kernel runs here (``Parallel/forChunks(count:grain:_:)`` too). A second pool would
/// oversubscribe the cores while these workers spin: with Dispatch's threads beside them, TriForce's
/// full-cache passes after its draft and retrieval passes took ~5 ms (15%) longer at 32K tokens.
public enum HotPool {
  /// Calls `body(i)` for each chunk `i` in `0..<chunks`, spread over up to ``Parallel/threadCount`` threads.
  public static func run(chunks: Int, _ body: (Int) -> Void) {
    #if os(Linux)
      if chunks > 1 && Parallel.threadCount > 1 {
        HotPoolState.shared.run(chunks: chunks, workers: Parallel.threadCount - 1, body)
        return
      }
    #endif
    for i in 0..<chunks { body(i) }
  }
}

#if os(Linux)
  /// The shared state of the workers. The claim word holds the job number in its high 32 bits, the job's
  /// chunk count in the next 16 and the next chunk index in the low 16, so one compare-and-swap checks a
  /// claim against the job it belongs to: a worker that saw an old job can never claim a chunk of a newer
  /// one, nor judge a claim against another job's chunk count (which once let a stale worker run a chunk
  /// of the next job twice and count it as finished early).
  final class HotPoolState: @unchecked Sendable {
    static let shared = HotPoolState(workers: max(1, Parallel.threadCount - 1))

    let claim = Atomic<Int>(0)
    let finished = Atomic<Int>(0)
    let busy = Atomic<Bool>(false)
    let sleepers = Atomic<Int>(0)
    /// The most chunks a job can have (16 bits of the claim word).
    static let maximumChunks = 0xFFFF
    /// Workers allowed to take part in the current job (the rest stay idle).
    let activeWorkers = Atomic<Int>(0)
    /// The current job's body; valid while one of its chunks is claimed and unfinished.
    nonisolated(unsafe) var body: ((Int) -> Void)?
    let mutex: UnsafeMutablePointer<pthread_mutex_t>
    let condition: UnsafeMutablePointer<pthread_cond_t>
    let workerCount: Int
    /// Seconds a worker spins waiting for the next job before it sleeps.
    static let spinSeconds = 0.0005

    init(workers: Int) {
      workerCount = workers
      mutex = .allocate(capacity: 1)
      condition = .allocate(capacity: 1)
      pthread_mutex_init(mutex, nil)
      pthread_cond_init(condition, nil)
      for index in 0..<workers {
        let context = Unmanaged.passRetained(HotPoolWorker(state: self, index: index)).toOpaque()
        var thread = pthread_t()
        let status = pthread_create(
          &thread, nil,
          { raw in
            guard let raw else { return nil }
            let worker = Unmanaged<HotPoolWorker>.fromOpaque(raw).takeRetainedValue()
            worker.state.workerLoop(index: worker.index)
            return nil
          }, context)
        if status == 0 {
          pthread_detach(thread)
        } else {
          Unmanaged<HotPoolWorker>.fromOpaque(context).release()
        }
      }
    }

    func run(chunks: Int, workers: Int, _ body: (Int) -> Void) {
      guard chunks <= Self.maximumChunks,
        busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged
      else {
        for i in 0..<chunks { body(i) }
        return
      }
      withoutActuallyEscaping(body) { body in
        self.body = body
        activeWorkers.store(min(workers, workerCount), ordering: .relaxed)
        finished.store(0, ordering: .relaxed)
        let job = (claim.load(ordering: .relaxed) >> 32) &+ 1
        claim.store(job << 32 | chunks << 16, ordering: .sequentiallyConsistent)
        if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
          pthread_mutex_lock(mutex)
          pthread_cond_broadcast(condition)
          pthread_mutex_unlock(mutex)
        }
        work(job: job, body: body)
        // A worker may still run a chunk; if it was descheduled, give it the core.
        var spins = 0
        while finished.load(ordering: .acquiring) < chunks {
          spins += 1
          if spins & 1023 == 0 { sched_yield() }
        }
        self.body = nil
      }
      busy.store(false, ordering: .releasing)
    }

    /// Claims the next chunk of job `job`, or returns nil when none is left or the job is gone.
    @inline(__always)
    func claimChunk(of job: Int) -> Int? {
      while true {
        let word = claim.load(ordering: .acquiring)
        let (index, count) = (word & 0xFFFF, (word >> 16) & 0xFFFF)
        guard word >> 32 == job, index < count else { return nil }
        if claim.compareExchange(expected: word, desired: word + 1, ordering: .acquiringAndReleasing).exchanged {
          return index
        }
      }
    }

    /// Claims and runs chunks of job `job` until none is left (or the job is gone).
    @inline(__always)
    func work(job: Int, body: (Int) -> Void) {
      while true {
        guard let index = claimChunk(of: job) else { return }
        body(index)
        finished.add(1, ordering: .releasing)
      }
    }

    func workerLoop(index: Int) {
      var seen = claim.load(ordering: .acquiring) >> 32
      let clock = ContinuousClock()
      while true {
        var job = claim.load(ordering: .acquiring) >> 32
        if job == seen {
          // Spin for a while, then sleep until a job is published.
          let deadline = clock.now + .nanoseconds(Int64(Self.spinSeconds * 1e9))
          var spins = 0
          while job == seen {
            spins += 1
            if spins & 1023 == 0 {
              if clock.now > deadline { break }
              sched_yield()
            }
            job = claim.load(ordering: .acquiring) >> 32
          }
          if job == seen {
            pthread_mutex_lock(mutex)
            sleepers.add(1, ordering: .sequentiallyConsistent)
            while claim.load(ordering: .sequentiallyConsistent) >> 32 == seen {
              pthread_cond_wait(condition, mutex)
            }
            sleepers.subtract(1, ordering: .sequentiallyConsistent)
            pthread_mutex_unlock(mutex)
            job = claim.load(ordering: .acquiring) >> 32
          }
        }
        seen = job
        guard index < activeWorkers.load(ordering: .relaxed) else { continue }
        // The body is read only after a chunk of this job is claimed (see work(job:body:)).
        while let index = claimChunk(of: job) {
          runChunk(index)
          finished.add(1, ordering: .releasing)
        }
      }
    }

    /// Runs one chunk of the current job on a worker. Not inlined, so that the worker's reference to the
    /// body is surely released before the chunk is counted as finished: the caller's
    /// `withoutActuallyEscaping` traps if a reference outlives the job.
    @inline(never)
    func runChunk(_ index: Int) {
      body?(index)
    }
  }

  /// What a new worker thread needs.
  final class HotPoolWorker {
    let state: HotPoolState
    let index: Int
    init(state: HotPoolState, index: Int) {
      self.state = state
      self.index = index
    }
  }
#endif

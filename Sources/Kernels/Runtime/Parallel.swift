import CBLAS

#if canImport(Glibc)
  import Glibc
#endif

/// Work splitting across the machine's cores.
///
/// OpenBLAS runs single-threaded and our own threads split large products between them (see
/// ``Gemm``), so one pool of ``threadCount`` threads does all the work: no BLAS worker threads spin
/// while our kernels run, and nothing oversubscribes the cores.
public enum Parallel {
  /// Threads used by kernels and BLAS: `FRONTIER_THREADS` if set, else the active core count.
  nonisolated(unsafe) public private(set) static var threadCount: Int = {
    let n: Int
    if let s = getenv("FRONTIER_THREADS"), let v = Int(String(cString: s)), v > 0 {
      n = v
    } else {
      n = max(1, Int(sysconf(Int32(_SC_NPROCESSORS_ONLN))))
    }
    openblas_set_num_threads(1)
    return n
  }()

  /// Sets the number of threads for our kernels and for BLAS.
  public static func setThreadCount(_ n: Int) {
    threadCount = max(1, n)
    openblas_set_num_threads(1)
  }

  /// Calls `body` on disjoint chunks covering `0..<count`, in parallel when there is
  /// at least `grain` work per thread.
  @inlinable
  public static func forChunks(count: Int, grain: Int, _ body: (Range<Int>) -> Void) {
    let threads = min(threadCount, max(1, count / max(grain, 1)))
    if threads <= 1 {
      if count > 0 { body(0..<count) }
      return
    }
    // The same threads as every other parallel kernel (``HotPool``): a second pool's threads would
    // compete for the cores with workers still spinning after the previous job.
    HotPool.run(chunks: threads) { t in
      let lo = count * t / threads
      let hi = count * (t + 1) / threads
      if lo < hi { body(lo..<hi) }
    }
  }

  /// Calls `body(i)` for each `i` in `0..<count`, spreading the indices over threads.
  @inlinable
  public static func forEach(count: Int, _ body: (Int) -> Void) {
    forChunks(count: count, grain: 1) { range in
      for i in range { body(i) }
    }
  }
}

/// Wraps a value that is safe to share because the caller guarantees disjoint access.
public struct UncheckedSendable<T>: @unchecked Sendable {
  /// The wrapped value.
  public let value: T
  /// Wraps `value`.
  @inlinable public init(_ value: T) { self.value = value }
}

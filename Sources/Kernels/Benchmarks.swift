import CBLAS

/// Raw reference measurements for `frontier bench`, made below the tensor API.
public enum KernelBenchmarks {
  /// Runs `body` once to warm up, then `repeats` times, and returns the best time in seconds.
  public static func bestTime(repeats: Int, _ body: () -> Void) -> Double {
    body()
    var best = Double.infinity
    let clock = ContinuousClock()
    for _ in 0..<max(1, repeats) {
      let start = clock.now
      body()
      let d = clock.now - start
      best = min(best, d.seconds)
    }
    return best
  }

  /// Best time of one direct `cblas_sgemm` call on n x n x n row-major matrices, with OpenBLAS's own
  /// threading over ``Parallel/threadCount`` threads.
  public static func rawSGEMMSeconds(size n: Int, repeats: Int) -> Double {
    let a = Buffer(byteCount: n * n * 4, zeroed: true)
    let b = Buffer(byteCount: n * n * 4, zeroed: true)
    let c = Buffer(byteCount: n * n * 4, zeroed: true)
    let pa = a.pointer(as: Float.self)
    let pb = b.pointer(as: Float.self)
    Elementwise.fill(pa, value: 0.01, count: n * n)
    Elementwise.fill(pb, value: 0.02, count: n * n)
    openblas_set_num_threads(Int32(Parallel.threadCount))
    defer { openblas_set_num_threads(1) }
    return bestTime(repeats: repeats) {
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, pa, Int32(n), pb, Int32(n), 0,
        c.pointer(as: Float.self), Int32(n))
    }
  }
}

extension Duration {
  /// The duration in seconds.
  public var seconds: Double { Double(components.seconds) + Double(components.attoseconds) * 1e-18 }
}

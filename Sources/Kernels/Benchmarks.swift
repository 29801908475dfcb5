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
      let seconds = Double(d.components.seconds) + Double(d.components.attoseconds) * 1e-18
      best = min(best, seconds)
    }
    return best
  }

  /// Best time of one direct `cblas_sgemm` call on n x n x n row-major matrices.
  public static func rawSGEMMSeconds(size n: Int, repeats: Int) -> Double {
    let a = Buffer(byteCount: n * n * 4, zeroed: true)
    let b = Buffer(byteCount: n * n * 4, zeroed: true)
    let c = Buffer(byteCount: n * n * 4, zeroed: true)
    let pa = a.pointer(as: Float.self)
    let pb = b.pointer(as: Float.self)
    for i in 0..<(n * n) {
      pa[i] = Float(i % 7) * 0.01
      pb[i] = Float(i % 5) * 0.01
    }
    return bestTime(repeats: repeats) {
      cblas_sgemm(
        CblasRowMajor, CblasNoTrans, CblasNoTrans, Int32(n), Int32(n), Int32(n), 1, pa, Int32(n), pb, Int32(n), 0,
        c.pointer(as: Float.self), Int32(n))
    }
  }

  /// The name of the OpenBLAS kernel set in use (e.g. "Cooperlake").
  public static var blasCore: String {
    guard let p = openblas_get_corename() else { return "unknown" }
    return String(cString: p)
  }
}

import CBLAS

#if canImport(Glibc)
  import Glibc
#endif

/// Makes sure OpenBLAS runs kernels built for this CPU.
///
/// Debian's OpenBLAS 0.3.21 picks its kernels at load time and does not recognise newer CPUs
/// (Sapphire Rapids, for one): it falls back to "Prescott" SSE3 kernels that run GEMM about 8x
/// slower. The only switch is the `OPENBLAS_CORETYPE` environment variable, read when the library
/// loads, so the executable re-executes itself once with it set.
public enum BLASRuntime {
  /// The kernel set OpenBLAS chose.
  public static var coreName: String {
    guard let p = openblas_get_corename() else { return "unknown" }
    return String(cString: p)
  }

  /// The best OpenBLAS core type for this CPU's instruction sets, or nil when unknown.
  static func preferredCoreType() -> String? {
    #if arch(x86_64)
      if cpuSupports("avx512bf16") { return "Cooperlake" }
      if cpuSupports("avx512f") { return "SkylakeX" }
      if cpuSupports("avx2") { return "Haswell" }
    #endif
    return nil
  }

  /// Reads the CPU's feature flags from /proc/cpuinfo (Linux).
  static func cpuSupports(_ feature: String) -> Bool {
    cpuFlags.contains(feature == "avx512bf16" ? "avx512_bf16" : feature)
  }

  static let cpuFlags: Set<String> = {
    guard let f = fopen("/proc/cpuinfo", "r") else { return [] }
    defer { fclose(f) }
    var line: UnsafeMutablePointer<CChar>?
    var capacity = 0
    while getline(&line, &capacity, f) > 0 {
      guard let l = line else { break }
      let s = String(cString: l)
      if s.hasPrefix("flags") {
        free(line)
        return Set(s.split(whereSeparator: { $0 == " " || $0 == "\t" || $0 == "\n" || $0 == ":" }).map(String.init))
      }
    }
    free(line)
    return []
  }()

  /// Re-executes the current program with `OPENBLAS_CORETYPE` set when OpenBLAS fell back to
  /// generic kernels on a CPU it does not know. Returns normally when nothing needs to change
  /// (the variable is already set, the kernels are already specific, or re-execution fails).
  public static func ensureOptimizedKernels() {
    guard getenv("OPENBLAS_CORETYPE") == nil, coreName == "Prescott" || coreName == "Core2" || coreName == "Nehalem",
      let preferred = preferredCoreType()
    else { return }
    setenv("OPENBLAS_CORETYPE", preferred, 1)
    execv("/proc/self/exe", CommandLine.unsafeArgv)
    // execv only returns on failure: carry on with the generic kernels.
  }
}

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// Byte-level helpers for checkpoint formats: element conversions out of (possibly unaligned)
/// file bytes, raw byte images of arrays, and a plain POSIX file writer.
///
/// Every conversion reads with unaligned loads, so a tensor whose data starts at an odd file
/// offset is still safe to read. The host is assumed little-endian (x86-64, arm64), which is
/// the byte order of every format we read.
public enum ByteIO {
  /// Elements converted per chunk before parallel work pays off.
  @usableFromInline static let conversionGrain = 1 << 16

  // MARK: - Conversions to Float

  /// Copies the buffer's bytes as `Float` values (`byteCount / 4` of them).
  public static func floats(fromFloat32 source: Buffer) -> [Float] {
    convert(source, elementSize: 4) { src, dst, range in
      (dst + range.lowerBound * 4).copyMemory(from: src + range.lowerBound * 4, byteCount: range.count * 4)
    }
  }

  /// Converts IEEE half-precision values (`byteCount / 2` of them) to `Float`.
  public static func floats(fromFloat16 source: Buffer) -> [Float] {
    convert(source, elementSize: 2) { src, dst, range in
      var i = range.lowerBound
      while i + 16 <= range.upperBound {
        let bits = src.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self)
        let halves = unsafeBitCast(bits, to: SIMD16<Float16>.self)
        dst.storeBytes(of: SIMD16<Float>(halves), toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
      }
      while i < range.upperBound {
        let bits = src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
        dst.storeBytes(of: Float(Float16(bitPattern: bits)), toByteOffset: i * 4, as: Float.self)
        i += 1
      }
    }
  }

  /// Scalar twin of ``floats(fromFloat16:)``: decodes sign, exponent and mantissa by hand.
  public static func floatsReference(fromFloat16 source: Buffer) -> [Float] {
    let bits = source.read(as: UInt8.self, count: source.byteCount / 2 * 2)
    var result = [Float]()
    result.reserveCapacity(bits.count / 2)
    for i in stride(from: 0, to: bits.count, by: 2) {
      let h = UInt32(bits[i]) | UInt32(bits[i + 1]) << 8
      let sign: Double = h & 0x8000 != 0 ? -1 : 1
      let exponent = Int((h >> 10) & 0x1f)
      let mantissa = Double(h & 0x3ff)
      let value: Double
      if exponent == 0 {
        value = sign * mantissa * 0x1p-24
      } else if exponent == 31 {
        value = mantissa == 0 ? sign * Double.infinity : Double.nan
      } else {
        value = sign * (1 + mantissa / 1024) * Double(sign: .plus, exponent: exponent - 15, significand: 1)
      }
      result.append(Float(value))
    }
    return result
  }

  /// Converts bfloat16 values (`byteCount / 2` of them) to `Float`; exact, NaN payloads kept.
  public static func floats(fromBFloat16 source: Buffer) -> [Float] {
    convert(source, elementSize: 2) { src, dst, range in
      var i = range.lowerBound
      while i + 16 <= range.upperBound {
        let bits = src.loadUnaligned(fromByteOffset: i * 2, as: SIMD16<UInt16>.self)
        let wide = SIMD16<UInt32>(truncatingIfNeeded: bits) &<< 16
        dst.storeBytes(of: wide, toByteOffset: i * 4, as: SIMD16<UInt32>.self)
        i += 16
      }
      while i < range.upperBound {
        let bits = src.loadUnaligned(fromByteOffset: i * 2, as: UInt16.self)
        dst.storeBytes(of: UInt32(bits) << 16, toByteOffset: i * 4, as: UInt32.self)
        i += 1
      }
    }
  }

  /// Scalar twin of ``floats(fromBFloat16:)``.
  public static func floatsReference(fromBFloat16 source: Buffer) -> [Float] {
    let bytes = source.read(as: UInt8.self, count: source.byteCount / 2 * 2)
    return stride(from: 0, to: bytes.count, by: 2).map { i in
      Float(bitPattern: (UInt32(bytes[i]) | UInt32(bytes[i + 1]) << 8) << 16)
    }
  }

  /// Converts 32-bit signed integers (`byteCount / 4` of them) to `Float` (rounding to nearest).
  public static func floats(fromInt32 source: Buffer) -> [Float] {
    convert(source, elementSize: 4) { src, dst, range in
      var i = range.lowerBound
      while i + 16 <= range.upperBound {
        let v = src.loadUnaligned(fromByteOffset: i * 4, as: SIMD16<Int32>.self)
        dst.storeBytes(of: SIMD16<Float>(v), toByteOffset: i * 4, as: SIMD16<Float>.self)
        i += 16
      }
      while i < range.upperBound {
        let v = src.loadUnaligned(fromByteOffset: i * 4, as: Int32.self)
        dst.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
        i += 1
      }
    }
  }

  /// Scalar twin of ``floats(fromInt32:)``.
  public static func floatsReference(fromInt32 source: Buffer) -> [Float] {
    let bytes = source.read(as: UInt8.self, count: source.byteCount / 4 * 4)
    return stride(from: 0, to: bytes.count, by: 4).map { i in
      var u: UInt32 = 0
      for k in 0..<4 { u |= UInt32(bytes[i + k]) << (8 * k) }
      return Float(Int32(bitPattern: u))
    }
  }

  /// Converts 64-bit signed integers (`byteCount / 8` of them) to `Float` (rounding to nearest).
  ///
  /// A plain loop: int64 tensors are token ids and indices, never large enough to need more.
  public static func floats(fromInt64 source: Buffer) -> [Float] {
    convert(source, elementSize: 8) { src, dst, range in
      for i in range {
        let v = src.loadUnaligned(fromByteOffset: i * 8, as: Int64.self)
        dst.storeBytes(of: Float(v), toByteOffset: i * 4, as: Float.self)
      }
    }
  }

  /// Runs `body(source, destination, elementRange)` over chunks of the output, in parallel for large inputs.
  @usableFromInline
  static func convert(
    _ source: Buffer, elementSize: Int,
    _ body: (UnsafeRawPointer, UnsafeMutableRawPointer, Range<Int>) -> Void
  ) -> [Float] {
    let count = source.byteCount / elementSize
    return [Float](unsafeUninitializedCapacity: count) { out, initialized in
      if count > 0, let dst = out.baseAddress {
        let src = UnsafeRawPointer(source.base)
        let raw = UnsafeMutableRawPointer(dst)
        Parallel.forChunks(count: count, grain: conversionGrain) { range in body(src, raw, range) }
      }
      initialized = count
    }
  }

  // MARK: - Byte images

  /// The in-memory bytes of `values` (little-endian on every supported host).
  public static func bytes<T: BitwiseCopyable>(of values: [T]) -> [UInt8] {
    values.withUnsafeBytes { Array($0) }
  }

  // MARK: - Files

  /// A failed file-system call: what was attempted and the system's reason.
  public struct IOError: Error, CustomStringConvertible, Sendable {
    /// What went wrong, e.g. "cannot create /x/y.tmp (No such file or directory)".
    public let reason: String
    /// The reason, one line.
    public var description: String { reason }
  }

  /// A file opened for writing with plain POSIX calls (no buffering: callers write large chunks).
  public final class FileWriter {
    private var descriptor: Int32
    /// The path the file was created at.
    public let path: String

    /// Creates a new file at `path`; fails if it already exists (`O_EXCL`).
    public init(creatingNew path: String) throws {
      self.path = path
      descriptor = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o666)
      guard descriptor >= 0 else { throw IOError(reason: "cannot create \(path) (\(ByteIO.systemError()))") }
    }

    /// Writes all of `bytes`, retrying short writes and interrupted calls.
    public func write(_ bytes: [UInt8]) throws {
      try bytes.withUnsafeBytes { raw in
        guard let start = raw.baseAddress else { return }
        try writeAll(start, byteCount: raw.count)
      }
    }

    /// Writes `byteCount` bytes of `buffer` starting at `byteOffset`.
    public func write(_ buffer: Buffer, byteOffset: Int = 0, byteCount: Int) throws {
      precondition(byteOffset >= 0 && byteCount >= 0 && byteOffset + byteCount <= buffer.byteCount)
      try writeAll(UnsafeRawPointer(buffer.base + byteOffset), byteCount: byteCount)
    }

    private func writeAll(_ start: UnsafeRawPointer, byteCount: Int) throws {
      guard descriptor >= 0 else { throw IOError(reason: "write to closed file \(path)") }
      var done = 0
      while done < byteCount {
        let n = posixWrite(descriptor, start + done, min(byteCount - done, 1 << 30))
        if n < 0 {
          if errno == EINTR { continue }
          throw IOError(reason: "cannot write \(path) (\(ByteIO.systemError()))")
        }
        if n == 0 { throw IOError(reason: "cannot write \(path) (no progress)") }
        done += n
      }
    }

    /// Flushes the file's data to stable storage (`fsync`).
    public func synchronize() throws {
      guard descriptor >= 0, fsync(descriptor) == 0 else {
        throw IOError(reason: "cannot sync \(path) (\(ByteIO.systemError()))")
      }
    }

    /// Closes the file; later writes throw. Closing twice is harmless.
    public func close() throws {
      guard descriptor >= 0 else { return }
      let result = posixClose(descriptor)
      descriptor = -1
      if result != 0 { throw IOError(reason: "cannot close \(path) (\(ByteIO.systemError()))") }
    }

    deinit {
      if descriptor >= 0 { _ = posixClose(descriptor) }
    }
  }

  /// Atomically renames `source` to `destination`, replacing it, then syncs the directory (best effort).
  public static func rename(_ source: String, to destination: String) throws {
    guard posixRename(source, destination) == 0 else {
      throw IOError(reason: "cannot rename \(source) to \(destination) (\(systemError()))")
    }
    let directory = destination.lastIndex(of: "/").map { String(destination[..<$0]) } ?? "."
    let fd = open(directory.isEmpty ? "/" : directory, O_RDONLY | O_CLOEXEC)
    if fd >= 0 {
      _ = fsync(fd)
      _ = posixClose(fd)
    }
  }

  /// Deletes a file, ignoring errors (used to clean up temporary files).
  public static func removeFile(_ path: String) {
    _ = unlink(path)
  }

  /// The current `errno` as text.
  static func systemError() -> String {
    String(cString: strerror(errno))
  }
}

// File-scope wrappers: inside `ByteIO` the names `write`, `close` and `rename` mean our own methods.

private func posixWrite(_ fd: Int32, _ start: UnsafeRawPointer, _ count: Int) -> Int { write(fd, start, count) }
private func posixClose(_ fd: Int32) -> Int32 { close(fd) }
private func posixRename(_ source: String, _ destination: String) -> Int32 { rename(source, destination) }

#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A read-only memory mapping of a whole file.
public final class MappedFile: @unchecked Sendable {
  /// The first byte of the mapping.
  public let base: UnsafeRawPointer
  /// The file's size in bytes.
  public let size: Int
  /// The path the mapping was made from.
  public let path: String

  /// An error opening or mapping a file.
  public struct MappingError: Error, CustomStringConvertible {
    /// The file involved.
    public let path: String
    /// What went wrong.
    public let reason: String
    public var description: String { "\(path): \(reason)" }
  }

  /// Maps `path` read-only.
  public init(path: String) throws {
    self.path = path
    let fd = open(path, O_RDONLY)
    guard fd >= 0 else {
      throw MappingError(path: path, reason: "cannot open (\(String(cString: strerror(errno))))")
    }
    defer { close(fd) }
    var info = stat()
    guard fstat(fd, &info) == 0 else {
      throw MappingError(path: path, reason: "cannot stat (\(String(cString: strerror(errno))))")
    }
    size = Int(info.st_size)
    if size == 0 {
      base = UnsafeRawPointer(UnsafeMutableRawPointer.allocate(byteCount: 1, alignment: 64))
      return
    }
    let p = mmap(nil, size, PROT_READ, MAP_PRIVATE, fd, 0)
    guard let p, p != MAP_FAILED else {
      throw MappingError(path: path, reason: "cannot mmap (\(String(cString: strerror(errno))))")
    }
    base = UnsafeRawPointer(p)
  }

  /// Copies `count` bytes starting at `offset`.
  public func bytes(offset: Int, count: Int) -> [UInt8] {
    precondition(offset >= 0 && count >= 0 && offset + count <= size)
    return Array(UnsafeRawBufferPointer(start: base + offset, count: count))
  }

  deinit {
    if size == 0 {
      UnsafeMutableRawPointer(mutating: base).deallocate()
    } else {
      munmap(UnsafeMutableRawPointer(mutating: base), size)
    }
  }
}

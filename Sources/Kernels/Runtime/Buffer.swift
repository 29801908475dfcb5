#if canImport(Glibc)
  import Glibc
#elseif canImport(Darwin)
  import Darwin
#endif

/// A block of raw memory that backs one or more tensors.
///
/// Buffers come from a size-bucketed cache so that a training loop that allocates the same
/// activation shapes every step reuses warm pages instead of faulting in fresh ones.
/// A buffer may also wrap a read-only memory mapping (see ``MappedFile``), in which case
/// writing to it is a programming error.
public final class Buffer: @unchecked Sendable {
  /// The number of usable bytes.
  public let byteCount: Int
  /// The start of the memory, 64-byte aligned for owned buffers.
  @usableFromInline let base: UnsafeMutableRawPointer
  private let owner: Owner

  private enum Owner {
    case pool(capacity: Int)
    case mapping(MappedFile)
  }

  /// Allocates a buffer of `byteCount` bytes, optionally zero-filled.
  public init(byteCount: Int, zeroed: Bool = false) {
    precondition(byteCount >= 0, "negative buffer size")
    let (pointer, capacity) = BufferPool.shared.take(byteCount: byteCount)
    self.byteCount = byteCount
    self.base = pointer
    self.owner = .pool(capacity: capacity)
    if zeroed && byteCount > 0 {
      Parallel.forChunks(count: byteCount, grain: 1 << 20) { range in
        (pointer + range.lowerBound).initializeMemory(as: UInt8.self, repeating: 0, count: range.count)
      }
    }
  }

  /// Wraps `byteCount` bytes of a mapped file starting at `byteOffset` without copying.
  public init(mapping file: MappedFile, byteOffset: Int, byteCount: Int) {
    precondition(byteOffset >= 0 && byteOffset + byteCount <= file.size, "mapping out of range")
    self.byteCount = byteCount
    self.base = UnsafeMutableRawPointer(mutating: file.base + byteOffset)
    self.owner = .mapping(file)
  }

  /// Whether the memory is a read-only file mapping.
  public var isMapped: Bool {
    if case .mapping = owner { return true }
    return false
  }

  deinit {
    if case .pool(let capacity) = owner {
      BufferPool.shared.give(base, capacity: capacity)
    }
  }

  /// Typed pointer to element `index` (in units of `T`).
  @inlinable
  public func pointer<T>(as _: T.Type, at index: Int = 0) -> UnsafeMutablePointer<T> {
    base.assumingMemoryBound(to: T.self) + index
  }

  /// Copies `count` elements of type `T` out of the buffer.
  public func read<T>(as _: T.Type, offset: Int = 0, count: Int) -> [T] {
    precondition(offset >= 0 && (offset + count) * MemoryLayout<T>.stride <= byteCount)
    return Array(UnsafeBufferPointer(start: pointer(as: T.self, at: offset), count: count))
  }

  /// Copies `values` into the buffer starting at element `offset`.
  public func write<T>(_ values: [T], offset: Int = 0) {
    precondition(!isMapped, "write to a mapped buffer")
    precondition(offset >= 0 && (offset + values.count) * MemoryLayout<T>.stride <= byteCount)
    values.withUnsafeBufferPointer { src in
      guard let s = src.baseAddress else { return }
      pointer(as: T.self, at: offset).update(from: s, count: values.count)
    }
  }

  /// Copies raw bytes from another buffer.
  public func copyBytes(from source: Buffer, sourceOffset: Int, destinationOffset: Int, byteCount: Int) {
    precondition(sourceOffset + byteCount <= source.byteCount && destinationOffset + byteCount <= self.byteCount)
    (base + destinationOffset).copyMemory(from: source.base + sourceOffset, byteCount: byteCount)
  }

  /// Copies raw bytes into a byte array (for serialisation).
  public func bytes(offset: Int = 0, count: Int) -> [UInt8] {
    read(as: UInt8.self, offset: offset, count: count)
  }
}

/// A cache of freed allocations, bucketed by rounded size.
final class BufferPool: @unchecked Sendable {
  static let shared = BufferPool()

  private var lock = pthread_mutex_t()
  private var free: [Int: [UnsafeMutableRawPointer]] = [:]
  private var cachedBytes = 0
  /// Upper bound on the bytes kept for reuse.
  var limit = 4 << 30

  init() { pthread_mutex_init(&lock, nil) }

  /// Rounds a request up to its bucket: 64-byte steps when small, quarter powers of two when large.
  static func capacity(for byteCount: Int) -> Int {
    if byteCount <= 4096 { return max(64, (byteCount + 63) & ~63) }
    let high = Int.bitWidth - 1 - (byteCount - 1).leadingZeroBitCount  // floor(log2(n - 1))
    let step = 1 << (high - 2)
    return (byteCount + step - 1) / step * step
  }

  func take(byteCount: Int) -> (UnsafeMutableRawPointer, Int) {
    let capacity = Self.capacity(for: byteCount)
    pthread_mutex_lock(&lock)
    if var list = free[capacity], let p = list.popLast() {
      free[capacity] = list
      cachedBytes -= capacity
      pthread_mutex_unlock(&lock)
      return (p, capacity)
    }
    pthread_mutex_unlock(&lock)
    return (UnsafeMutableRawPointer.allocate(byteCount: capacity, alignment: 64), capacity)
  }

  func give(_ pointer: UnsafeMutableRawPointer, capacity: Int) {
    pthread_mutex_lock(&lock)
    if cachedBytes + capacity <= limit {
      free[capacity, default: []].append(pointer)
      cachedBytes += capacity
      pthread_mutex_unlock(&lock)
    } else {
      pthread_mutex_unlock(&lock)
      pointer.deallocate()
    }
  }

  /// Frees every cached allocation.
  func trim() {
    pthread_mutex_lock(&lock)
    let lists = free
    free = [:]
    cachedBytes = 0
    pthread_mutex_unlock(&lock)
    for list in lists.values { for p in list { p.deallocate() } }
  }
}

import Foundation

/// One allocation a size implies: the product of named sizes (keys of a config, command-line options) and a
/// constant, times the bytes of an element. Used to refuse sizes that cannot fit before anything is allocated.
public struct MemoryTerm: Sendable {
  /// What the memory holds, e.g. "the token embedding".
  public var what: String
  /// The sizes multiplied, by name (e.g. `("vocab_size", 32000)`).
  public var factors: [Factor]
  /// A constant factor (e.g. 3 for three projections).
  public var multiplier: Int
  /// Bytes per element.
  public var elementBytes: Int

  /// A named size.
  public struct Factor: Sendable {
    /// The key or option the size comes from.
    public var name: String
    /// The size.
    public var value: Int

    /// A size `value` named `name`.
    public init(_ name: String, _ value: Int) {
      self.name = name
      self.value = value
    }
  }

  /// A term of `factors` × `multiplier` elements of `elementBytes` bytes.
  public init(_ what: String, _ factors: [Factor], multiplier: Int = 1, elementBytes: Int = 4) {
    self.what = what
    self.factors = factors
    self.multiplier = multiplier
    self.elementBytes = elementBytes
  }

  /// The bytes, in Double so that no product of sizes can overflow; 0 when a size is not positive (such a
  /// size is the validation's to refuse, not the memory's).
  public var bytes: Double {
    guard factors.allSatisfy({ $0.value > 0 }) else { return 0 }
    return factors.reduce(Double(multiplier) * Double(elementBytes)) { $0 * Double($1.value) }
  }

  /// "the token embedding (vocab_size 32000 × hidden_size 4096)".
  public var description: String {
    let sizes = factors.map { "\($0.name) \($0.value)" } + (multiplier == 1 ? [] : ["\(multiplier)"])
    return "\(what) (\(sizes.joined(separator: " × ")))"
  }
}

/// The machine's memory, against which sizes read from files and the command line are checked before they
/// are allocated: a size that could never fit is one clear line instead of a failed allocation or a trap.
public enum MemoryBudget {
  /// Physical memory in bytes (`ProcessInfo.physicalMemory`).
  public static var physicalBytes: Double { Double(ProcessInfo.processInfo.physicalMemory) }

  /// ", more than the 23.5 GiB of physical memory" when `bytes` exceed physical memory, else nil.
  public static func excess(_ bytes: Double) -> String? {
    guard !(bytes <= physicalBytes) else { return nil }
    return ", more than the \(describe(physicalBytes)) of physical memory"
  }

  /// One line naming the first term that alone would exceed physical memory (its sizes by name, the bytes,
  /// the limit), or else, when the terms together would, the total and its largest term; nil when they fit.
  /// `unit` says what the bytes hold ("float32 weights"), `whole` what the terms make up.
  public static func problem(_ terms: [MemoryTerm], as unit: String, whole: String = "the model") -> String? {
    for term in terms {
      if let excess = excess(term.bytes) {
        return "\(term.description) would take \(describe(term.bytes)) as \(unit)\(excess)"
      }
    }
    let total = terms.reduce(0) { $0 + $1.bytes }
    guard let excess = excess(total), let largest = terms.max(by: { $0.bytes < $1.bytes }) else { return nil }
    return "\(whole) would take \(describe(total)) as \(unit) in all (the largest part: \(largest.description), "
      + "\(describe(largest.bytes)))\(excess)"
  }

  /// Bytes with a binary unit: "512 B", "3.2 KiB", … "7.0 EiB", and beyond in EiB.
  public static func describe(_ bytes: Double) -> String {
    let units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB", "EiB"]
    var value = bytes
    var unit = 0
    while value >= 1024 && unit < units.count - 1 {
      value /= 1024
      unit += 1
    }
    if unit == 0 { return "\(Int(value)) B" }
    return String(format: value < 1e6 ? "%.1f" : "%.3g", value) + " " + units[unit]
  }
}

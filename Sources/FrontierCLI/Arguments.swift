/// A command-line mistake: printed as one line, exit status 2.
struct UsageError: Error, CustomStringConvertible {
  let message: String
  var description: String { message }
}

/// One option a command accepts.
struct OptionSpec {
  /// Long name without dashes.
  let name: String
  /// Placeholder for the value, or nil for a flag.
  let value: String?
  /// One-line help.
  let help: String
  /// Default shown in help.
  let defaultValue: String?
  /// Whether the option may stand alone as a flag or take a value (`--resume` or `--resume PATH`).
  let valueIsOptional: Bool

  init(
    _ name: String, value: String? = nil, optionalValue: Bool = false, default defaultValue: String? = nil,
    _ help: String
  ) {
    self.name = name
    self.value = value
    self.help = help
    self.defaultValue = defaultValue
    self.valueIsOptional = optionalValue && value != nil
  }
}

/// Parsed options and positional arguments of one command.
struct ParsedArguments {
  let command: String
  var values: [String: String] = [:]
  var flags: Set<String> = []
  var positional: [String] = []

  /// Parses `args` against `specs`; `--name value`, `--name=value` and flags.
  init(command: String, args: [String], specs: [OptionSpec], allowsPositional: Bool) throws {
    self.command = command
    let byName = Dictionary(uniqueKeysWithValues: specs.map { ($0.name, $0) })
    var i = 0
    while i < args.count {
      let arg = args[i]
      i += 1
      guard arg.hasPrefix("--"), arg.count > 2 else {
        guard allowsPositional else {
          throw UsageError(
            message: "frontier \(command): unexpected argument '\(arg)' (see frontier \(command) --help)")
        }
        positional.append(arg)
        continue
      }
      var name = String(arg.dropFirst(2))
      var inline: String?
      if let eq = name.firstIndex(of: "=") {
        inline = String(name[name.index(after: eq)...])
        name = String(name[..<eq])
      }
      guard let spec = byName[name] else {
        throw UsageError(message: "frontier \(command): unknown option --\(name) (see frontier \(command) --help)")
      }
      if spec.value == nil {
        guard inline == nil else {
          throw UsageError(message: "frontier \(command): --\(name) takes no value")
        }
        flags.insert(name)
      } else if spec.valueIsOptional {
        // A flag, with the next argument as its value unless that is another option.
        flags.insert(name)
        if let inline {
          values[name] = inline
        } else if i < args.count, !args[i].hasPrefix("--") {
          values[name] = args[i]
          i += 1
        }
      } else if let inline {
        values[name] = inline
      } else {
        guard i < args.count else {
          throw UsageError(message: "frontier \(command): --\(name) needs a value \(spec.value!)")
        }
        values[name] = args[i]
        i += 1
      }
    }
  }

  func flag(_ name: String) -> Bool { flags.contains(name) }

  func string(_ name: String) -> String? { values[name] }

  func int(_ name: String, default d: Int) throws -> Int {
    guard let s = values[name] else { return d }
    guard let v = Int(s) else {
      throw UsageError(message: "frontier \(command): --\(name) needs an integer, got '\(s)'")
    }
    return v
  }

  func float(_ name: String, default d: Float) throws -> Float {
    guard let s = values[name] else { return d }
    guard let v = Float(s), v.isFinite else {
      throw UsageError(message: "frontier \(command): --\(name) needs a number, got '\(s)'")
    }
    return v
  }
}

/// A `frontier` subcommand.
protocol Command {
  static var name: String { get }
  static var summary: String { get }
  static var options: [OptionSpec] { get }
  static var usage: String { get }
  static var allowsPositional: Bool { get }
  static func run(_ args: ParsedArguments) throws
}

extension Command {
  static var allowsPositional: Bool { false }
  static var usage: String { "frontier \(name) [options]" }

  /// Generated help text.
  static var help: String {
    var lines = ["\(summary)", "", "usage: \(usage)", ""]
    if !options.isEmpty { lines.append("options:") }
    for o in options + [OptionSpec("help", "show this help")] {
      var left = "  --\(o.name)"
      if let v = o.value { left += o.valueIsOptional ? " [\(v)]" : " \(v)" }
      let pad = String(repeating: " ", count: max(2, 28 - left.count))
      lines.append(left + pad + o.help + (o.defaultValue.map { " (default: \($0))" } ?? ""))
    }
    return lines.joined(separator: "\n")
  }
}

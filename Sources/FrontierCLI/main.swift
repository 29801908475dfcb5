import Foundation
import Kernels

/// Every `frontier` subcommand.
nonisolated(unsafe) let commands: [any Command.Type] = [
  DemoCommand.self, BenchCommand.self, PrepareCommand.self, TrainCommand.self, FetchCommand.self, InspectCommand.self,
  MPISelfTestCommand.self, TokenizeCommand.self, GenerateCommand.self, EvalCommand.self, ConvertCommand.self,
  EmbedCommand.self,
  InheritCommand.self, ReproduceCommand.self, TriForceCommand.self,
]

func printTopLevelHelp() {
  print("frontier: ten ML research systems on one Swift tensor/autograd engine\n")
  print("usage: frontier <command> [options]\n\ncommands:")
  for c in commands { print("  \(c.name.padding(toLength: 12, withPad: " ", startingAt: 0))\(c.summary)") }
  print("\nRun `frontier <command> --help` for a command's options.")
}

func main() -> Int32 {
  BLASRuntime.ensureOptimizedKernels()
  let argv = Array(CommandLine.arguments.dropFirst())
  guard let first = argv.first else {
    printTopLevelHelp()
    return 2
  }
  if first == "--help" || first == "-h" || first == "help" {
    printTopLevelHelp()
    return 0
  }
  guard let command = commands.first(where: { $0.name == first }) else {
    FileHandle.standardError.write("frontier: unknown command '\(first)' (see frontier --help)\n".data(using: .utf8)!)
    return 2
  }
  let rest = Array(argv.dropFirst())
  if rest.contains("--help") || rest.contains("-h") {
    print(command.help)
    return 0
  }
  do {
    let parsed = try ParsedArguments(
      command: command.name, args: rest, specs: command.options, allowsPositional: command.allowsPositional)
    try command.run(parsed)
    return 0
  } catch let error as UsageError {
    FileHandle.standardError.write("\(error.message)\n".data(using: .utf8)!)
    return 2
  } catch {
    FileHandle.standardError.write("frontier \(command.name): \(error)\n".data(using: .utf8)!)
    return 1
  }
}

exit(main())

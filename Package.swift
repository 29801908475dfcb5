// swift-tools-version:6.0
import PackageDescription

/// Release builds must target the CPU: without it Swift SIMD lowers to scalar libcalls
/// and runs about 100x slower (see ../shared/design/toolchain-notes.md).
let cpuFlags: [SwiftSetting] = [
  .unsafeFlags(["-Xcc", "-march=native"], .when(platforms: [.linux])),
  .unsafeFlags(["-Xcc", "-mcpu=native"], .when(platforms: [.macOS])),
]

/// Numeric targets are optimised even in debug builds so that debug tests stay usable.
let numericFlags: [SwiftSetting] =
  cpuFlags + [
    .unsafeFlags(["-O"], .when(configuration: .debug))
  ]

let package = Package(
  name: "Frontier",
  platforms: [.macOS(.v14)],
  products: [
    .executable(name: "frontier", targets: ["FrontierCLI"]),
    .library(
      name: "Frontier",
      targets: [
        "Kernels", "TensorCore", "NN", "Checkpoints", "LMCore", "Models", "Distributed", "Generation", "Tokenizers",
        "Data", "Training",
      ]),
  ],
  targets: [
    .systemLibrary(
      name: "CBLAS", pkgConfig: "openblas",
      providers: [.apt(["libopenblas-dev"])]),
    .systemLibrary(
      name: "CMPI", pkgConfig: "ompi-c",
      providers: [.apt(["libopenmpi-dev", "openmpi-bin"])]),
    // Header only: the software prefetch instruction, which Swift cannot name.
    .systemLibrary(name: "CPrefetch"),
    // Header only: q8_0 integer kernels (AVX2, AVX-512 VNNI), chosen at run time.
    .systemLibrary(name: "CQuant"),
    .target(name: "Kernels", dependencies: ["CBLAS", "CPrefetch", "CQuant"], swiftSettings: numericFlags),
    .target(name: "TensorCore", dependencies: ["Kernels"], swiftSettings: numericFlags),
    .target(name: "NN", dependencies: ["TensorCore"], swiftSettings: numericFlags),
    .target(name: "LMCore", dependencies: ["TensorCore", "NN", "Checkpoints"], swiftSettings: numericFlags),
    .target(name: "Models", dependencies: ["TensorCore", "NN", "LMCore", "Checkpoints"], swiftSettings: numericFlags),
    .target(name: "Distributed", dependencies: ["CMPI"], swiftSettings: cpuFlags),
    .target(name: "Generation", dependencies: ["TensorCore", "LMCore", "Tokenizers"], swiftSettings: numericFlags),
    .target(name: "Checkpoints", dependencies: ["Kernels", "TensorCore", "NN"], swiftSettings: cpuFlags),
    .target(name: "Tokenizers", dependencies: [], swiftSettings: cpuFlags),
    .target(name: "Reports", dependencies: [], swiftSettings: cpuFlags),
    .target(name: "Data", dependencies: ["TensorCore", "Kernels"], swiftSettings: cpuFlags),
    .target(
      name: "Training",
      dependencies: ["TensorCore", "NN", "Checkpoints", "LMCore", "Data", "Distributed", "Reports"],
      swiftSettings: cpuFlags),
    .target(
      name: "Inheritune",
      dependencies: [
        "TensorCore", "NN", "LMCore", "Models", "Checkpoints", "Data", "Training", "Tokenizers", "Reports",
      ],
      path: "Sources/Systems/Inheritune", exclude: ["README.md"], swiftSettings: numericFlags),
    .target(
      name: "TriForce",
      dependencies: ["TensorCore", "LMCore", "Models", "Generation", "Reports", "Tokenizers", "Data"],
      path: "Sources/Systems/TriForce", exclude: ["README.md"], swiftSettings: cpuFlags),
    .target(
      name: "TransformerFAM",
      dependencies: [
        "TensorCore", "NN", "Checkpoints", "LMCore", "Models", "Generation", "Tokenizers", "Reports", "Data",
      ],
      path: "Sources/Systems/TransformerFAM", exclude: ["README.md"], swiftSettings: numericFlags),
    .target(name: "TestSupport", dependencies: ["TensorCore", "NN"], swiftSettings: cpuFlags),
    .executableTarget(
      name: "FrontierCLI",
      dependencies: [
        "Kernels", "TensorCore", "NN", "Checkpoints", "LMCore", "Models", "Distributed", "Generation", "Tokenizers",
        "Data", "Training", "Reports", "Inheritune", "TriForce", "TransformerFAM",
      ],
      swiftSettings: cpuFlags),
    .testTarget(
      name: "CheckpointsTests", dependencies: ["Checkpoints", "TensorCore", "NN", "Models", "TestSupport"],
      swiftSettings: cpuFlags),
    .testTarget(
      name: "TensorCoreTests", dependencies: ["TensorCore", "TestSupport"], swiftSettings: cpuFlags),
    .testTarget(
      name: "GenerationTests", dependencies: ["Generation", "Kernels", "LMCore", "Models", "TestSupport"],
      swiftSettings: cpuFlags
    ),
    .testTarget(name: "DataTests", dependencies: ["Data", "TensorCore", "TestSupport"], swiftSettings: cpuFlags),
    .testTarget(
      name: "TrainingTests",
      dependencies: [
        "Training", "Data", "Models", "NN", "TensorCore", "Distributed", "Checkpoints", "LMCore", "Reports",
        "TestSupport",
      ],
      swiftSettings: cpuFlags),
    .testTarget(name: "DistributedTests", dependencies: ["Distributed"], swiftSettings: cpuFlags),
    .testTarget(
      name: "CLITests",
      dependencies: [
        "Checkpoints", "Data", "Generation", "Models", "NN", "TensorCore", "Tokenizers", "Training", "TestSupport",
      ],
      swiftSettings: cpuFlags),
    .testTarget(name: "ModelsTests", dependencies: ["Models", "TestSupport"], swiftSettings: cpuFlags),
    .testTarget(name: "TokenizersTests", dependencies: ["Tokenizers", "TestSupport"], swiftSettings: cpuFlags),
    .testTarget(name: "ReportsTests", dependencies: ["Reports"], swiftSettings: cpuFlags),
    .testTarget(name: "NNTests", dependencies: ["NN", "TestSupport"], swiftSettings: cpuFlags),
    .testTarget(
      name: "InherituneTests",
      dependencies: ["Inheritune", "Models", "NN", "TensorCore", "LMCore", "Data", "Training", "TestSupport"],
      swiftSettings: cpuFlags),
    .testTarget(
      name: "TriForceTests", dependencies: ["TriForce", "Generation", "LMCore", "Models", "TestSupport"],
      swiftSettings: cpuFlags),
    .testTarget(
      name: "TransformerFAMTests", dependencies: ["TransformerFAM", "Models", "NN", "TensorCore", "TestSupport"],
      swiftSettings: cpuFlags),
    .testTarget(
      name: "KernelsTests", dependencies: ["Kernels"], swiftSettings: cpuFlags),
  ]
)

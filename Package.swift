// swift-tools-version:6.0
// vgrt: text-to-video generation on an ordinary CPU, and the post-training tools that make its models.
//
// Read top to bottom: public products, then the runtime's targets (Sources/), the post-training
// tools (Tools/), benchmarks, and tests. System libraries come in through small module-map targets
// found with pkg-config; SIMD kernels live in one C target whose functions carry per-function
// `target("avx2,fma,f16c")` attributes and are picked at run time, so downstream SwiftPM users need
// no unsafe flags.
import PackageDescription

let package = Package(
    name: "vgrt",
    products: [
        // The compute core shared by the runtime and the tools: tensors, thread pool, kernels.
        .library(name: "VGCore", targets: ["VGCore"]),
        // Kernel benchmark: GFLOP/s of sgemm / int8 / int4 GEMM and attention (docs/BENCHMARKS.md).
        .executable(name: "vgbench", targets: ["vgbench"]),
        // BEGIN products (issue 3: ShapeWorld / ShapeBench / video I/O)
        // Video files out (mp4 / Y4M / PNG) and in (decode, resize, sample), shared with the runtime.
        .library(name: "VGVideo", targets: ["VGVideo"]),
        // The procedural video world with captions, degradations, shards and manifests.
        .library(name: "ShapeWorld", targets: ["ShapeWorld"]),
        // The analytic judge: attribute correctness, temporal and visual-quality scores, GSB.
        .library(name: "ShapeBench", targets: ["ShapeBench"]),
        // The post-training CLI: render / score / gsb / bench now; pretrain, SFT, GRPO later.
        .executable(name: "vgtrain", targets: ["vgtrain"]),
        // END products
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
    ],
    targets: [
        // MARK: System libraries (Debian packages; Scripts/install-deps.sh installs them)
        .systemLibrary(name: "CBLAS", path: "Sources/CBLAS", pkgConfig: "openblas",
                       providers: [.apt(["libopenblas-dev"])]),
        .systemLibrary(name: "CZstd", path: "Sources/CZstd", pkgConfig: "libzstd",
                       providers: [.apt(["libzstd-dev"])]),
        .systemLibrary(name: "CFFmpeg", path: "Sources/CFFmpeg", pkgConfig: "libavformat",
                       providers: [.apt(["libavcodec-dev", "libavformat-dev", "libswscale-dev", "libavutil-dev"])]),

        // MARK: Runtime
        // SIMD kernels: AVX2+FMA+F16C and NEON paths beside a portable C path, chosen at run time.
        .target(name: "CVGKernels", path: "Sources/CVGKernels"),
        .target(name: "VGCore", dependencies: ["CVGKernels", "CBLAS"], path: "Sources/VGCore"),

        // BEGIN targets (issue 3: ShapeWorld / ShapeBench / video I/O)
        .target(name: "VGVideo", dependencies: ["CFFmpeg"], path: "Sources/VGVideo"),
        .target(name: "ShapeWorld", dependencies: ["VGVideo", "CZstd"], path: "Tools/ShapeWorld"),
        .target(name: "ShapeBench", dependencies: ["ShapeWorld"], path: "Tools/ShapeBench",
                exclude: ["Resources"]),
        .executableTarget(name: "vgtrain",
                          dependencies: ["ShapeWorld", "ShapeBench", "VGVideo",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Tools/vgtrain"),
        // END targets

        // MARK: Benchmarks
        .executableTarget(name: "vgbench", dependencies: ["VGCore", "CBLAS"], path: "Benchmarks/KernelBench"),

        // MARK: Tests
        .testTarget(name: "VGCoreTests", dependencies: ["VGCore", "CVGKernels"], path: "Tests/VGCoreTests"),
        // BEGIN tests (issue 3)
        .testTarget(name: "VGVideoTests", dependencies: ["VGVideo"], path: "Tests/VGVideoTests"),
        .testTarget(name: "ShapeWorldTests", dependencies: ["ShapeWorld", "VGVideo"], path: "Tests/ShapeWorldTests"),
        .testTarget(name: "ShapeBenchTests", dependencies: ["ShapeBench", "ShapeWorld"], path: "Tests/ShapeBenchTests"),
        // END tests
    ]
)

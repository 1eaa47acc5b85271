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
        // libvgrt: the runtime with the C ABI of Include/vgrt.h, as a shared and a static library.
        .library(name: "vgrt", type: .dynamic, targets: ["vgrt"]),
        .library(name: "vgrt-static", type: .static, targets: ["vgrt"]),
        // The vgrt command line (installed as `vgrt`; the product name differs from the library's).
        .executable(name: "vgrt-cli", targets: ["vgrt-cli"]),
        // Example: the Swift API from a program (Examples/swift-generate).
        .executable(name: "swift-generate", targets: ["swift-generate"]),
        // The runtime's Swift API.
        .library(name: "VGRuntime", targets: ["VGRuntime"]),
        // vgpack: safetensors -> .vgpk, inspect, verify.
        .executable(name: "vgpack", targets: ["vgpack"]),
        // Kernel benchmark: GFLOP/s of sgemm / int8 / int4 GEMM and attention (docs/BENCHMARKS.md).
        .executable(name: "vgbench", targets: ["vgbench"]),
        // BEGIN products (formats: safetensors, tokenizer)
        // Hugging Face safetensors, read (validated, never trapping) and written (atomic, deterministic).
        .library(name: "VGFormat", targets: ["VGFormat"]),
        // Byte-level BPE tokenizer: training, encoding, decoding, JSON serialisation.
        .library(name: "VGText", targets: ["VGText"]),
        // END products (formats)
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
        // The model's forward pass (text encoder + video DiT) and the flow-matching sampler.
        .target(name: "VGModel", dependencies: ["VGCore"], path: "Sources/VGModel"),
        // The runtime's Swift API: load a packed model, generate, save videos.
        .target(name: "VGRuntime", dependencies: ["VGModel", "VGPack", "VGText", "VGVideo", "VGCore"], path: "Sources/VGRuntime"),
        // The C ABI: plain-data parts in C (defaults, status strings) and the rest in Swift.
        .target(name: "CVGRT", path: "Sources/CVGRT"),
        .target(name: "vgrt", dependencies: ["CVGRT", "VGRuntime", "VGVideo"], path: "Sources/vgrt"),
        .executableTarget(name: "vgrt-cli", dependencies: ["VGRuntime", .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Sources/vgrt-cli"),
        // The packed model format (.vgpk): writer, validating reader, quantisation policy.
        .target(name: "VGPack", dependencies: ["VGModel", "VGCore", "VGFormat", "CZstd"], path: "Sources/VGPack"),

        // MARK: Post-training tools
        // Backward passes, optimisers and the training loop (autograd-free, llm.c style).
        .target(name: "VGTraining", dependencies: ["VGModel", "VGCore", "VGFormat", "VGText", "CBLAS"], path: "Tools/VGTraining"),

        .executableTarget(name: "vgpack", dependencies: ["VGPack", "VGCore", "VGFormat", "VGModel",
                                                        .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Tools/vgpack"),

        // BEGIN targets (formats: safetensors, tokenizer)
        .target(name: "VGFormat", dependencies: ["VGCore"], path: "Sources/VGFormat"),
        .target(name: "VGText", path: "Sources/VGText"),
        // END targets (formats)

        // BEGIN targets (issue 3: ShapeWorld / ShapeBench / video I/O)
        .target(name: "VGVideo", dependencies: ["CFFmpeg"], path: "Sources/VGVideo"),
        .target(name: "ShapeWorld", dependencies: ["VGVideo", "VGCore", "CZstd"], path: "Tools/ShapeWorld"),
        .target(name: "ShapeBench", dependencies: ["ShapeWorld"], path: "Tools/ShapeBench",
                exclude: ["Resources"]),
        .executableTarget(name: "vgtrain",
                          dependencies: ["ShapeWorld", "ShapeBench", "VGVideo", "VGTraining", "VGModel", "VGCore", "VGPack",
                                         .product(name: "ArgumentParser", package: "swift-argument-parser")],
                          path: "Tools/vgtrain"),
        // END targets

        // MARK: Examples
        .executableTarget(name: "swift-generate", dependencies: ["VGRuntime"], path: "Examples/swift-generate"),

        // MARK: Benchmarks
        .executableTarget(name: "vgbench", dependencies: ["VGCore", "VGModel", "VGTraining", "VGPack", "VGRuntime", "VGFormat", "CBLAS", "CZstd"], path: "Benchmarks/KernelBench"),

        // MARK: Tests
        .testTarget(name: "VGCoreTests", dependencies: ["VGCore", "CVGKernels"], path: "Tests/VGCoreTests"),
        .testTarget(name: "VGModelTests", dependencies: ["VGModel", "VGCore"], path: "Tests/VGModelTests"),
        .testTarget(name: "VGPackTests", dependencies: ["VGPack", "VGModel", "VGCore", "VGFormat", "VGTestSupport", "VGRuntime", "VGText"], path: "Tests/VGPackTests"),
        // Subprocess and Python-venv helpers shared by the interop tests.
        .target(name: "VGTestSupport", path: "Tests/VGTestSupport"),
        .testTarget(name: "VGTrainingTests", dependencies: ["VGTraining", "VGModel", "VGCore", "VGFormat", "ShapeWorld", "ShapeBench", "VGText", "VGVideo"], path: "Tests/VGTrainingTests"),
        // BEGIN tests (formats)
        .testTarget(name: "VGFormatTests", dependencies: ["VGFormat", "VGCore", "VGTestSupport"], path: "Tests/VGFormatTests"),
        .testTarget(name: "VGTextTests", dependencies: ["VGText"], path: "Tests/VGTextTests"),
        // END tests (formats)
        // BEGIN tests (issue 3)
        .testTarget(name: "VGVideoTests", dependencies: ["VGVideo"], path: "Tests/VGVideoTests"),
        .testTarget(name: "ShapeWorldTests", dependencies: ["ShapeWorld", "VGVideo"], path: "Tests/ShapeWorldTests"),
        .testTarget(name: "ShapeBenchTests", dependencies: ["ShapeBench", "ShapeWorld"], path: "Tests/ShapeBenchTests"),
        // END tests
    ]
)

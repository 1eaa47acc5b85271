// vgbench: kernel throughput of the compute core, the numbers in docs/BENCHMARKS.md.
//
//   swift run -c release vgbench            # full run (about a minute)
//   swift run -c release vgbench --quick    # fewer repetitions
//
// Every figure is the median of repeated timed runs, printed as GFLOP/s counting a multiply-add
// as 2 operations. Ratios are computed within this one run: the machines are shared and noisy.
import CBLAS
import CZstd
import Foundation
import VGCore
import VGModel
import VGTraining
import VGPack
import VGRuntime
import VGFormat

let args = CommandLine.arguments
let usage = """
    usage: vgbench [--quick] [--no-train] [--no-pack] [--pack-weights <model.safetensors>] [--hash]
                   [--runtime <model.vgpk>] [--train-weights <model.safetensors>]
      --quick            fewer repetitions
      --no-train         skip the training-step tables
      --no-pack          skip the packed-model tables
      --pack-weights M   pack these trained weights (not Gaussian ones) in the packed-model tables
      --hash             xxHash64 throughput
      --runtime M        end-to-end generation with a packed model (load, steps, cancel latency)
      --train-weights M  time the training step at this checkpoint's config, from its weights
                         (e.g. the shipped base's latent config) instead of the default config
    """
/// Flags and the options that take a value; anything else is refused before any timing starts.
let flags: Set<String> = ["--quick", "--no-train", "--no-pack", "--hash"]
let valued: Set<String> = ["--pack-weights", "--runtime", "--train-weights"]
do {
    var i = 1
    while i < args.count {
        let a = args[i]
        if a == "--help" || a == "-h" { print(usage); exit(0) }
        if valued.contains(a) {
            guard i + 1 < args.count, !args[i + 1].hasPrefix("--") else {
                FileHandle.standardError.write(Data("vgbench: \(a) needs a value\n\(usage)\n".utf8)); exit(2)
            }
            i += 2; continue
        }
        guard flags.contains(a) else {
            FileHandle.standardError.write(Data("vgbench: unknown argument '\(a)'\n\(usage)\n".utf8)); exit(2)
        }
        i += 1
    }
}
// The model files are opened before any timing: a wrong path or a file that is not a model is a
// clear error (exit 2), not a crash after minutes of GEMM tables. The checkpoints stay loaded for the
// tables that use them.
var checkpoints: [String: (ModelConfig, ParameterSet)] = [:]
for option in ["--pack-weights", "--train-weights", "--runtime"] {
    guard let i = args.firstIndex(of: option), i + 1 < args.count else { continue }
    do {
        if option == "--runtime" { _ = try LoadedModel(path: args[i + 1], threads: 1) }
        else { checkpoints[option] = try TrainingCheckpoint.loadWeights(try SafeTensorsFile(contentsOf: URL(fileURLWithPath: args[i + 1]))) }
    } catch {
        FileHandle.standardError.write(Data("vgbench: \(option) \(args[i + 1]): \(error)\n".utf8)); exit(2)
    }
}
let quick = args.contains("--quick")
let minSeconds = quick ? 0.15 : 0.5

func now() -> Double {
    var ts = timespec()
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return Double(ts.tv_sec) + Double(ts.tv_nsec) * 1e-9
}

/// Median seconds of one call of `body`, repeated for at least `minSeconds` (and at least 5 times).
func timeIt(_ body: () throws -> Void) rethrows -> Double {
    try body()   // warm-up: scratch buffers, caches, OpenBLAS buffers
    var times: [Double] = []
    let start = now()
    while times.count < 5 || now() - start < minSeconds {
        let t0 = now()
        try body()
        times.append(now() - t0)
        if times.count >= 200 { break }
    }
    times.sort()
    return times[times.count / 2]
}

func gaussian(_ n: Int, seed: UInt64) -> [Float] {
    var s = seed &* 0x9E3779B97F4A7C15 | 1
    func next() -> Double {
        s ^= s << 13; s ^= s >> 7; s ^= s << 17
        return (Double(s >> 11) + 0.5) / Double(1 << 53)
    }
    return (0..<n).map { _ in Float((-2 * log(next())).squareRoot() * cos(2 * .pi * next())) }
}

func pad(_ s: String, _ n: Int) -> String { s.count >= n ? s : s + String(repeating: " ", count: n - s.count) }
func fmt(_ x: Double, _ d: Int = 1) -> String { String(format: "%.\(d)f", x) }

print("vgbench — machine: \(ProcessInfo.processInfo.activeProcessorCount) cores, kernel path \(KernelPath.best.rawValue)")
print("")
print("## GEMM  y[M,N] = x[M,K] · W[N,K]ᵀ   (GFLOP/s, 2 ops per multiply-add)")
print("")
print("| M x K x N | threads | sgemm (OpenBLAS threads) | sgemm (vgrt pool) | int8 | int4 | int8 / sgemm | int4 / sgemm |")
print("|---|---|---|---|---|---|---|---|")
let shapes = [(512, 256, 1024), (512, 1024, 256), (2048, 384, 1536)]
for (m, k, n) in shapes {
    let xv = gaussian(m * k, seed: 1), wv = gaussian(n * k, seed: 2)
    let x = try Tensor(shape: [m, k], values: xv), w = try Tensor(shape: [n, k], values: wv)
    let y = try Tensor(zeros: [m, n])
    let q8 = WeightMatrix.q8(try Q8Matrix(quantizing: w)), q4 = WeightMatrix.q4(try Q4Matrix(quantizing: w))
    let flops = 2.0 * Double(m) * Double(k) * Double(n)
    for threads in [1, 2] {
        let ctx = try ComputeContext(threads: threads)
        // OpenBLAS's own threading, one call (what a program that just calls cblas_sgemm gets).
        openblas_set_num_threads(Int32(threads))
        let tBlas = timeIt {
            x.floats[0] += 1e-7
            cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, Int32(m), Int32(n), Int32(k), 1,
                        x.floats.baseAddress, Int32(k), w.floats.baseAddress, Int32(k), 0, y.floats.baseAddress, Int32(n))
        }
        openblas_set_num_threads(1)
        let tPool = try timeIt { x.floats[0] += 1e-7; try ctx.linear(x, .f32(w), into: y) }
        let t8 = try timeIt { x.floats[0] += 1e-7; try ctx.linear(x, q8, into: y) }
        let t4 = try timeIt { x.floats[0] += 1e-7; try ctx.linear(x, q4, into: y) }
        let best = min(tBlas, tPool)
        print("| \(m) x \(k) x \(n) | \(threads) | \(fmt(flops / tBlas / 1e9)) | \(fmt(flops / tPool / 1e9)) | \(fmt(flops / t8 / 1e9)) | \(fmt(flops / t4 / 1e9)) | \(fmt(best / t8, 2))x | \(fmt(best / t4, 2))x |")
    }
}

print("")
print("## Attention  (head dim 64, 4 heads; GFLOP/s counts 4·T²·Dh per head)")
print("")
print("| T | threads | flash (online softmax) ms | two sgemm calls ms (QKᵀ, PV; no softmax) | flash / sgemm time | flash GFLOP/s |")
print("|---|---|---|---|---|---|")
for t in [512, 2048] {
    let heads = 4, dh = 64, d = heads * dh
    let q = try Tensor(shape: [t, d], values: gaussian(t * d, seed: 3))
    let kt = try Tensor(shape: [t, d], values: gaussian(t * d, seed: 4))
    let v = try Tensor(shape: [t, d], values: gaussian(t * d, seed: 5))
    let out = try Tensor(zeros: [t, d])
    var scores = [Float](repeating: 0, count: t * t)
    var pv = [Float](repeating: 0, count: t * dh)
    let flops = 4.0 * Double(t) * Double(t) * Double(dh) * Double(heads)
    for threads in [1, 2] {
        let ctx = try ComputeContext(threads: threads)
        let tFlash = try timeIt { q.floats[0] += 1e-7; try ctx.attention(q: q, k: kt, v: v, heads: heads, into: out) }
        // The same products as plain sgemm calls on the materialised [T, T] score matrix, per head.
        let tGemm = try timeIt {
            q.floats[0] += 1e-7
            for h in 0..<heads {
                try scores.withUnsafeMutableBufferPointer { s in
                    try ctx.gemm(transA: false, transB: true, m: t, n: t, k: dh, alpha: 0.125,
                                 a: UnsafeBufferPointer(rebasing: UnsafeBufferPointer(q.floats)[(h * dh)...]), lda: d,
                                 b: UnsafeBufferPointer(rebasing: UnsafeBufferPointer(kt.floats)[(h * dh)...]), ldb: d,
                                 c: s, ldc: t)
                    try pv.withUnsafeMutableBufferPointer { o in
                        try ctx.gemm(transA: false, transB: false, m: t, n: dh, k: t, a: UnsafeBufferPointer(s), lda: t,
                                     b: UnsafeBufferPointer(rebasing: UnsafeBufferPointer(v.floats)[(h * dh)...]), ldb: d,
                                     c: o, ldc: dh)
                    }
                }
            }
        }
        print("| \(t) | \(threads) | \(fmt(tFlash * 1e3, 2)) | \(fmt(tGemm * 1e3, 2)) | \(fmt(tFlash / tGemm, 2))x | \(fmt(flops / tFlash / 1e9)) |")
    }
}

// MARK: - Training throughput (default model config)

/// Multiply-add FLOPs of one training step on one sample (forward + backward), counted from the
/// config: every linear 2·M·K·N forward and twice that backward (input and weight gradients);
/// self-attention 4·T²·D forward and 10·T²·D backward (recomputed scores, dV, dP, dQ, dK).
func trainingFlops(_ c: ModelConfig, textTokens l: Int) -> Double {
    let t = Double(c.tokens), d = Double(c.modelWidth), r = Double(c.mlpRatio), p = Double(c.patchValues)
    let lt = Double(l), dt = Double(c.textWidth), tf = Double(2 * c.timeFrequencies)
    var linear = 0.0, attention = 0.0
    linear += 2 * t * p * d * 2                                  // patch embed, final linear
    linear += Double(c.depth) * (2 * t * d * d * (3 + 1 + 1 + 1 + 2 * r) + 2 * lt * d * 2 * d)
    linear += Double(c.textDepth) * 2 * lt * dt * dt * (3 + 1 + 8) + 2 * lt * dt * d
    linear += 2 * (tf * d + d * d + dt * d) + Double(c.depth) * 2 * d * 6 * d
    attention += Double(c.depth) * (4 * t * t * d + 4 * t * lt * d) + Double(c.textDepth) * 4 * lt * lt * dt
    return 3 * linear + attention * (14.0 / 4.0)
}

if !args.contains("--no-train") {
    print("")
    let trainWeights = args.firstIndex(of: "--train-weights").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
    print("## Training step (" + (trainWeights.map { "config and weights of \($0)" } ?? "default config")
          + "; one sample per step, or a batch of 8 spread over 2 lanes)")
    print("")
    let loaded = checkpoints["--train-weights"]
    let c = loaded?.0 ?? ModelConfig()
    let textTokens = 16
    let flops = trainingFlops(c, textTokens: textTokens)
    print("config: \(c.frames)x\(c.height)x\(c.width)x\(c.channels) clip, \(c.tokens) tokens, D \(c.modelWidth), depth \(c.depth), " +
          "\(ParameterSet.layout(c).reduce(0) { $0 + $1.shape.reduce(1, *) }) parameters; \(fmt(flops / 1e9, 2)) GFLOP per sample")
    print("")
    print("| threads | samples/s | GFLOP/s | sgemm GFLOP/s (vgrt pool, 512x192x768) | share of sgemm |")
    print("|---|---|---|---|---|")
    // (threads, lanes): lanes > 1 run a batch of 8 as data-parallel single-threaded lanes.
    for (threads, lanes) in [(1, 1), (2, 1), (2, 2)] {
        let ctx = try ComputeContext(threads: threads)
        let params = try ParameterSet(config: c)
        try FlowMatchingTrainer.initialize(params, seed: 1)
        // Non-zero adaLN / final weights so every branch does real work (or the checkpoint's trained ones).
        var rng = SeededRandom(seed: 2)
        for n in params.names where n.contains("adaln") || n.hasPrefix("final.linear.weight") { rng.fillGaussian(try params.tensor(n).floats, scale: 0.02) }
        if let (_, trained) = loaded { for n in params.names { try params.set(n, from: try trained.tensor(n)) } }
        let trainer = try FlowMatchingTrainer(config: c, params: params, optimizer: OptimizerConfig(), context: ctx, seed: 3)
        let clip = try Tensor(zeros: [c.frames, c.height, c.width, c.channels]); rng.fillGaussian(clip.floats, scale: 0.5)
        let sample = TrainingSample(clip: clip, tokens: (0..<textTokens).map { Int32($0 % c.vocabSize) })
        try trainer.useLanes(lanes)
        let batch = lanes > 1 ? [TrainingSample](repeating: sample, count: 8) : [sample]
        let tStep = try timeIt { _ = try trainer.step(batch) } / Double(batch.count)
        let x = try Tensor(shape: [512, 192], values: gaussian(512 * 192, seed: 4)), w = try Tensor(shape: [768, 192], values: gaussian(768 * 192, seed: 5))
        let y = try Tensor(zeros: [512, 768])
        let tGemm = try timeIt { x.floats[0] += 1e-7; try ctx.linear(x, .f32(w), into: y) }
        let gemmRate = 2.0 * 512 * 192 * 768 / tGemm / 1e9, rate = flops / tStep / 1e9
        print("| \(threads)\(lanes > 1 ? " (\(lanes) lanes x 1)" : "") | \(fmt(1 / tStep, 2)) | \(fmt(rate)) | \(fmt(gemmRate)) | \(fmt(100 * rate / gemmRate))% |")
    }
}

// MARK: - Packed model files (.vgpk) at the default config

if !args.contains("--no-pack") {
    print("")
    let packWeights = args.firstIndex(of: "--pack-weights").flatMap { $0 + 1 < args.count ? args[$0 + 1] : nil }
    print("## Packed model (.vgpk), " + (packWeights.map { "weights of \($0)" } ?? "default config, Gaussian-initialised weights (std 0.02)"))
    print("")
    print("| type | file bytes | % of f32 | load ms (warm, 1 thread) | load ms (2 threads) | decode MB/s (1 thread, raw bytes) | zstd alone MB/s (same chunks) | decode / zstd alone | forward max abs err | forward rel err | 4-step clip PSNR dB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    let pool2 = try ThreadPool(threads: 2)
    var c = ModelConfig()
    var params = try ParameterSet(config: c)
    var prng = SeededRandom(seed: 11)
    for n in params.names { prng.fillGaussian(try params.tensor(n).floats, scale: n.hasSuffix(".bias") ? 0.01 : 0.02) }
    for n in params.names where n.hasSuffix("norm1.weight") || n.hasSuffix("norm2.weight") || n.hasSuffix("norm.weight") {
        try params.tensor(n).fill(1)
    }
    if let packed = checkpoints["--pack-weights"] { (c, params) = packed }
    let ctx = try ComputeContext(threads: 1)
    let clip = try Tensor(zeros: [c.frames, c.height, c.width, c.channels]); prng.fillGaussian(clip.floats)   // pixels, or a latent model's latents
    let tokens: [Int32] = [1, 40, 77, 300, 12, 9, 2]
    func forward(_ w: ModelWeights) throws -> [Float] {
        let m = try VideoDiT(weights: w), acts = try ModelActivations(config: c, saveForBackward: false)
        try m.encodeText(ctx, tokens: tokens, acts: acts)
        return try m.predict(ctx, noisy: clip, level: 0.6, acts: acts).toArray()
    }
    func sample(_ w: ModelWeights) throws -> [Float] {
        let s = try FlowSampler(model: try VideoDiT(weights: w), context: ctx, prompt: tokens, empty: [1, 2],
                                options: .init(steps: 4, guidance: 3, shift: 3, seed: 5))
        var last: [Float] = []
        for step in s { last = step.clip.toArray() }
        return last
    }
    let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vgbench-\(getpid())")
    try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
    defer { try? FileManager.default.removeItem(at: dir) }
    var reference: [Float] = [], refClip: [Float] = [], f32Size = 0
    for type in [VGPKType.f32, .f16, .q8, .q4] {
        var w = VGPKWriter(metadata: VGPKMetadata())
        try w.addModel(params, config: c, policy: QuantizationPolicy(quant: type))
        let url = dir.appendingPathComponent("m-\(type).vgpk")
        try w.write(to: url)
        let size = try FileManager.default.attributesOfItem(atPath: url.path)[.size] as! Int
        if type == .f32 { f32Size = size }
        var weights: ModelWeights?
        let tLoad = try timeIt { weights = try VGPKReader(contentsOf: url).modelWeights() }
        let tLoad2 = try timeIt { weights = try VGPKReader(contentsOf: url).modelWeights(pool: pool2) }
        let reader = try VGPKReader(contentsOf: url)
        let raw = reader.header.tensors.reduce(0) { $0 + $1.chunks.reduce(0) { $0 + Int($1.rawSize) } }
        let tDecode = try timeIt { try reader.verify() }
        // The same chunks through ZSTD_decompress alone (raw chunks copied): the ceiling of decoding,
        // with no checksum, no validation and no tensor allocation.
        let fileBytes = try Data(contentsOf: url)
        let chunkBuf = try AlignedBuffer(byteCount: VGPK.chunkSize)
        let tZstd = timeIt {
            fileBytes.withUnsafeBytes { (b: UnsafeRawBufferPointer) in
                for e in reader.header.tensors { for ch in e.chunks {
                    let src = b.baseAddress! + reader.dataStart + Int(ch.offset)
                    if ch.codec == "raw" { chunkBuf.raw.copyMemory(from: src, byteCount: Int(ch.storedSize)) }
                    else { _ = ZSTD_decompress(chunkBuf.raw, Int(ch.rawSize), src, Int(ch.storedSize)) }
                } }
            }
        }
        let out = try forward(weights!), clipOut = try sample(weights!)
        if type == .f32 { reference = out; refClip = clipOut }
        let maxErr = zip(out, reference).map { Double(abs($0 - $1)) }.max() ?? 0
        let num = zip(out, reference).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) }
        let den = reference.reduce(0.0) { $0 + Double($1 * $1) }
        // PSNR on the [-1, 1] pixel range (peak-to-peak 2).
        let mse = zip(clipOut, refClip).reduce(0.0) { $0 + Double(($1.0 - $1.1) * ($1.0 - $1.1)) } / Double(refClip.count)
        let psnr = mse == 0 ? "inf" : fmt(10 * log10(4 / mse), 1)
        print("| \(type.rawValue) | \(size) | \(fmt(100 * Double(size) / Double(f32Size)))% | \(fmt(tLoad * 1e3, 1)) | \(fmt(tLoad2 * 1e3, 1)) | \(fmt(Double(raw) / tDecode / 1e6, 0)) | \(fmt(Double(raw) / tZstd / 1e6, 0)) | \(fmt(tZstd / tDecode, 2)) | \(String(format: "%.2e", maxErr)) | \(String(format: "%.2e", (num / max(den, 1e-30)).squareRoot())) | \(psnr) |")
    }
}

if args.contains("--hash") {
    var bytes = [UInt8](repeating: 0, count: 16 << 20)
    for i in 0..<bytes.count { bytes[i] = UInt8(truncatingIfNeeded: i &* 2654435761 >> 13) }
    let t = timeIt { bytes[0] &+= 1; _ = XXHash64.hash(bytes) }
    print("xxHash64 (Swift): \(fmt(Double(bytes.count) / t / 1e9, 2)) GB/s")
}

// MARK: - Runtime (a packed model end to end)

if let i = args.firstIndex(of: "--runtime"), i + 1 < args.count {
    let path = args[i + 1]
    print("")
    print("## Runtime: \(path)")
    print("")
    var model: LoadedModel?
    let tLoad = try timeIt { model = try LoadedModel(path: path, threads: 2) }
    let m = model!
    print("model: \(m.config.frames)x\(m.frameWidth)x\(m.frameHeight) frames\(m.codec == nil ? "" : " (a latent model: the DiT samples \(m.config.width)x\(m.config.height)x\(m.config.channels) latents)"), \(m.sampler.steps) steps, guidance \(m.sampler.guidance)")
    print("")
    print("| threads | load ms (warm, 2 decode threads) | generate s (default request) | first step s | s per step | cancel latency ms |")
    print("|---|---|---|---|---|---|")
    for threads in [1, 2] {
        let g = try VideoGenerator(model: m, threads: threads)
        var first = 0.0
        let t0 = now()
        _ = try g.generate(prompt: "a red ball moving right", options: GenerationOptions(), progress: { step, _, elapsed in
            if step == 1 { first = elapsed }
            return true
        })
        let total = now() - t0
        // Cancel from another thread right after the first step; time until generate returns.
        final class Stamp: @unchecked Sendable { var at = 0.0 }
        let cancelledAt = Stamp()
        var returnedAt = 0.0
        var o = GenerationOptions(); o.steps = 1000
        do {
            _ = try g.generate(prompt: "a red ball moving right", options: o, progress: { step, _, _ in
                if step == 1 {
                    Thread.detachNewThread { cancelledAt.at = now(); g.cancel() }
                }
                return true
            })
        } catch { returnedAt = now() }
        print("| \(threads) | \(fmt(tLoad * 1e3, 1)) | \(fmt(total, 2)) | \(fmt(first, 2)) | \(fmt((total - first) / Double(max(m.sampler.steps - 1, 1)), 3)) | \(fmt((returnedAt - cancelledAt.at) * 1e3, 1)) |")
    }
    // A latent model decodes the sampled clip once at the end (and each preview): its share of a step.
    if let codec = m.codec {
        let c = m.config
        let z = try Tensor(zeros: [c.frames, c.height, c.width, c.channels])
        let g5 = gaussian(z.count, seed: 5); for i in 0..<z.count { z.floats[i] = g5[i] }
        print("")
        print("| threads | latent decode of \(c.frames) frames, ms |")
        print("|---|---|")
        for threads in [1, 2] {
            let ctx = try ComputeContext(threads: threads)
            let t = try timeIt { _ = try codec.decode(ctx, latents: z) }
            print("| \(threads) | \(fmt(t * 1e3, 1)) |")
        }
    }
}

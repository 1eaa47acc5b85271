import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGCore
import VGFormat
import VGModel
import VGTraining
import VGVideo

/// `vgtrain autoencoder`: trains the per-frame latent autoencoder (`LatentAutoencoder`) on ShapeWorld
/// frames, or with `--evaluate` measures a trained one: reconstruction error, ShapeBench on the
/// reconstructed benchmark clips against the rendered truth, and the latents' statistics.
struct AutoencoderCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "autoencoder",
        abstract: "Train the latent autoencoder on ShapeWorld frames, or evaluate one (--evaluate).",
        discussion: """
          vgtrain autoencoder --out runs/ae --steps 3000
          vgtrain autoencoder --evaluate runs/ae/autoencoder.safetensors --limit 160 --sheet ae.png
        """)

    @Option(help: "Run directory (checkpoint.safetensors, train-log.jsonl; autoencoder.safetensors when done). A run with a checkpoint there goes on from it.") var out: String?
    @Option(help: "Optimizer steps.") var steps = 3000
    @Option(help: "Frames per step.") var batch = 32
    @Option(help: "Frames taken from each clip of the stream.") var framesPerClip = 4
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Warm-up steps.") var warmup = 100
    @Option(help: "Latent channels C.") var latentChannels = 8
    @Option(help: "Feature channels per resolution, full first, comma-separated (one halving per extra entry).") var widths = "32,64,128"
    @Option(help: "Weight of the outline term (squared error of neighbouring pixels' differences).") var edgeWeight: Float = 1
    @Option(help: "Weight of the mean squared latent.") var latentPenalty: Float = 1e-4
    @Option(help: "Standard deviation of the noise added to the latents before decoding.") var latentNoise: Float = 0.1
    @Option(help: "Seed of the stream, the weights and the latent noise.") var seed: UInt64 = 1
    @Option(help: "Share of degraded clips in the stream.") var degradedShare: Float = 0.33
    @Option(help: "Most objects per scene.") var maxObjects = SceneSpec.maxObjects
    @Option(help: "Threads.") var threads = 2
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 100
    @Option(help: "Stop after this many seconds (the checkpoint lets a later run go on).") var timeLimit: Double?
    @Option(help: "Evaluate this autoencoder file instead of training.") var evaluate: String?
    @Option(help: "With --evaluate: benchmark prompts, spread evenly over the v1 set.") var limit = 160
    @Option(help: "With --evaluate: write a PNG of the first 8 prompts, truth above reconstruction (every 4th frame, 2x).") var sheet: String?
    @Flag(help: "With --evaluate: measure the latents' per-channel mean and deviation on 64 clips of the stream (seed 7777, not the benchmark's) and write them into the file, for a latent DiT (`pretrain --autoencoder`).") var writeStats = false

    func run() throws {
        if let evaluate { try runEvaluation(evaluate); return }
        guard let out else { throw CLIError("--out (a run directory) or --evaluate (a model) is required") }
        let w = widths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard w.count == widths.split(separator: ",").count, !w.isEmpty else { throw CLIError("--widths: comma-separated channel counts (got \"\(widths)\")") }
        guard steps > 0, batch > 0, framesPerClip > 0, batch % framesPerClip == 0, framesPerClip <= 16 else {
            throw CLIError("--steps and --batch must be positive, and --batch a multiple of --frames-per-clip (1...16)")
        }
        guard lr.isFinite, lr > 0, edgeWeight.isFinite, edgeWeight >= 0, latentPenalty.isFinite, latentPenalty >= 0,
              latentNoise.isFinite, latentNoise >= 0, (0...1).contains(degradedShare), (1...SceneSpec.maxObjects).contains(maxObjects),
              (1...64).contains(threads), checkpointEvery > 0 else {
            throw CLIError("--lr must be positive; --edge-weight, --latent-penalty, --latent-noise finite and >= 0; --degraded-share in [0, 1]; --max-objects 1...\(SceneSpec.maxObjects); --threads 1...64")
        }
        let render = RenderConfig.standard
        let config = AutoencoderConfig(height: render.height, width: render.width, latentChannels: latentChannels, widths: w)
        do { try config.validate() } catch { throw CLIError("\(error)") }
        var options = AutoencoderTrainingOptions()
        options.edgeWeight = edgeWeight; options.latentPenalty = latentPenalty; options.latentNoise = latentNoise
        options.optimizer.learningRate = lr; options.optimizer.warmupSteps = warmup; options.optimizer.totalSteps = steps
        options.optimizer.emaDecay = 0
        let dir = URL(fileURLWithPath: out)
        try makeDirectory(out)
        let ckpt = dir.appendingPathComponent("checkpoint.safetensors"), logURL = dir.appendingPathComponent("train-log.jsonl")
        let ctx = try ComputeContext(threads: threads)
        let trainer: AutoencoderTrainer
        var position = 0
        let mix = "degradedShare=\(degradedShare) maxObjects=\(maxObjects) framesPerClip=\(framesPerClip) batch=\(batch)"
        if FileManager.default.fileExists(atPath: ckpt.path) {
            let (t, meta) = try AutoencoderTrainer.restore(ckpt, context: ctx)
            guard t.config == config, t.options == options, t.seed == seed, meta["vgrt.autoencoder_mix"] == mix,
                  let p = meta["vgrt.autoencoder_position"].flatMap({ Int($0) }) else {
                throw CLIError("\(ckpt.path) was written with other settings; use another --out or the same options")
            }
            trainer = t; position = p
            FileHandle.standardError.write(Data("resuming at step \(t.step)\n".utf8))
        } else {
            trainer = try AutoencoderTrainer(config: config, options: options, seed: seed, context: ctx)
            try? FileManager.default.removeItem(at: logURL)
        }
        let stream = ClipStream(config: render, seed: seed, degradedShare: degradedShare, maxObjects: maxObjects)
        let frames = try Tensor(zeros: [batch, render.height, render.width, 3])
        let frameValues = render.height * render.width * 3
        if !FileManager.default.fileExists(atPath: logURL.path) { _ = FileManager.default.createFile(atPath: logURL.path, contents: nil) }  // a failure shows at the FileHandle below
        let log = try FileHandle(forWritingTo: logURL)
        _ = try log.seekToEnd()
        let start = Date()
        func save() throws {
            try trainer.saveCheckpoint(to: ckpt, extra: ["vgrt.autoencoder_position": String(position), "vgrt.autoencoder_mix": mix])
        }
        while trainer.step < steps {
            if let timeLimit, Date().timeIntervalSince(start) > timeLimit { break }
            let t0 = Date()
            let fv = frames.floats
            for k in 0..<(batch / framesPerClip) {
                let clip = try stream.record(at: position + k).clip.frames
                var r = SeededRandom(seed: seed ^ (UInt64(position + k) &* 0xD1B5_4A32_D192_ED03))
                for j in 0..<framesPerClip {
                    let f = Int(r.next() % UInt64(render.frames)), dst = (k * framesPerClip + j) * frameValues
                    for i in 0..<frameValues { fv[dst + i] = clip[f * frameValues + i] * 2 - 1 }
                }
            }
            position += batch / framesPerClip
            let s = try trainer.step(frames)
            let line = String(format: "{\"step\":%d,\"reconstruction\":%.6f,\"edge\":%.6f,\"latentMeanSquare\":%.4f,\"gradNorm\":%.4f,\"learningRate\":%.3g,\"framesPerSecond\":%.1f,\"elapsed\":%.1f}\n",
                              trainer.step, s.reconstruction, s.edge, s.latentMeanSquare, s.gradNorm, s.learningRate,
                              Double(batch) / Date().timeIntervalSince(t0), Date().timeIntervalSince(start))
            log.write(Data(line.utf8))
            if trainer.step % 25 == 0 || trainer.step == 1 { FileHandle.standardError.write(Data(line.utf8)) }
            if trainer.step % checkpointEvery == 0 { try save() }
        }
        try save()
        try log.close()
        if trainer.step >= steps {
            let model = dir.appendingPathComponent("autoencoder.safetensors")
            try AutoencoderTrainer.save(trainer.model, asHalf: true, extra: ["vgrt.autoencoder_steps": String(trainer.step)], to: model)
            print("wrote \(model.path)")
        }
    }

    func runEvaluation(_ path: String) throws {
        let ae = try AutoencoderTrainer.load(URL(fileURLWithPath: path))
        let render = RenderConfig.standard
        guard ae.config.height == render.height, ae.config.width == render.width else {
            throw CLIError("\(path) is for \(ae.config.height) x \(ae.config.width) frames, the benchmark renders \(render.height) x \(render.width)")
        }
        let ctx = try ComputeContext(threads: threads)
        if writeStats {
            let stream = ClipStream(config: render, seed: 7777, degradedShare: 0.33)
            let c = ae.config.latentChannels
            var sum = [Double](repeating: 0, count: c), sumSq = sum, n = 0
            let clip = try Tensor(zeros: [render.frames, render.height, render.width, 3])
            for i in 0..<64 {
                let frames = try stream.record(at: i).clip.frames, cv = clip.floats
                for j in 0..<cv.count { cv[j] = frames[j] * 2 - 1 }
                let latents = try ae.encode(ctx, frames: clip), z = latents.floats   // (the tensor must outlive its pointer)
                for j in 0..<z.count { sum[j % c] += Double(z[j]); sumSq[j % c] += Double(z[j]) * Double(z[j]) }
                n += z.count / c
            }
            let mean = sum.map { $0 / Double(n) }
            let std = (0..<c).map { (max(1e-8, sumSq[$0] / Double(n) - mean[$0] * mean[$0])).squareRoot() }
            var meta = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path)).metadata
            meta.removeValue(forKey: AutoencoderTrainer.configKey)
            meta[AutoencoderTrainer.latentMeanKey] = mean.map { String(Float($0)) }.joined(separator: ",")
            meta[AutoencoderTrainer.latentStdKey] = std.map { String(Float($0)) }.joined(separator: ",")
            try AutoencoderTrainer.save(ae, asHalf: true, extra: meta, to: URL(fileURLWithPath: path))
            print("latent statistics written into \(path): mean \(meta[AutoencoderTrainer.latentMeanKey]!), std \(meta[AutoencoderTrainer.latentStdKey]!)")
        }
        let prompts = try benchmarkPrompts(limit: limit)
        var truthTally = CheckTally(), reconTally = CheckTally()
        var mse: Double = 0
        let c = ae.config.latentChannels
        var sum = [Double](repeating: 0, count: c), sumSq = sum
        var latentCount = 0
        var strips: [Sheet.Image] = []
        let clip = try Tensor(zeros: [render.frames, render.height, render.width, 3])
        for (pi, p) in prompts.enumerated() {
            let frames = try renderPrompt(p, config: render, degradations: [])
            let cv = clip.floats
            for i in 0..<cv.count { cv[i] = frames[i] * 2 - 1 }
            let z = try ae.encode(ctx, frames: clip)
            let zv = z.floats
            for i in 0..<zv.count { sum[i % c] += Double(zv[i]); sumSq[i % c] += Double(zv[i]) * Double(zv[i]) }
            latentCount += zv.count / c
            let decoded = try ae.decode(ctx, latents: z), back = decoded.floats   // (the tensor must outlive its pointer)
            var e: Double = 0
            for i in 0..<back.count { let d = Double(back[i] - cv[i]); e += d * d }
            mse += e / Double(back.count)
            let recon = back.map { min(1, max(0, ($0 + 1) / 2)) }
            for check in try ShapeBench.score(frames: frames, config: render, spec: p.spec, id: p.id).checks { truthTally.add(check) }
            for check in try ShapeBench.score(frames: recon, config: render, spec: p.spec, id: p.id).checks { reconTally.add(check) }
            if sheet != nil, pi < 8 {
                strips.append(Sheet.strip(frames, config: render, every: 4, scale: 2))
                strips.append(Sheet.strip(recon, config: render, every: 4, scale: 2))
            }
        }
        let names = ["count", "background", "color", "shape", "size", "motion", "speed"]
        var md = "autoencoder \(path): \(ae.config.widths) widths, \(c) latent channels, \(ae.config.downsample)x smaller\n\n"
        md += String(format: "reconstruction MSE (values in [-1, 1]) over %d clips: %.5f\n\n", prompts.count, mse / Double(prompts.count))
        md += "| clips | " + names.joined(separator: " | ") + " |\n|---|" + names.map { _ in "---|" }.joined() + "\n"
        md += "| rendered truth | " + names.map { truthTally.cell($0) }.joined(separator: " | ") + " |\n"
        md += "| reconstructed | " + names.map { reconTally.cell($0) }.joined(separator: " | ") + " |\n\n"
        md += "latent channel mean / std: " + (0..<c).map { i -> String in
            let m = sum[i] / Double(latentCount), v = max(0, sumSq[i] / Double(latentCount) - m * m)
            return String(format: "%.3f / %.3f", m, v.squareRoot())
        }.joined(separator: ", ") + "\n"
        print(md, terminator: "")
        if let sheet, !strips.isEmpty {
            let s = Sheet.stack(strips)
            try VideoIO.writePNG(rgb: s.rgb, width: s.width, height: s.height, to: sheet)
            print("wrote \(sheet)")
        }
    }
}

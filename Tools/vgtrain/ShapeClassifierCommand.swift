import ArgumentParser
import Foundation
import ShapeWorld
import VGCore
import VGModel
import VGTraining

/// `vgtrain shape-classifier`: trains the latent shape classifier (`LatentShapeClassifier`) that the
/// classifier term of pretraining reads (`pretrain --classifier`), or with `--evaluate` measures one
/// on held-out clips of another seed.
struct ShapeClassifierCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shape-classifier",
        abstract: "Train the latent shape classifier of pretraining's classifier term, or evaluate one (--evaluate).",
        discussion: """
          Frames of single-object ShapeWorld clips, encoded by --autoencoder into the normalised latents a
          latent DiT makes, and noised to a level drawn from [0, --max-noise] (so the classifier also reads
          the soft clean-clip predictions of a denoiser); labels are the renderer's shapes. Trains in
          minutes, so it writes only its product (no resumable checkpoint).

          vgtrain shape-classifier --autoencoder Models/checkpoints/autoencoder/ae1.safetensors --out runs/cls.safetensors
          vgtrain shape-classifier --autoencoder Models/checkpoints/autoencoder/ae1.safetensors --evaluate runs/cls.safetensors
        """)

    @Option(help: "The latent autoencoder (with its latent statistics) whose latents the classifier reads.") var autoencoder: String
    @Option(help: "Write the trained classifier (f32 safetensors) here.") var out: String?
    @Option(help: "Evaluate this classifier instead of training one.") var evaluate: String?
    @Option(help: "Optimizer steps.") var steps = 1500
    @Option(help: "Clips per step (each gives --frames frames).") var batch = 32
    @Option(help: "Frames per rendered clip.") var frames = 2
    @Option(help: "Feature channels at the latent grid and per halving, comma-separated.") var widths = "32,64,64"
    @Option(help: "Highest noise level of the input's augmentation: x = (1 - t) z + t ε, t uniform in [0, this].") var maxNoise: Float = 0.5
    @Option(help: "Share of non-round objects shown upright (as in pretrain).") var uprightShare: Float = 0.5
    @Option(help: "Adversarial training: the L2 radius per frame of the projected-gradient moves each step trains on (0 = off), e.g. 2 (the frame has h·w·C values of unit variance).") var adversarialRadius: Float = 0
    @Option(help: "Projected-gradient steps of each adversarial move.") var adversarialSteps = 3
    @Option(help: "Start from this classifier's weights (its widths replace --widths), e.g. to make a trained one robust with --adversarial-radius.") var initFrom: String?
    @Option(help: "Peak learning rate.") var lr: Float = 1e-3
    @Option(help: "Seed of the stream, the weights and the noise.") var seed: UInt64 = 1
    @Option(help: "With --evaluate: held-out clips (stream seed --seed + 1 000 003).") var clips = 512
    @Option(help: "Threads.") var threads = 2

    func run() throws {
        guard steps > 0, batch > 0, (1...16).contains(frames), maxNoise.isFinite, (0...1).contains(maxNoise), lr.isFinite, lr > 0,
              (0...1).contains(uprightShare), (1...64).contains(threads), clips > 0, adversarialRadius.isFinite, adversarialRadius >= 0,
              (1...20).contains(adversarialSteps) else {
            throw CLIError("--steps, --batch, --clips must be positive; --frames 1...16; --max-noise and --upright-share in [0, 1]; --lr > 0; --threads 1...64; --adversarial-radius finite and >= 0; --adversarial-steps 1...20")
        }
        let codec: LatentCodec
        do { codec = try AutoencoderTrainer.loadCodec(URL(fileURLWithPath: autoencoder)) } catch { throw CLIError("--autoencoder \(autoencoder): \(error)") }
        let a = codec.autoencoder.config
        let render = RenderConfig(frames: frames, height: a.height, width: a.width, fps: 8)
        let ctx = try ComputeContext(threads: threads)
        if let evaluate {
            let classifier: LatentShapeClassifier
            do { classifier = try LatentShapeClassifier.load(URL(fileURLWithPath: evaluate)) } catch { throw CLIError("--evaluate \(evaluate): \(error)") }
            try runEvaluation(classifier, codec: codec, render: render, ctx: ctx)
            return
        }
        guard let out else { throw CLIError("--out (where to write the classifier) or --evaluate (a classifier) is required") }
        let w = widths.split(separator: ",").compactMap { Int($0.trimmingCharacters(in: .whitespaces)) }
        guard w.count == widths.split(separator: ",").count, !w.isEmpty else { throw CLIError("--widths: comma-separated channel counts (got \"\(widths)\")") }
        let config = ShapeClassifierConfig(height: a.latentHeight, width: a.latentWidth, channels: a.latentChannels, widths: w,
                                           classes: ShapeKind.allCases.count)
        do { try config.validate() } catch { throw CLIError("\(error)") }
        var opt = OptimizerConfig()
        opt.learningRate = lr; opt.warmupSteps = min(100, steps / 10); opt.totalSteps = steps; opt.emaDecay = 0
        let start: LatentShapeClassifier
        if let initFrom {
            do { start = try LatentShapeClassifier.load(URL(fileURLWithPath: initFrom)) } catch { throw CLIError("--init-from \(initFrom): \(error)") }
            guard [start.config.height, start.config.width, start.config.channels, start.config.classes] == [config.height, config.width, config.channels, config.classes] else {
                throw CLIError("--init-from \(initFrom) reads \(start.config.height) x \(start.config.width) x \(start.config.channels) frames into \(start.config.classes) classes; --autoencoder makes \(config.height) x \(config.width) x \(config.channels), \(config.classes) shapes")
            }
        } else {
            start = try LatentShapeClassifier.initialized(config, seed: seed)
        }
        let trainer = try ShapeClassifierTrainer(classifier: start, optimizer: opt, context: ctx)
        let stream = ClipStream(config: render, seed: seed, degradedShare: 0, maxObjects: 1, uprightShare: uprightShare)
        var rng = SeededRandom(seed: seed ^ 0xC1A5_51F1)
        let began = Date()
        var recent: [(Float, Float)] = []
        for step in 0..<steps {
            let (latents, labels) = try self.batch(stream, range: (step * batch)..<((step + 1) * batch), codec: codec, ctx: ctx)
            augment(latents, maxNoise: maxNoise, rng: &rng)
            let r = try trainer.step(latents: latents, labels: labels,
                                     adversary: adversarialRadius > 0 ? (adversarialRadius, adversarialSteps) : nil)
            recent.append(r); if recent.count > 50 { recent.removeFirst() }
            if (step + 1) % 50 == 0 || step + 1 == steps {
                let loss = recent.map(\.0).reduce(0, +) / Float(recent.count), acc = recent.map(\.1).reduce(0, +) / Float(recent.count)
                FileHandle.standardError.write(Data(String(format: "step %d/%d  cross-entropy %.4f  right %.3f (last 50 steps)  %.0f s\n",
                                                           step + 1, steps, loss, acc, Date().timeIntervalSince(began)).utf8))
            }
        }
        let meta = ["vgrt.shape_classifier_steps": String(steps), "vgrt.shape_classifier_init": initFrom ?? "", "vgrt.shape_classifier_autoencoder": autoencoder,
                    "vgrt.shape_classifier_data": "seed=\(seed) batch=\(batch) frames=\(frames) maxNoise=\(maxNoise) uprightShare=\(uprightShare) lr=\(lr) adversarialRadius=\(adversarialRadius) adversarialSteps=\(adversarialSteps)"]
        try trainer.classifier.save(asHalf: false, extra: meta, to: URL(fileURLWithPath: out))
        print("wrote \(out)")
        try runEvaluation(trainer.classifier, codec: codec, render: render, ctx: ctx)
    }

    /// The normalised latents `[clips·F, h, w, C]` of the stream's clips in `range`, one row per frame,
    /// and each frame's label (its one object's shape index).
    func batch(_ stream: ClipStream, range: Range<Int>, codec: LatentCodec, ctx: ComputeContext) throws -> (Tensor, [Int]) {
        let a = codec.autoencoder.config, f = stream.config.frames
        let latents = try Tensor(zeros: [range.count * f, a.latentHeight, a.latentWidth, a.latentChannels])
        let per = a.latentHeight * a.latentWidth * a.latentChannels, lv = latents.floats
        let clip = try Tensor(zeros: [f, a.height, a.width, 3])
        var labels: [Int] = []
        for (k, index) in range.enumerated() {
            let record = try stream.record(at: index)
            let cv = clip.floats, src = record.clip.frames
            for i in 0..<cv.count { cv[i] = src[i] * 2 - 1 }
            let z = try codec.encode(ctx, clip: clip)   // kept alive while its values are read
            let zv = z.floats
            for i in 0..<(f * per) { lv[k * f * per + i] = zv[i] }
            let label = ShapeKind.allCases.firstIndex(of: stream.spec(at: index).objects[0].shape)!
            labels += Array(repeating: label, count: f)
        }
        return (latents, labels)
    }

    /// How the classifier term of `pretrain --classifier-each-object` reads each object of clean
    /// multi-object clips: through its window (the clip inside, the object alone on the background
    /// outside), against the object alone. A reading far below the object alone would mean the window
    /// shows the classifier something its training data did not.
    func evaluateWindows(_ classifier: LatentShapeClassifier, codec: LatentCodec, render: RenderConfig, ctx: ComputeContext) throws {
        let stream = ClipStream(config: render, seed: seed &+ 2_000_003, degradedShare: 0, maxObjects: SceneSpec.maxObjects,
                                multiObjectShare: 1, uprightShare: uprightShare)
        let source = LatentClipSource(pixels: ShapeWorldSource(stream: stream, webShare: 0), codec: codec, ctx: ctx, frames: render.frames)
        let a = codec.autoencoder.config, f = render.frames, k = classifier.config.classes
        let clip = try Tensor(zeros: [f, a.latentHeight, a.latentWidth, a.latentChannels])
        var right = (window: 0, alone: 0), frames = 0, objects = 0
        for index in 0..<max(1, clips / 4) {
            _ = try source.example(index, into: clip)
            for o in try source.classifierObjects(index) {
                for (input, alone) in [(try o.frame(reading: clip), false), (o.context, true)] {
                    var none: LatentShapeClassifier.Trace? = nil
                    let logits = try classifier.logits(ctx, latents: input, trace: &none)   // kept alive while its values are read
                    let lv = logits.floats
                    let n = (0..<f).filter { i in (0..<k).max { lv[i * k + $0] < lv[i * k + $1] } == o.label }.count
                    if alone { right.alone += n } else { right.window += n }
                }
                frames += f; objects += 1
            }
        }
        print(String(format: "each object of %d clean multi-object clips (%d objects, %d frames) through its window: right %.3f; the object alone: %.3f",
                     max(1, clips / 4), objects, frames, Float(right.window) / Float(max(frames, 1)), Float(right.alone) / Float(max(frames, 1))))
    }

    /// x <- (1 - t) x + t ε per frame, t uniform in [0, maxNoise].
    func augment(_ latents: Tensor, maxNoise: Float, rng: inout SeededRandom) {
        guard maxNoise > 0 else { return }
        let n = latents.shape[0], per = latents.count / n, v = latents.floats
        for i in 0..<n {
            let t = maxNoise * Float(rng.uniform())
            for j in 0..<per { v[i * per + j] = (1 - t) * v[i * per + j] + t * Float(rng.gaussian()) }
        }
    }

    /// Accuracy on held-out clips at noise levels 0, 0.3, 0.6 and 0.9, per shape at 0.
    func runEvaluation(_ classifier: LatentShapeClassifier, codec: LatentCodec, render: RenderConfig, ctx: ComputeContext) throws {
        let stream = ClipStream(config: render, seed: seed &+ 1_000_003, degradedShare: 0, maxObjects: 1, uprightShare: uprightShare)
        let (clean, labels) = try batch(stream, range: 0..<clips, codec: codec, ctx: ctx)
        print("held-out: \(clips) clips x \(render.frames) frames (stream seed \(seed &+ 1_000_003), upright share \(uprightShare))")
        for level: Float in [0, 0.3, 0.6, 0.9] {
            let x = try Tensor(zeros: clean.shape)
            try x.copy(from: clean)
            var rng = SeededRandom(seed: 99)
            let v = x.floats
            for i in 0..<v.count { v[i] = (1 - level) * v[i] + level * Float(rng.gaussian()) }
            var none: LatentShapeClassifier.Trace? = nil
            let logits = try classifier.logits(ctx, latents: x, trace: &none)
            let ce = try LatentShapeClassifier.crossEntropy(logits: logits, labels: labels)
            var line = String(format: "noise %.1f: right %.3f, cross-entropy %.3f", level, Float(ce.correct) / Float(ce.counted), ce.loss / Double(ce.counted))
            if level == 0 {
                let k = classifier.config.classes, lv = logits.floats
                let per = ShapeKind.allCases.enumerated().map { (c, shape) -> String in
                    let rows = labels.indices.filter { labels[$0] == c }
                    let right = rows.filter { i in (0..<k).max { lv[i * k + $0] < lv[i * k + $1] } == c }.count
                    return "\(shape.rawValue) \(right)/\(rows.count)"
                }
                line += " (" + per.joined(separator: ", ") + ")"
            }
            print(line)
        }
        try evaluateWindows(classifier, codec: codec, render: render, ctx: ctx)
        // Under attack: frames moved by projected gradient ascent within an L2 ball (what a generator
        // reading the classifier could exploit).
        let attacker = try ShapeClassifierTrainer(classifier: classifier, optimizer: OptimizerConfig(), context: ctx)
        for radius: Float in [1, 2, 4] {
            let x = try Tensor(zeros: clean.shape)
            try x.copy(from: clean)
            try attacker.perturb(x, labels: labels, radius: radius, steps: 5)
            var none: LatentShapeClassifier.Trace? = nil
            let ce = try LatentShapeClassifier.crossEntropy(logits: try classifier.logits(ctx, latents: x, trace: &none), labels: labels)
            print(String(format: "attacked, L2 radius %.0f per frame (5 steps): right %.3f", radius, Float(ce.correct) / Float(ce.counted)))
        }
    }
}

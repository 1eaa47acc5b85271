import ArgumentParser
import Foundation
import ShapeWorld
import VGFormat
import VGCore
import VGModel
import VGTraining

/// The pretraining mix of ../shared/ARCHITECTURE.md: ShapeWorld clips, about a third degraded, with
/// web-noisy alt text for about half of the captions and the detailed caption for the rest (terse
/// prompts are left out on purpose: the gap they leave is what the prompt enhancer closes).
/// Caption dropout (empty prompts for CFG) is applied by the Pretrainer.
struct ShapeWorldSource: CaptionedClipSource {
    let stream: ClipStream
    let webShare: Float
    /// Share of clean examples whose input at high noise shows the scene with its shapes swapped
    /// (`SceneSampler.shapesSwapped`); 0 = none.
    var shapeSwapShare: Float = 0
    /// Share of examples whose input at high noise shows their own clip blurred inside each frame
    /// (Gaussian, sigma drawn from `blurSigma` pixels); 0 = none.
    var blurShare: Float = 0
    var blurSigma: ClosedRange<Float> = 1...3

    func example(_ index: Int, into clip: Tensor) throws -> String {
        let r = try stream.record(at: index).clip
        try Self.write(frames: r.frames, into: clip)
        return usesWebCaption(index) ? r.captions.web : r.captions.detailed
    }

    /// Rendered frames in [0, 1] -> `clip` in [-1, 1], the model's range.
    static func write(frames: [Float], into clip: Tensor) throws {
        let dst = clip.floats
        guard frames.count == dst.count else { throw CLIError("clip of \(frames.count) values for a \(clip.shape) tensor") }
        for i in 0..<dst.count { dst[i] = frames[i] * 2 - 1 }
    }

    /// A coverage map -> `coverage`.
    static func write(coverage cov: [Float], into coverage: Tensor) throws {
        let dst = coverage.floats
        guard cov.count == dst.count else { throw CLIError("coverage of \(cov.count) values for a \(coverage.shape) tensor") }
        for i in 0..<dst.count { dst[i] = cov[i] }
    }

    /// Whether example `index` is captioned with its web alt text (else with its detailed caption).
    func usesWebCaption(_ index: Int) -> Bool {
        var rng = SeededRandom(seed: stream.clipSeed(index) ^ 0x5EB_CA97)
        return Float(rng.uniform()) < webShare
    }

    /// For a detailed caption: the example's objects (shape, colour, size, motion, speed, in order)
    /// on its background, placed anew with each object kept to the ninth of the frame it starts in,
    /// non-round shapes turned anew (upright at the stream's upright share) — what the caption says,
    /// and nothing it does not. For an empty
    /// caption: random scenes. None for a web caption, which may leave out or get wrong any
    /// attribute. Draws are clean (the example may be degraded) and seeded by index and k.
    func captionDraws(_ index: Int, captionDropped: Bool, count: Int) -> CaptionDraws? {
        guard count > 0, captionDropped || !usesWebCaption(index) else { return nil }
        let stream = self.stream, base = stream.clipSeed(index) ^ 0xD8A7_5C11, extent = stream.config.extent
        let truth = captionDropped ? nil : stream.spec(at: index)
        return CaptionDraws(count: count) { k, clip, coverage in
            var rng = SplitMix64(seed: base &+ UInt64(k + 1) &* 0x9E37_79B9_7F4A_7C15)
            let spec = truth.map { SceneSampler.redrawn($0, extent: extent, uprightShare: stream.uprightShare, using: &rng) }
                ?? SceneSampler.random(using: &rng, extent: extent)
            try Self.write(frames: try Renderer.render(spec, config: stream.config), into: clip)
            try Self.write(coverage: try Renderer.objectCoverage(spec, config: stream.config), into: coverage)
        }
    }

    /// For a share `shapeSwapShare` of the clean examples: the same scene with every shape swapped
    /// (circles for the other shapes, another shape for a circle), seeded by index.
    ///
    /// For a share `blurShare` of the examples instead: the example's own clip blurred inside each
    /// frame. The sampler's path reaches the middle noise levels with soft blobs where the objects
    /// will be (its early clean-clip estimates are averages); a noised training clip never looks like
    /// that, so a model that only ever saw sharp objects under the noise reads a blob as a disc. With
    /// blurred inputs it learns to draw the captioned outline into a blob.
    func alteredInput(_ index: Int, into clip: Tensor) throws -> Bool {
        if blurShare > 0 {
            var rng = SplitMix64(seed: stream.clipSeed(index) ^ 0xB10B_B1)
            guard rng.chance(blurShare) else { return false }
            let sigma = rng.uniform(blurSigma.lowerBound, blurSigma.upperBound)
            try Self.write(frames: ClipFilters.gaussianBlurred(try stream.record(at: index).clip.frames, config: stream.config, sigma: sigma),
                           into: clip)
            return true
        }
        guard shapeSwapShare > 0 else { return false }
        var rng = SplitMix64(seed: stream.clipSeed(index) ^ 0x54A9_E5)
        guard rng.chance(shapeSwapShare), try stream.degradedShare == 0 || stream.record(at: index).degradations.isEmpty else { return false }
        let spec = SceneSampler.shapesSwapped(stream.spec(at: index), uprightShare: stream.uprightShare, using: &rng)
        try Self.write(frames: try Renderer.render(spec, config: stream.config), into: clip)
        return true
    }

    /// The one object's shape when the scene has exactly one and the example's caption is the
    /// detailed one, which names it (the classifier term's label); nil for a web caption, which may
    /// leave the shape out or get it wrong.
    func shapeLabel(_ index: Int) throws -> Int? {
        let objects = stream.spec(at: index).objects
        guard objects.count == 1, !usesWebCaption(index) else { return nil }
        return ShapeKind.allCases.firstIndex(of: objects[0].shape)
    }

    /// For a multi-object scene with its detailed caption, each object alone on the scene's background:
    /// its label, its rendered clip (frames in [0, 1], `[F, H, W, 3]`) and its coverage (`[F, H, W]`);
    /// empty otherwise. `LatentClipSource.classifierObjects` builds the term's readings from these.
    func singleObjects(_ index: Int) throws -> [(label: Int, frames: [Float], coverage: [Float])] {
        let spec = stream.spec(at: index)
        guard spec.objects.count > 1, !usesWebCaption(index) else { return [] }
        return try spec.objects.map { o in
            let alone = SceneSpec(objects: [o], background: spec.background)
            guard let label = ShapeKind.allCases.firstIndex(of: o.shape) else { throw CLIError("shape \(o.shape) has no class") }
            return (label, try Renderer.render(alone, config: stream.config), try Renderer.objectCoverage(alone, config: stream.config))
        }
    }

    /// The clean scene's coverage at full resolution, the token mask head's targets.
    func pixelCoverage(_ index: Int, into coverage: Tensor) throws -> Bool { try objectCoverage(index, into: coverage) }

    /// The clean scene's shape map (`Renderer.objectShapeMap`), the token shape head's labels.
    func shapeMap(_ index: Int, into map: Tensor) throws -> Bool {
        try Self.write(coverage: try Renderer.objectShapeMap(stream.spec(at: index), config: stream.config), into: map)
        return true
    }

    /// The clean scene's object coverage (a degraded clip's blur or jitter moves edges by a pixel or
    /// two; the weights only say where to look harder).
    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool {
        try Self.write(coverage: try Renderer.objectCoverage(stream.spec(at: index), config: stream.config), into: coverage)
        return true
    }
}

/// The windows in which the classifier term reads one object of a multi-object scene.
enum ClassifierWindow {
    /// Latent positions added around the latent positions an object touches: the model's blurred
    /// early estimates reach past the outline. (The term reads latent frames only, so a pixel
    /// source offers no objects.)
    static let latentMargin = 1

    /// 1 where any position within `r` (a square) of a covered position (coverage > 0), else 0.
    /// `[F, H, W]` -> `[F, H, W]`.
    static func widened(_ coverage: [Float], frames f: Int, height h: Int, width w: Int, by r: Int) -> [Float] {
        var out = [Float](repeating: 0, count: coverage.count)
        for fi in 0..<f { for y in 0..<h { for x in 0..<w where coverage[(fi * h + y) * w + x] > 0 {
            for yy in max(0, y - r)...min(h - 1, y + r) { for xx in max(0, x - r)...min(w - 1, x + r) { out[(fi * h + yy) * w + xx] = 1 } }
        } } }
        return out
    }
}

/// `vgtrain pretrain`: flow-matching pretraining of the base model on the noisy ShapeWorld mix.
struct Pretrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Pretrain the base text-to-video model on the noisy ShapeWorld mix (resumes from the run directory).",
        discussion: """
        Writes <out>/checkpoint.safetensors every --checkpoint-every steps (atomic; a restart resumes
        exactly) and <out>/train-log.jsonl (one JSON line per step). With --export, writes the EMA
        weights as f16 safetensors at the end.

        Example (the documented base run, docs/PIPELINE.md):
          vgtrain pretrain --out runs/base --steps 3000 --export Models/checkpoints/base.safetensors
        """)

    @Option(help: "Run directory (checkpoint, log, options).") var out: String
    @Option(help: "Optimizer steps.") var steps = 3000
    @Option(help: "Samples per step.") var batch = 8
    @Option(help: "Peak learning rate.") var lr: Float = 3e-4
    @Option(help: "Decay of the weights' moving average (the EMA that `export` writes by default): 0.999 averages over about the last 1000 steps, 0.99 over 100; 0 keeps none (export --raw then).") var emaDecay: Float = 0.999
    @Option(help: "Warm-up steps.") var warmup = 100
    @Option(help: "Threads (of one lane when --lanes is 1).") var threads = 2
    @Option(help: "Data-parallel lanes per step, each on one thread (2 keeps both cores busy).") var lanes = 1
    @Option(help: "Seed of the data stream and the noise.") var seed: UInt64 = 1
    @Option(help: "Checkpoint every N steps.") var checkpointEvery = 50
    @Option(help: "Model config as JSON (a file or inline); default: the built-in default config.") var config: String?
    @Option(help: "Share of degraded clips.") var degradedShare: Float = 0.33
    @Option(help: "Share of web-noisy captions.") var webShare: Float = 0.5
    @Option(help: "Most objects per scene (1-\(SceneSpec.maxObjects)); 1 narrows the stream to single-object scenes.") var maxObjects = SceneSpec.maxObjects
    @Option(help: "Share of scenes with more than one object (two or three at 3 : 2, capped by --max-objects, which must then be 2 or more); default: the world's own 50 %.") var multiObjectShare: Float?
    @Option(help: "Share of non-round objects shown upright (rotation 0) instead of turned any way (0 = every rotation alike).") var uprightShare: Float = 0
    @Option(help: "Share of empty captions (classifier-free guidance).") var captionDropout: Float = 0.1
    @Option(help: "Write the EMA weights (f16 safetensors) here when done.") var export: String?
    @Option(help: "Noise levels: shift k of sigmoid(u) (the sampler's grid shift; 1 = none).") var noiseShift: Float = 1
    @Option(help: "Noise levels: mean of u ~ N(mean, 1).") var noiseMean: Float = 0
    @Option(help: "Noise levels: share drawn uniformly from (0.9, 1).") var noiseTail: Float = 0
    @Option(help: "Noise levels: share at exactly 1, pure noise (where only the prompt tells the layout).") var noisePure: Float = 0
    @Option(help: "Extra loss weight on object pixels: weight 1 + w * coverage (0 = every pixel alike).") var objectWeight: Float = 0
    @Option(help: "Object weight for noise levels >= --object-weight-high-from (default: --object-weight everywhere).") var objectWeightHigh: Float?
    @Option(help: "Lowest noise level that gets --object-weight-high.") var objectWeightHighFrom: Float = 0.9
    @Option(help: "Weight of the outline term: the squared error of neighbouring pixels' differences (0 = off).") var edgeWeight: Float = 0
    @Option(help: "The text encoder's token limit of a fresh model; with --init-from, raises the file's limit (new position rows start like a fresh model's).") var maxTextTokens: Int?
    @Flag(help: "A fresh model's cross-attention gets an adaLN gate like the other branches (ModelConfig.crossAttentionGate; on in the default config since phase 13, so this only restates it; --config can turn it off).") var crossAttentionGate = false
    @Flag(help: "With --init-from: add a learned video position embedding (zero at the start) to a model without one.") var addPositionEmbedding = false
    @Option(help: "With --init-from: a deeper model of this many blocks, a multiple k of the file's depth; the file's block i becomes block k·i and the blocks between start as the identity (their output projections at zero), so training starts from what the file computes.") var growDepth: Int?
    @Option(help: "With --init-from: add an output refiner of this many channels (ModelConfig.refinerChannels; its last convolution starts at zero) to a model without one.") var addRefiner: Int?
    @Option(help: "With --init-from: hand the output refiner this many feature channels per pixel from the final tokens (ModelConfig.refinerFeatures; the new convolution columns start at zero); needs a refiner (the file's or --add-refiner's).") var addRefinerFeatures: Int?
    @Option(help: "Captions a fresh model's BPE tokenizer is trained on (fewer make a quick test run).") var tokenizerCorpus = 20_000
    @Option(help: "Start from these exported weights (safetensors with config and tokenizer) with a fresh optimizer.") var initFrom: String?
    @Option(help: "How a fresh model's weights start: xavier (DiT's rule) or gpt2 (std 0.02 everywhere, phases 1-12).") var initialization = "xavier"
    @Option(help: "Stop after this many seconds (the checkpoint lets a later run continue).") var timeLimit: Double?
    @Option(help: "Share of clean examples whose input at levels >= --shape-swap-from shows the scene with every shape swapped (circles for the other shapes, another shape for circles) while the target stays the true clip (0 = off).") var shapeSwapShare: Float = 0
    @Option(help: "Lowest noise level at which --shape-swap-share's swapped inputs are used.") var shapeSwapFrom: Float = 0.6
    @Option(help: "Share of examples whose input at levels >= --blur-input-from shows their own clip blurred inside each frame while the target stays the sharp clip (0 = off; not with --shape-swap-share).") var blurInputShare: Float = 0
    @Option(help: "Lowest noise level at which --blur-input-share's blurred inputs are used.") var blurInputFrom: Float = 0.5
    @Option(help: "Blur of --blur-input-share's inputs: 'lo,hi', the Gaussian's standard deviation in pixels drawn uniformly from [lo, hi].") var blurInputSigma = "1,3"
    @Option(help: "Share of the examples at levels in --rollout-levels whose input is the model's own sampling state: the clip noised to --rollout-from, then --rollout-steps Euler steps of the current model down to the level (no gradient); the target stays the clip (0 = off).") var rolloutShare: Float = 0
    @Option(help: "Level a --rollout-share rollout starts from (the clip noised to it); above --rollout-levels.") var rolloutFrom: Float = 0.95
    @Option(help: "Levels 'lo,hi' whose inputs --rollout-share may roll out.") var rolloutLevels = "0.45,0.9"
    @Option(help: "Euler steps of a --rollout-share rollout.") var rolloutSteps = 3
    @Option(help: "Train on this latent autoencoder's normalised latents instead of pixels (a file of `vgtrain autoencoder` with --write-stats): the clip becomes [F, H/r, W/r, C] and the patch's height and width shrink r times, so the token grid stays; with --init-from, the patch embedding and final linear start fresh.") var autoencoder: String?
    @Option(help: "Clips averaged into a pure-noise sample's target besides its own, drawn from what its detailed (or empty) caption says (0 = off).") var pureNoiseDraws = 0
    @Option(help: "Weight of the token shape head's loss: a linear head on --shape-head-block's output names the shape of each object token (labels from the rendered scene), its cross-entropy times this weight joins the loss (0 = no head; training only, exports drop it).") var shapeHeadWeight: Float = 0
    @Option(help: "The block whose output the token shape head reads (0-based).") var shapeHeadBlock = 1
    @Option(help: "A frozen latent shape classifier (`vgtrain shape-classifier`) for the classifier term: its cross-entropy on each frame of the model's clean-clip prediction against the shape the detailed caption names, for single-object scenes (each object of multi-object scenes too with --classifier-each-object; needs --classifier-weight and a latent run).") var classifier: String?
    @Option(help: "γ, the classifier term's weight (0 = off).") var classifierWeight: Float = 0
    @Option(help: "Highest noise level that gets the classifier term.") var classifierMaxLevel: Float = 1
    @Flag(help: "The classifier term also reads each object of a multi-object scene with a detailed caption: x̂0 in a window around the object, the object alone on the background outside it (needs --classifier).") var classifierEachObject = false
    @Option(help: "γ_o, the classifier term's weight on each object of a multi-object scene (default: --classifier-weight; needs --classifier-each-object).") var classifierObjectWeight: Float?
    @Option(help: "Weight of the token mask head's loss: a linear head on the last block's output gives each token's clean object mask at pixel resolution, its binary cross-entropy times this weight joins the loss (0 = no head; training only, exports drop it).") var maskHeadWeight: Float = 0

    func run() throws {
        var o = PretrainOptions()
        if let config {
            let text = FileManager.default.fileExists(atPath: config) ? try String(contentsOfFile: config, encoding: .utf8) : config
            do { o.model = try JSONDecoder().decode(ModelConfig.self, from: Data(text.utf8)) } catch { throw CLIError("--config: \(error)") }
        }
        o.steps = steps; o.batchSize = batch; o.threads = threads; o.lanes = lanes; o.seed = seed; o.checkpointEvery = checkpointEvery
        o.captionDropout = captionDropout
        o.tokenizerCorpus = tokenizerCorpus
        o.noiseLevels = NoiseLevelDistribution(shift: noiseShift, mean: noiseMean, std: 1, tailShare: noiseTail, tailFloor: 0.9, pureShare: noisePure)
        o.initialWeights = initFrom
        o.objectWeight = objectWeight
        o.objectWeightHigh = objectWeightHigh; o.objectWeightHighFrom = objectWeightHighFrom
        o.pureNoiseDraws = pureNoiseDraws
        o.edgeWeight = edgeWeight
        switch (classifier, classifierWeight) {
        case (nil, 0): break
        case (let file?, let w) where w != 0:
            guard autoencoder != nil else { throw CLIError("--classifier reads latent frames: give --autoencoder too") }
            o.classifierTerm = ClassifierTermOptions(file: file, weight: w, maxLevel: classifierMaxLevel, eachObject: classifierEachObject ? true : nil,
                                                  objectWeight: classifierObjectWeight)
        default: throw CLIError("--classifier and --classifier-weight go together (a file and a weight > 0)")
        }
        guard !classifierEachObject || o.classifierTerm != nil else { throw CLIError("--classifier-each-object needs --classifier and --classifier-weight") }
        guard classifierObjectWeight == nil || classifierEachObject else { throw CLIError("--classifier-object-weight needs --classifier-each-object") }
        if rolloutShare != 0 {
            let levels = try parseRange(rolloutLevels, option: "--rollout-levels", within: 0...1)
            o.rollout = RolloutInputs(share: rolloutShare, start: rolloutFrom, lowest: levels.lowerBound, highest: levels.upperBound, steps: rolloutSteps)
        }
        if shapeSwapShare > 0 { o.alteredInputFrom = shapeSwapFrom }
        if blurInputShare > 0 { o.alteredInputFrom = blurInputFrom }
        let sigmaRange = try parseRange(blurInputSigma, option: "--blur-input-sigma", within: 0...16)
        let (sLo, sHi) = (sigmaRange.lowerBound, sigmaRange.upperBound)
        guard let scheme = WeightInitialization(rawValue: initialization) else {
            throw CLIError("--initialization: one of \(WeightInitialization.allCases.map(\.rawValue).joined(separator: ", ")) (got \"\(initialization)\")")
        }
        o.initialization = scheme
        if (addPositionEmbedding || addRefiner != nil || addRefinerFeatures != nil || growDepth != nil) && (initFrom == nil || config != nil) {
            throw CLIError("--add-position-embedding, --add-refiner, --add-refiner-features and --grow-depth change the architecture of --init-from's weights; for a fresh model put them in --config")
        }
        if maxTextTokens != nil && config != nil {
            throw CLIError("--config already sets the token limit; put --max-text-tokens in the config")
        }
        if initFrom == nil, let maxTextTokens { o.model.maxTextTokens = maxTextTokens }
        if let initFrom, config == nil {
            // The run's architecture is the starting weights' own.
            do { o.model = try TrainingCheckpoint.config(of: try SafeTensorsFile(contentsOf: URL(fileURLWithPath: initFrom))) } catch {
                throw CLIError("--init-from \(initFrom): \(error)")
            }
            if addPositionEmbedding { o.model.videoPositionEmbedding = true }
            if let addRefiner {
                guard addRefiner > 0, o.model.refinerChannels == 0 else {
                    throw CLIError("--add-refiner: a positive channel count, for weights without a refiner (\(initFrom) has \(o.model.refinerChannels))")
                }
                o.model.refinerChannels = addRefiner
            }
            if let addRefinerFeatures {
                guard addRefinerFeatures > 0, o.model.refinerChannels > 0, o.model.refinerFeatures == 0 else {
                    throw CLIError("--add-refiner-features: a positive count, for weights with an output refiner and no features (\(initFrom) has \(o.model.refinerChannels) refiner channels, \(o.model.refinerFeatures) features)")
                }
                o.model.refinerFeatures = addRefinerFeatures
            }
            if let growDepth {
                guard growDepth > o.model.depth, growDepth % o.model.depth == 0 else {
                    throw CLIError("--grow-depth: a multiple of the file's depth above it (\(initFrom) has depth \(o.model.depth); got \(growDepth))")
                }
                o.model.depth = growDepth
            }
            if let maxTextTokens { o.model.maxTextTokens = maxTextTokens }
        }
        if crossAttentionGate {
            guard initFrom == nil else { throw CLIError("--cross-attention-gate is for a fresh model (the gate's adaLN slices would be new weights)") }
            o.model.crossAttentionGate = true
        }
        // A latent run: the clip is the autoencoder's grid, the patch r times smaller, the token grid the same.
        let codec = try autoencoder.map { path -> LatentCodec in
            do { return try AutoencoderTrainer.loadCodec(URL(fileURLWithPath: path)) } catch { throw CLIError("--autoencoder \(path): \(error)") }
        }
        var pixelHeight = o.model.height, pixelWidth = o.model.width
        if let codec {
            let a = codec.autoencoder.config, r = a.downsample
            guard shapeSwapShare == 0, blurInputShare == 0 else { throw CLIError("--autoencoder: no --shape-swap-share or --blur-input-share (they alter pixels)") }
            if o.model.channels == 3 {
                guard o.model.height == a.height, o.model.width == a.width, o.model.patchH % r == 0, o.model.patchW % r == 0 else {
                    throw CLIError("--autoencoder: the model's \(o.model.height) x \(o.model.width) clip with \(o.model.patchH) x \(o.model.patchW) patches does not fit a \(r)x autoencoder of \(a.height) x \(a.width) frames")
                }
                o.model.height /= r; o.model.width /= r; o.model.patchH /= r; o.model.patchW /= r
                o.model.channels = a.latentChannels
            }
            if let m = a.latentGridMismatch(o.model) { throw CLIError("--autoencoder: \(m)") }
            pixelHeight = a.height; pixelWidth = a.width
        } else if o.model.channels != 3 {
            throw CLIError("the model works on \(o.model.channels)-channel latents; give its --autoencoder")
        }
        if shapeHeadWeight != 0 {
            guard shapeHeadWeight.isFinite, shapeHeadWeight > 0 else { throw CLIError("--shape-head-weight: a positive weight (got \(shapeHeadWeight))") }
            guard (0..<o.model.depth).contains(shapeHeadBlock) else {
                throw CLIError("--shape-head-block: a block of the model, 0..<\(o.model.depth) (got \(shapeHeadBlock))")
            }
            o.model.shapeHeadClasses = ShapeKind.allCases.count; o.model.shapeHeadBlock = shapeHeadBlock
            o.shapeHeadWeight = shapeHeadWeight
        }
        if maskHeadWeight != 0 {
            guard maskHeadWeight.isFinite, maskHeadWeight > 0 else { throw CLIError("--mask-head-weight: a positive weight (got \(maskHeadWeight))") }
            let r = o.model.channels == 3 ? 1 : pixelHeight / o.model.height
            o.model.maskHeadValues = o.model.patchT * o.model.patchH * o.model.patchW * r * r
            o.maskHeadWeight = maskHeadWeight
        }
        guard emaDecay.isFinite, (0..<1).contains(emaDecay) else { throw CLIError("--ema-decay: in [0, 1) (got \(emaDecay))") }
        o.optimizer.learningRate = lr; o.optimizer.warmupSteps = warmup; o.optimizer.totalSteps = steps; o.optimizer.emaDecay = emaDecay
        do { try o.validate() } catch { throw CLIError("\(error)") }
        guard (1...SceneSpec.maxObjects).contains(maxObjects) else { throw CLIError("--max-objects: 1...\(SceneSpec.maxObjects) (got \(maxObjects))") }
        guard (0...1).contains(degradedShare), (0...1).contains(webShare), (0...1).contains(uprightShare), (0...1).contains(shapeSwapShare),
              (0...1).contains(blurInputShare) else {
            throw CLIError("--degraded-share, --web-share, --upright-share, --shape-swap-share and --blur-input-share are shares in [0, 1]")
        }
        if let multiObjectShare {
            guard multiObjectShare.isFinite, (0...1).contains(multiObjectShare) else { throw CLIError("--multi-object-share: a share in [0, 1] (got \(multiObjectShare))") }
            guard maxObjects >= 2 else { throw CLIError("--multi-object-share needs --max-objects 2 or 3 (got \(maxObjects): every scene has one object)") }
        }
        guard shapeSwapShare == 0 || blurInputShare == 0 else { throw CLIError("--shape-swap-share and --blur-input-share alter the same inputs; use one") }
        let render = RenderConfig(frames: o.model.frames, height: pixelHeight, width: pixelWidth, fps: 8)
        let pixelSource = ShapeWorldSource(stream: ClipStream(config: render, seed: seed, degradedShare: degradedShare, maxObjects: maxObjects,
                                                           multiObjectShare: multiObjectShare, uprightShare: uprightShare),
                                       webShare: webShare, shapeSwapShare: shapeSwapShare, blurShare: blurInputShare, blurSigma: sLo...sHi)
        let source: CaptionedClipSource = try codec.map {
            LatentClipSource(pixels: pixelSource, codec: $0, ctx: try ComputeContext(threads: threads), frames: o.model.frames)
        } ?? pixelSource
        let dir = URL(fileURLWithPath: out)
        // The data mix is the source's, not the trainer's: recorded beside the options. A run that resumes
        // must draw from the same stream, so a checkpointed run with another recorded mix is refused.
        // (Through the shortest decimal text of the Float, so 0.33 reads 0.33, not 0.33000001311302185.)
        func decimal(_ v: Float) -> Double { Double("\(v)") ?? Double(v) }
        var mix: [String: Double] = ["degradedShare": decimal(degradedShare), "webShare": decimal(webShare), "maxObjects": Double(maxObjects)]
        if let multiObjectShare { mix["multiObjectShare"] = decimal(multiObjectShare) }   // absent for the world's own split
        if uprightShare > 0 { mix["uprightShare"] = decimal(uprightShare) }   // absent at 0, as in the runs before it existed
        if let codec { mix["latentChannels"] = Double(codec.autoencoder.config.latentChannels); mix["latentStdSum"] = Double(codec.std.reduce(0, +)) }
        if shapeSwapShare > 0 { mix["shapeSwapShare"] = decimal(shapeSwapShare) }
        if blurInputShare > 0 { mix["blurInputShare"] = decimal(blurInputShare); mix["blurInputSigmaLow"] = decimal(sLo); mix["blurInputSigmaHigh"] = decimal(sHi) }
        let mixURL = dir.appendingPathComponent("data-mix.json")
        let run = try Pretrainer(options: o, source: source, directory: dir)
        if FileManager.default.fileExists(atPath: run.checkpointURL.path), let data = try? Data(contentsOf: mixURL),
           let recorded = try? JSONDecoder().decode([String: Double].self, from: data), recorded != mix {
            func text(_ m: [String: Double]) -> String { m.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ") }
            throw CLIError("\(out) was trained on the data mix (\(text(recorded))) and this command asks for (\(text(mix))); resume with the same --degraded-share, --web-share, --max-objects, --multi-object-share, --upright-share, --shape-swap-share and --blur-input-share / --blur-input-sigma, or use a new --out")
        }
        // The same for the trainer's options: a resumed run continues exactly only with the options its
        // checkpoint was trained with (threads, lanes and checkpoint spacing may change).
        let optionsURL = dir.appendingPathComponent("options.json")
        if FileManager.default.fileExists(atPath: run.checkpointURL.path), let data = try? Data(contentsOf: optionsURL),
           let recorded = try? JSONDecoder().decode(PretrainOptions.self, from: data) {
            let changed = try o.changedKeys(from: recorded)
            guard changed.isEmpty else {
                throw CLIError("\(out) was trained with other options (these differ from \(optionsURL.path): \(changed.joined(separator: ", "))); resume with the options it was started with, or use a new --out")
            }
        }
        let encoder = JSONEncoder(); encoder.outputFormatting = [.sortedKeys]   // the same options, the same bytes
        try encoder.encode(o).write(to: optionsURL, options: .atomic)
        try encoder.encode(mix).write(to: mixURL, options: .atomic)
        let start = Date()
        let tty = isatty(2) != 0
        var avg: Float = 0
        var firstStep: Int?
        var stderr = StandardError()
        let trainer = try run.run(progress: { line in
            avg = avg == 0 ? line.loss : 0.98 * avg + 0.02 * line.loss
            // Steps per second of this process (a resumed run started at a later step).
            firstStep = firstStep ?? line.step - 1
            let done = Double(line.step), rate = Double(line.step - firstStep!) / max(Date().timeIntervalSince(start), 1e-9)
            let eta = rate > 0 ? (Double(o.steps) - done) / rate : 0
            var text = String(format: "step %d/%d  loss %.4f (avg %.4f)  |g| %.3f  lr %.2e  %.2f samples/s  ETA %@",
                              line.step, o.steps, line.loss, avg, line.gradNorm, line.learningRate, line.samplesPerSecond, formatDuration(eta))
            if let ce = line.shapeHeadLoss, let acc = line.shapeHeadAccuracy {
                text += String(format: "  shape head %.3f nats, %.2f right", ce, acc)
            }
            if let ce = line.classifierLoss, let acc = line.classifierAccuracy {
                text += String(format: "  classifier on x0 %.3f nats, %.2f right", ce, acc)
            }
            if let ce = line.maskHeadLoss, let iou = line.maskHeadIoU {
                text += String(format: "  mask head %.3f nats, IoU %.2f", ce, iou)
            }
            if tty { print("\r" + text, terminator: "", to: &stderr) } else if line.step % 10 == 0 || line.step == o.steps { print(text, to: &stderr) }
        }, shouldStop: { timeLimit.map { Date().timeIntervalSince(start) > $0 } ?? false })
        if tty { print("", to: &stderr) }
        if let export, trainer.optimizer.step >= o.steps {
            // The export's directory may not exist yet (the base run lost its first export that way).
            try FileManager.default.createDirectory(at: URL(fileURLWithPath: export).deletingLastPathComponent(), withIntermediateDirectories: true)
            var extra = ["vgrt.stage": "pretrain", "vgrt.steps": String(o.steps)]
            if let autoencoder { extra["vgrt.autoencoder_file"] = autoencoder }
            try run.exportModel(trainer, to: URL(fileURLWithPath: export), extra: extra)
            print("wrote \(export)")
        }
        print("step \(trainer.optimizer.step)/\(o.steps); checkpoint \(run.checkpointURL.path)")
    }
}

struct StandardError: TextOutputStream {
    mutating func write(_ string: String) { FileHandle.standardError.write(Data(string.utf8)) }
}

func formatDuration(_ s: Double) -> String {
    let t = Int(s.rounded())
    return t >= 3600 ? "\(t / 3600)h\(String(format: "%02d", t % 3600 / 60))m" : "\(t / 60)m\(String(format: "%02d", t % 60))s"
}

import Foundation
import VGCore
import VGFormat
import VGModel
import VGText

/// Where training examples come from: the i-th clip (written into `clip`, [F, H, W, 3] in [-1, 1]) and
/// its caption. Index-addressable, so a run can resume at any position and reproduce it exactly.
/// Every answer depends on the example index alone, and the methods are called for different
/// examples from several threads at once (`BatchBuilder`), so a source keeps no mutable state.
public protocol CaptionedClipSource: Sendable {
    func example(_ index: Int, into clip: Tensor) throws -> String
    /// Writes where example `index`'s objects are (`[F, H, W]` coverage in [0, 1]) into `coverage`;
    /// returns false when the source does not know (the default), and the sample is weighted evenly.
    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool
    /// `count` more clean clips that example `index`'s caption (or, when `captionDropped`, the empty
    /// caption) describes as well as it describes the example, for the pure-noise target (see
    /// `CaptionDraws`); nil when the source cannot tell (the default), e.g. for web captions that may be wrong.
    func captionDraws(_ index: Int, captionDropped: Bool, count: Int) -> CaptionDraws?
    /// Writes another clean clip for example `index` that training noises into the input in place of
    /// the example at high levels (`TrainingSample.alteredInput`) into `clip`; returns false when the
    /// example has none (the default).
    func alteredInput(_ index: Int, into clip: Tensor) throws -> Bool
    /// Writes which shape each position of example `index` shows (class index in `ShapeKind` order,
    /// -1 on background, `[F, H, W]`) into `map`, the token shape head's labels; returns false when
    /// the source does not know (the default).
    func shapeMap(_ index: Int, into map: Tensor) throws -> Bool
    /// Writes example `index`'s object coverage at the rendered pixels' resolution (`[F, r·H, r·W]`
    /// for a latent source) into `coverage`, the token mask head's targets; returns false when the
    /// source does not know (the default).
    func pixelCoverage(_ index: Int, into coverage: Tensor) throws -> Bool
    /// The shape (`ShapeKind` index) of example `index`'s one object, or nil when its scene has
    /// several objects or none (the classifier term's label).
    func shapeLabel(_ index: Int) throws -> Int?
    /// The objects of example `index`'s scene for the classifier term's reading of each object
    /// (`ClassifierOutlineLoss.Object`: label, window and context at the model's clip size), when the
    /// scene has several objects and a caption that names their shapes; empty otherwise (the default).
    func classifierObjects(_ index: Int) throws -> [ClassifierOutlineLoss.Object]
}

extension CaptionedClipSource {
    public func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool { false }
    public func captionDraws(_ index: Int, captionDropped: Bool, count: Int) -> CaptionDraws? { nil }
    public func alteredInput(_ index: Int, into clip: Tensor) throws -> Bool { false }
    public func shapeMap(_ index: Int, into map: Tensor) throws -> Bool { false }
    public func pixelCoverage(_ index: Int, into coverage: Tensor) throws -> Bool { false }
    public func shapeLabel(_ index: Int) throws -> Int? { nil }
    public func classifierObjects(_ index: Int) throws -> [ClassifierOutlineLoss.Object] { [] }
}

extension PretrainOptions {
    /// Options a resumed run may change: they decide how the work is spread over threads and how
    /// often it is saved, not what is computed (lanes change only the order of a sum).
    public static let resumableKeys: Set<String> = ["threads", "lanes", "checkpointEvery"]

    /// The top-level options (JSON keys) in which `self`, a run's new options, differs from
    /// `recorded`, the options its checkpoint was trained with, leaving out `resumableKeys`; empty
    /// when the run can resume exactly. Compared through their JSON encodings, so a field that an
    /// older options file lacks counts as its default.
    public func changedKeys(from recorded: PretrainOptions) throws -> [String] {
        func fields(_ o: PretrainOptions) throws -> [String: Any] {
            let data = try JSONEncoder().encode(o)
            guard let d = try JSONSerialization.jsonObject(with: data) as? [String: Any] else { return [:] }
            return d
        }
        // One field as canonical JSON (sorted keys), so nested sections compare by value.
        func canonical(_ v: Any?) throws -> Data? {
            guard let v else { return nil }
            return try JSONSerialization.data(withJSONObject: [v], options: [.sortedKeys])
        }
        let a = try fields(recorded), b = try fields(self)
        let keys = Set(a.keys).union(b.keys).subtracting(Self.resumableKeys)
        return try keys.filter { try canonical(a[$0]) != canonical(b[$0]) }.sorted()
    }
}

/// Settings of a pretraining (or fine-tuning) run, stored beside its outputs.
/// Settings of the classifier term (`ClassifierOutlineLoss`) of a pretraining run.
public struct ClassifierTermOptions: Codable, Equatable, Sendable {
    /// The frozen shape classifier's file (`vgtrain shape-classifier`).
    public var file: String
    /// γ, e.g. 0.1.
    public var weight: Float
    /// Highest noise level that gets the term, e.g. 1.
    public var maxLevel: Float = 1
    /// Whether multi-object scenes get the term on each object (`ClassifierOutlineLoss.Object`); nil
    /// or false: single-object scenes only (absent from the options files of the runs before it).
    public var eachObject: Bool?
    /// γ_o, the weight of the term on each object (`ClassifierOutlineLoss.objectWeight`); nil = γ
    /// (absent from the options files of the runs before it).
    public var objectWeight: Float?
    public init(file: String, weight: Float, maxLevel: Float = 1, eachObject: Bool? = nil, objectWeight: Float? = nil) {
        self.file = file; self.weight = weight; self.maxLevel = maxLevel; self.eachObject = eachObject; self.objectWeight = objectWeight
    }

    public func validate() throws {
        guard !file.isEmpty, weight.isFinite, weight > 0, maxLevel.isFinite, maxLevel > 0, maxLevel <= 1 else {
            throw ModelError.invalidConfig("pretrain options: the classifier term needs a file, a finite weight > 0 and a highest level in (0, 1]")
        }
        if let w = objectWeight {
            guard w.isFinite, w > 0, eachObject == true else {
                throw ModelError.invalidConfig("pretrain options: the classifier term's object weight must be finite and > 0, and needs the term on each object")
            }
        }
    }
}

public struct PretrainOptions: Codable, Sendable {
    public var model: ModelConfig = ModelConfig()
    public var optimizer: OptimizerConfig = OptimizerConfig()
    /// Samples per optimizer step (gradient accumulation over single samples), e.g. 8.
    public var batchSize: Int = 8
    /// Optimizer steps, e.g. 3000.
    public var steps: Int = 3000
    /// Seed of the noise / noise-level stream and of the caption dropout.
    public var seed: UInt64 = 1
    /// Share of examples whose caption is replaced by the empty prompt (for classifier-free guidance), e.g. 0.1.
    public var captionDropout: Float = 0.1
    /// Write a checkpoint every this many steps, e.g. 100.
    public var checkpointEvery: Int = 100
    /// Captions the tokenizer is trained on (the first N examples of the source), e.g. 20000.
    public var tokenizerCorpus: Int = 20_000
    /// Threads of the compute context.
    public var threads: Int = 2
    /// Data-parallel lanes of a step (each single-threaded; 1 = samples one after the other on
    /// `threads` threads). Lanes change only the order in which gradients are summed.
    public var lanes: Int = 1
    /// How noise levels are drawn (the first base run used the default, a plain logit-normal).
    public var noiseLevels = NoiseLevelDistribution()
    /// Exported weights (safetensors with config and tokenizer) to start from instead of a random
    /// initialisation: a warm start with a fresh optimizer, e.g. a second pretraining phase.
    public var initialWeights: String?
    /// Extra loss weight λ on object pixels (w = 1 + λ · coverage; 0 = the plain mean, as in phases 1-3).
    public var objectWeight: Float = 0
    /// λ for noise levels at or above `objectWeightHighFrom` (nil: `objectWeight` everywhere).
    public var objectWeightHigh: Float?
    /// Where `objectWeightHigh` starts, e.g. 0.9.
    public var objectWeightHighFrom: Float = 0.9
    /// How a fresh model's weights start (options files from before this field decode as `.gpt2`,
    /// the rule those runs used).
    public var initialization: WeightInitialization = .xavier
    /// Clips averaged into the target of a pure-noise (s = 1) sample besides its own, drawn from what
    /// its caption says (`CaptionDraws`), e.g. 15; 0 = the sample's own clip, as in phases 1-13.
    public var pureNoiseDraws: Int = 0
    /// Weight μ of the outline term (`EdgeLoss`, the error of neighbouring pixels' differences), e.g. 1;
    /// 0 = the loss of phases 1-24.
    public var edgeWeight: Float = 0
    /// Lowest noise level at which the source's altered inputs (`CaptionedClipSource.alteredInput`)
    /// replace the examples in the model's input, e.g. 0.6; nil = never (phases 1-30).
    public var alteredInputFrom: Float?
    /// Inputs from the model's own sampling path for a share of the mid levels (`RolloutInputs`);
    /// nil = none (phases 1-35).
    public var rollout: RolloutInputs?
    /// Weight β of the token shape head's cross-entropy (`ShapeHead`), for a model config with
    /// `shapeHeadClasses` > 0, e.g. 0.1; 0 = no head (phases 1-45).
    public var shapeHeadWeight: Float = 0
    /// Weight of the token mask head's binary cross-entropy (`MaskHead`), for a model config with
    /// `maskHeadValues` > 0, e.g. 0.3; 0 = no head.
    public var maskHeadWeight: Float = 0
    /// The classifier term on x̂0 (`ClassifierOutlineLoss`); nil = none (phases 1-53).
    public var classifierTerm: ClassifierTermOptions?
    public init() {}

    /// Whether any level weights object pixels (then the source's coverage maps are needed).
    var usesObjectCoverage: Bool { objectWeight > 0 || (objectWeightHigh ?? 0) > 0 }

    enum CodingKeys: String, CodingKey {
        case model, optimizer, batchSize, steps, seed, captionDropout, checkpointEvery, tokenizerCorpus, threads, lanes, noiseLevels, initialWeights, objectWeight
        case objectWeightHigh, objectWeightHighFrom, initialization, pureNoiseDraws, edgeWeight, alteredInputFrom, rollout, shapeHeadWeight, maskHeadWeight
        case classifierTerm
    }

    /// Decodes options files written before `lanes` / `noiseLevels` / `initialWeights` existed too.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        model = try c.decode(ModelConfig.self, forKey: .model)
        optimizer = try c.decode(OptimizerConfig.self, forKey: .optimizer)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        steps = try c.decode(Int.self, forKey: .steps)
        seed = try c.decode(UInt64.self, forKey: .seed)
        captionDropout = try c.decode(Float.self, forKey: .captionDropout)
        checkpointEvery = try c.decode(Int.self, forKey: .checkpointEvery)
        tokenizerCorpus = try c.decode(Int.self, forKey: .tokenizerCorpus)
        threads = try c.decode(Int.self, forKey: .threads)
        lanes = try c.decodeIfPresent(Int.self, forKey: .lanes) ?? 1
        noiseLevels = try c.decodeIfPresent(NoiseLevelDistribution.self, forKey: .noiseLevels) ?? NoiseLevelDistribution()
        initialWeights = try c.decodeIfPresent(String.self, forKey: .initialWeights)
        objectWeight = try c.decodeIfPresent(Float.self, forKey: .objectWeight) ?? 0
        objectWeightHigh = try c.decodeIfPresent(Float.self, forKey: .objectWeightHigh)
        objectWeightHighFrom = try c.decodeIfPresent(Float.self, forKey: .objectWeightHighFrom) ?? 0.9
        initialization = try c.decodeIfPresent(WeightInitialization.self, forKey: .initialization) ?? .gpt2
        pureNoiseDraws = try c.decodeIfPresent(Int.self, forKey: .pureNoiseDraws) ?? 0
        edgeWeight = try c.decodeIfPresent(Float.self, forKey: .edgeWeight) ?? 0
        alteredInputFrom = try c.decodeIfPresent(Float.self, forKey: .alteredInputFrom)
        rollout = try c.decodeIfPresent(RolloutInputs.self, forKey: .rollout)
        shapeHeadWeight = try c.decodeIfPresent(Float.self, forKey: .shapeHeadWeight) ?? 0
        maskHeadWeight = try c.decodeIfPresent(Float.self, forKey: .maskHeadWeight) ?? 0
        classifierTerm = try c.decodeIfPresent(ClassifierTermOptions.self, forKey: .classifierTerm)
    }

    public func validate() throws {
        try model.validate()
        guard batchSize >= 1, steps >= 1, checkpointEvery >= 1, tokenizerCorpus >= 1, (1...256).contains(threads),
              (0...1).contains(captionDropout) else {
            throw ModelError.invalidConfig("pretrain options: batch, steps, checkpointEvery, tokenizerCorpus must be >= 1, threads 1...256, dropout in [0, 1]")
        }
        try noiseLevels.validate()
        guard (1...64).contains(lanes) else { throw ModelError.invalidConfig("pretrain options: lanes must be 1...64") }
        guard (0...1024).contains(pureNoiseDraws) else { throw ModelError.invalidConfig("pretrain options: pureNoiseDraws must be 0...1024") }
        guard objectWeight.isFinite, objectWeight >= 0 else { throw ModelError.invalidConfig("pretrain options: objectWeight must be finite and >= 0") }
        guard edgeWeight.isFinite, edgeWeight >= 0 else { throw ModelError.invalidConfig("pretrain options: edgeWeight must be finite and >= 0") }
        if let from = alteredInputFrom, !(from.isFinite && (0...1).contains(from)) {
            throw ModelError.invalidConfig("pretrain options: alteredInputFrom must be in [0, 1]")
        }
        try rollout?.validate()
        try classifierTerm?.validate()
        guard shapeHeadWeight.isFinite, shapeHeadWeight >= 0, (shapeHeadWeight > 0) == (model.shapeHeadClasses > 0) else {
            throw ModelError.invalidConfig("pretrain options: shapeHeadWeight must be finite and > 0 exactly when the model config has a shape head (shapeHeadClasses > 0)")
        }
        guard maskHeadWeight.isFinite, maskHeadWeight >= 0, (maskHeadWeight > 0) == (model.maskHeadValues > 0) else {
            throw ModelError.invalidConfig("pretrain options: maskHeadWeight must be finite and > 0 exactly when the model config has a mask head (maskHeadValues > 0)")
        }
        if let h = objectWeightHigh {
            guard h.isFinite, h >= 0, objectWeightHighFrom.isFinite, (0...1).contains(objectWeightHighFrom) else {
                throw ModelError.invalidConfig("pretrain options: objectWeightHigh must be finite and >= 0, objectWeightHighFrom in [0, 1]")
            }
        }
    }
}

/// One line of the training log (JSON Lines in `train-log.jsonl`, one per step).
public struct TrainLogLine: Codable, Sendable {
    public var step: Int, loss: Float, gradNorm: Float, learningRate: Float, samplesPerSecond: Double, elapsed: Double
    /// The token shape head's mean cross-entropy and accuracy over the step's labelled tokens, and its
    /// accuracy at levels s >= 0.6 (absent without a head; `ShapeHead.Summary`).
    public var shapeHeadLoss: Float? = nil, shapeHeadAccuracy: Float? = nil, shapeHeadAccuracyHigh: Float? = nil
    /// The classifier term's mean cross-entropy per frame and its accuracy on x̂0 (all levels, s >= 0.6).
    public var classifierLoss: Float? = nil, classifierAccuracy: Float? = nil, classifierAccuracyHigh: Float? = nil
    /// The token mask head's mean binary cross-entropy per value and the intersection over union of
    /// its masks, also at s >= 0.6 (absent without a head; `MaskHead.Summary`).
    public var maskHeadLoss: Float? = nil, maskHeadIoU: Float? = nil, maskHeadIoUHigh: Float? = nil
}

/// A pretraining run: trains the tokenizer on the source's captions (or reuses the one in the
/// checkpoint), then runs flow-matching steps over the source in order, writing a checkpoint every
/// `checkpointEvery` steps (atomic) and resuming exactly from it when restarted.
public final class Pretrainer {
    public let options: PretrainOptions
    public let source: CaptionedClipSource
    public let directory: URL
    public var checkpointURL: URL { directory.appendingPathComponent("checkpoint.safetensors") }
    public var logURL: URL { directory.appendingPathComponent("train-log.jsonl") }

    public init(options: PretrainOptions, source: CaptionedClipSource, directory: URL) throws {
        try options.validate()
        self.options = options
        self.source = source
        self.directory = directory
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
    }

    /// Trains a byte-level BPE tokenizer on the first `tokenizerCorpus` captions.
    public func trainTokenizer() throws -> BPETokenizer {
        let clip = try Tensor(zeros: [options.model.frames, options.model.height, options.model.width, options.model.channels])
        let corpus = try (0..<options.tokenizerCorpus).map { try source.example($0, into: clip) }
        return BPETokenizer.train(corpus: corpus, vocabSize: options.model.vocabSize)
    }

    /// Runs until `options.steps` (or `shouldStop` answers true between steps); returns the trainer.
    /// `progress` gets every step's log line (the CLI prints it on stderr).
    @discardableResult
    public func run(progress: (TrainLogLine) -> Void = { _ in }, shouldStop: () -> Bool = { false }) throws -> FlowMatchingTrainer {
        let o = options, c = o.model
        let ctx = try ComputeContext(threads: o.threads)
        let trainer: FlowMatchingTrainer, tokenizer: BPETokenizer
        var position: Int
        if FileManager.default.fileExists(atPath: checkpointURL.path) {
            let (t, state) = try TrainingCheckpoint.restore(checkpointURL, context: ctx)
            guard state.config == c else { throw ModelError.invalidConfig("checkpoint config differs from the run's config") }
            guard let tj = state.tokenizer else { throw ModelError.badParameter("checkpoint has no tokenizer") }
            trainer = t; tokenizer = try BPETokenizer(jsonString: tj); position = state.dataPosition
            try trimLog(after: trainer.optimizer.step)
        } else {
            let p: ParameterSet
            if let path = o.initialWeights {
                // Warm start: the weights and the tokenizer come from the file; the optimizer starts fresh.
                let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))
                let (fc, fp) = try TrainingCheckpoint.loadWeights(file)
                var same = fc
                same.videoPositionEmbedding = c.videoPositionEmbedding
                same.maxTextTokens = c.maxTextTokens
                same.refinerChannels = c.refinerChannels
                same.refinerFeatures = c.refinerFeatures
                same.depth = c.depth
                same.shapeHeadClasses = c.shapeHeadClasses; same.shapeHeadBlock = c.shapeHeadBlock
                same.maskHeadValues = c.maskHeadValues
                // A model moved onto another clip representation (RGB pixels to a latent autoencoder's
                // grid) or other patches: everything but the patch embedding and the final linear
                // carries over; with another token grid (finer patches) the video position table
                // starts as a fresh model's too (the rotary table follows the config by itself).
                let newInputs = (fc.channels, fc.height, fc.width, fc.patchH, fc.patchW) != (c.channels, c.height, c.width, c.patchH, c.patchW)
                let newGrid = fc.grid != c.grid
                if newInputs {
                    guard fc.refinerChannels == 0, c.refinerChannels == 0, fc.patchT == c.patchT, fc.frames == c.frames else {
                        throw ModelError.invalidConfig("\(path): another clip representation or patch keeps the frames and the temporal patch and needs no output refiner")
                    }
                    same.channels = c.channels; same.height = c.height; same.width = c.width; same.patchH = c.patchH; same.patchW = c.patchW
                }
                guard same == c, !fc.videoPositionEmbedding || c.videoPositionEmbedding, fc.maxTextTokens <= c.maxTextTokens,
                      fc.depth > 0, fc.depth <= c.depth, c.depth % fc.depth == 0,
                      fc.refinerChannels == 0 || fc.refinerChannels == c.refinerChannels,
                      fc.refinerFeatures == 0 || fc.refinerFeatures == c.refinerFeatures,
                      fc.shapeHeadClasses == 0 || (fc.shapeHeadClasses, fc.shapeHeadBlock) == (c.shapeHeadClasses, c.shapeHeadBlock),
                      fc.maskHeadValues == 0 || fc.maskHeadValues == c.maskHeadValues else {
                    throw ModelError.invalidConfig("\(path) has another model config than the run's")
                }
                guard let tj = file.metadata[TrainingCheckpoint.tokenizerKey] else { throw ModelError.badParameter("\(path) has no tokenizer") }
                tokenizer = try BPETokenizer(jsonString: tj)
                if fc == c {
                    p = fp
                } else {
                    // Adding the video position embedding to a model without one: the table starts at
                    // zero, so the warm-started model computes exactly what the file's did. A longer
                    // text limit keeps the file's text positions and initialises the new rows like a
                    // fresh model's (Gaussian, std 0.02): prompts that fit the old limit are encoded as before.
                    p = try ParameterSet(config: c)
                    let textPositions = "text.position_embedding"
                    let widenedConv1 = "refiner.conv1.weight"
                    // A deeper run (depth a multiple k of the file's) puts the file's block i at k·i; the
                    // blocks between start as a fresh model's with their three output projections
                    // (self-attention, cross-attention, MLP) at zero, so each new block is the identity
                    // and the start computes what the file did. (The adaLN gates cannot do it: adaLN-single
                    // shares one trained projection among the blocks, so a new block's gates are not zero.)
                    let stride = c.depth / fc.depth
                    func renamed(_ name: String) -> String {
                        guard stride > 1, name.hasPrefix("blocks.") else { return name }
                        let rest = name.dropFirst("blocks.".count)
                        guard let dot = rest.firstIndex(of: "."), let i = Int(rest[..<dot]) else { return name }
                        return "blocks.\(i * stride)" + rest[dot...]
                    }
                    // With new clip inputs the patch embedding and the final linear start as a fresh
                    // model's (the final linear at zero: the start predicts the latents' mean).
                    var reshaped: Set<String> = newInputs ? ["patch_embed.weight", "final.linear.weight", "final.linear.bias"] : []
                    if newGrid { reshaped.insert("pos_embedding") }
                    for name in fp.names where name != textPositions && !(name == widenedConv1 && fc.refinerFeatures != c.refinerFeatures)
                        && !reshaped.contains(name) {
                        try p.set(renamed(name), from: try fp.tensor(name))
                    }
                    let old = try fp.tensor(textPositions).floats, new = try p.tensor(textPositions).floats
                    var rng = SeededRandom(seed: o.seed ^ 0x7E47)
                    rng.fillGaussian(new, scale: 0.02)
                    for i in 0..<old.count { new[i] = old[i] }
                    // A new output refiner starts as a fresh model's does (its last convolution at zero),
                    // so the warm-started model computes exactly what the file's did.
                    func startFresh(_ prefix: String, seed: UInt64) throws {
                        let fresh = try ParameterSet(config: c)
                        try FlowMatchingTrainer.initialize(fresh, seed: o.seed ^ seed, scheme: o.initialization)
                        for name in fresh.names where name.hasPrefix(prefix) { try p.set(name, from: try fresh.tensor(name)) }
                    }
                    if newInputs {
                        try startFresh("patch_embed.weight", seed: 0x1A7E)
                        try startFresh("final.linear.", seed: 0x1A7F)
                    }
                    if newGrid && c.videoPositionEmbedding { try startFresh("pos_embedding", seed: 0x1A80) }
                    if stride > 1 {
                        for j in 0..<c.depth where j % stride != 0 {
                            try startFresh("blocks.\(j).", seed: 0xDE9E)
                            for out in ["attn.out", "cross.out", "mlp.fc2"] {
                                for name in p.names where name.hasPrefix("blocks.\(j).\(out).") { try p.tensor(name).fill(0) }
                            }
                        }
                    }
                    if fc.refinerChannels == 0 && c.refinerChannels > 0 {
                        try startFresh("refiner.", seed: 0x4EF1)
                    } else if fc.refinerFeatures == 0 && c.refinerFeatures > 0 {
                        // Features for a trained refiner: `refiner.features` starts as a fresh model's
                        // and the first convolution keeps its trained columns, with zeros for the new
                        // feature channels, so the model computes exactly what the file's did and the
                        // zero columns still get gradients (the features are not zero).
                        try startFresh("refiner.features", seed: 0x4EF2)
                        let old = try fp.tensor(widenedConv1).floats, new = try p.tensor(widenedConv1).floats
                        let oldIn = OutputRefiner.inputChannels, newIn = c.refinerInputChannels
                        new.update(repeating: 0)
                        for out in 0..<c.refinerChannels { for slot in 0..<9 { for ch in 0..<oldIn {
                            new[(out * 9 + slot) * newIn + ch] = old[(out * 9 + slot) * oldIn + ch]
                        } } }
                    }
                }
            } else {
                tokenizer = try trainTokenizer()
                p = try ParameterSet(config: c)
                try FlowMatchingTrainer.initialize(p, seed: o.seed, scheme: o.initialization)
            }
            trainer = try FlowMatchingTrainer(config: c, params: p, optimizer: o.optimizer, context: ctx, seed: o.seed)
            position = 0
            try? FileManager.default.removeItem(at: logURL)
        }
        trainer.noiseLevels = o.noiseLevels
        trainer.objectWeight = o.objectWeight
        trainer.highNoiseObjectWeight = o.objectWeightHigh.map { ($0, o.objectWeightHighFrom) }
        trainer.edgeWeight = o.edgeWeight
        trainer.alteredInputFrom = o.alteredInputFrom
        trainer.rollout = o.rollout
        trainer.shapeHeadWeight = o.shapeHeadWeight
        trainer.maskHeadWeight = o.maskHeadWeight
        if let t = o.classifierTerm {
            let classifier: LatentShapeClassifier
            do { classifier = try LatentShapeClassifier.load(URL(fileURLWithPath: t.file)) } catch {
                throw ModelError.invalidConfig("classifier term: \(t.file): \(error)")
            }
            let term = try ClassifierOutlineLoss(classifier: classifier, weight: t.weight, maxLevel: t.maxLevel, objectWeight: t.objectWeight)
            try term.check(c)
            trainer.classifierTerm = term
        }
        try trainer.useLanes(o.lanes)
        let tokenizerJSON = tokenizer.jsonString()
        let builder = try BatchBuilder(options: o, source: source, tokenizer: tokenizer)
        let start = Date()
        // The train log is the run's record: a run that cannot keep one stops here, before any step.
        if !FileManager.default.fileExists(atPath: logURL.path) {
            _ = FileManager.default.createFile(atPath: logURL.path, contents: nil)
        }
        guard let log = try? FileHandle(forWritingTo: logURL) else {
            throw VGError.invalidArgument("pretrain: cannot open the train log \(logURL.path) for writing")
        }
        defer { try? log.close() }
        _ = try? log.seekToEnd()
        var stepsThisRun = 0
        // Threads that build a step's examples: one per lane (or per compute thread), at most one per sample.
        let builders = max(1, min(o.batchSize, max(o.lanes, o.threads)))
        while trainer.optimizer.step < o.steps && !shouldStop() {
            let t0 = Date()
            let batch = try builder.batch(at: position, threads: builders)
            let stats = try trainer.step(batch)
            position += o.batchSize
            stepsThisRun += 1
            var line = TrainLogLine(step: trainer.optimizer.step, loss: stats.loss, gradNorm: stats.gradNorm, learningRate: stats.learningRate,
                                    samplesPerSecond: Double(o.batchSize) / Date().timeIntervalSince(t0), elapsed: Date().timeIntervalSince(start))
            if let h = stats.shapeHead, h.tokens > 0 {
                line.shapeHeadLoss = h.crossEntropy; line.shapeHeadAccuracy = h.accuracy; line.shapeHeadAccuracyHigh = h.accuracyHigh
            }
            if let t = trainer.classifierTerm?.takeSummary() {
                line.classifierLoss = t.crossEntropy; line.classifierAccuracy = t.accuracy; line.classifierAccuracyHigh = t.accuracyHigh
            }
            if let m = stats.maskHead, m.tokens > 0 {
                line.maskHeadLoss = m.crossEntropy; line.maskHeadIoU = m.iou; line.maskHeadIoUHigh = m.iouHigh
            }
            try log.write(contentsOf: try JSONEncoder().encode(line) + Data("\n".utf8))
            progress(line)
            if trainer.optimizer.step % o.checkpointEvery == 0 || trainer.optimizer.step == o.steps {
                try TrainingCheckpoint.save(trainer, dataPosition: position, tokenizer: tokenizerJSON, to: checkpointURL)
            }
        }
        if stepsThisRun > 0 { try TrainingCheckpoint.save(trainer, dataPosition: position, tokenizer: tokenizerJSON, to: checkpointURL) }
        return trainer
    }

    /// Drops the log's lines for steps after `step`, and any line that does not parse: a run killed
    /// between checkpoints wrote them (the last one perhaps half), and the resumed run writes those
    /// steps again. Rewritten atomically, and only when something is dropped.
    func trimLog(after step: Int) throws {
        guard let data = FileManager.default.contents(atPath: logURL.path) else { return }
        let decoder = JSONDecoder()
        var kept = Data()
        for line in data.split(separator: UInt8(ascii: "\n")) {
            guard let entry = try? decoder.decode(TrainLogLine.self, from: Data(line)), entry.step <= step else { continue }
            kept.append(contentsOf: line)
            kept.append(UInt8(ascii: "\n"))
        }
        if kept.count != data.count { try kept.write(to: logURL, options: .atomic) }
    }

    /// Writes the EMA weights (f16) with the config and tokenizer: the run's product.
    public func exportModel(_ trainer: FlowMatchingTrainer, to url: URL, extra: [String: String] = [:]) throws {
        let file = try SafeTensorsFile(contentsOf: checkpointURL)
        try TrainingCheckpoint.exportWeights(trainer.optimizer.ema ?? trainer.params, config: trainer.config,
                                             tokenizer: file.metadata[TrainingCheckpoint.tokenizerKey], asHalf: true, extra: extra, to: url)
    }
}

/// A pretraining step's samples: examples `position ..< position + batchSize` of the source with
/// everything the run's options ask of them, in buffers made once and reused every step.
///
/// The examples are built on several threads at once (each sample into its own buffers). Every
/// answer of a source depends on the example index alone, so the batch is the same bit for bit for
/// any thread count; captions are tokenized afterwards on the calling thread, in sample order.
final class BatchBuilder: @unchecked Sendable {
    let options: PretrainOptions
    let source: CaptionedClipSource
    let tokenizer: BPETokenizer
    let clips: [Tensor]             // [F, H, W, C] each
    let coverages: [Tensor]         // [F, H, W] each, when a level weights object pixels
    let shapeMaps: [Tensor]         // [F, H, W] each, with a token shape head
    let pixelCoverages: [Tensor]    // [F, r·H, r·W] each, with a token mask head (targets at the pixels' resolution)
    let altered: [Tensor]           // [F, H, W, C] each, with altered inputs

    init(options o: PretrainOptions, source: CaptionedClipSource, tokenizer: BPETokenizer) throws {
        let c = o.model, n = o.batchSize
        options = o; self.source = source; self.tokenizer = tokenizer
        clips = try (0..<n).map { _ in try Tensor(zeros: [c.frames, c.height, c.width, c.channels]) }
        coverages = o.usesObjectCoverage ? try (0..<n).map { _ in try Tensor(zeros: [c.frames, c.height, c.width]) } : []
        shapeMaps = c.shapeHeadClasses > 0 ? try (0..<n).map { _ in try Tensor(zeros: [c.frames, c.height, c.width]) } : []
        let r = MaskHead.pixelScale(c)
        pixelCoverages = c.maskHeadValues > 0 ? try (0..<n).map { _ in try Tensor(zeros: [c.frames, c.height * r, c.width * r]) } : []
        altered = o.alteredInputFrom != nil ? try (0..<n).map { _ in try Tensor(zeros: [c.frames, c.height, c.width, c.channels]) } : []
    }

    /// The samples of examples `position ..< position + batchSize`, built on `threads` threads; the
    /// first failure in sample order is thrown. The samples share this builder's buffers, so they
    /// are valid until the next call.
    func batch(at position: Int, threads: Int) throws -> [TrainingSample] {
        let o = options, c = o.model, n = o.batchSize, workers = max(1, min(threads, n))
        let slots = Slots(count: n)
        DispatchQueue.concurrentPerform(iterations: workers) { worker in
            for b in stride(from: worker, to: n, by: workers) {
                do { slots.values[b] = .built(try self.sample(position + b, slot: b)) } catch { slots.values[b] = .failed(error) }
            }
        }
        let empty: [Int32] = [BPETokenizer.bosID, BPETokenizer.eosID]
        return try (0..<n).map { b in
            guard case .built(let made) = slots.values[b] else {
                if case .failed(let error) = slots.values[b] { throw error }
                throw VGError.invalidArgument("pretrain: example \(position + b) was not built")
            }
            var sample = made.sample
            sample.tokens = made.dropped ? empty : try tokenizer.encode(made.caption, maxLength: c.maxTextTokens, addBos: true, addEos: true)
            return sample
        }
    }

    /// Example `index` into slot `b`'s buffers, with its caption (not yet tokenized) and whether the
    /// caption is dropped.
    private func sample(_ index: Int, slot b: Int) throws -> Made {
        let o = options, c = o.model
        let caption = try source.example(index, into: clips[b])
        // Caption dropout decided by the example index: reproducible and resume-safe.
        var r = SeededRandom(seed: o.seed ^ (UInt64(index) &* 0x9E37_79B9_7F4A_7C15))
        let drop = Float(r.uniform()) < o.captionDropout
        let known = o.usesObjectCoverage ? try source.objectCoverage(index, into: coverages[b]) : false
        let draws = o.pureNoiseDraws > 0 ? source.captionDraws(index, captionDropped: drop, count: o.pureNoiseDraws) : nil
        let swapped = o.alteredInputFrom != nil ? try source.alteredInput(index, into: altered[b]) : false
        let labelled = c.shapeHeadClasses > 0 ? try source.shapeMap(index, into: shapeMaps[b]) : false
        let masked = c.maskHeadValues > 0 ? try source.pixelCoverage(index, into: pixelCoverages[b]) : false
        let label = o.classifierTerm != nil && !drop ? try source.shapeLabel(index) : nil
        let objects = label == nil && !drop && o.classifierTerm?.eachObject == true ? try source.classifierObjects(index) : []
        return Made(caption: caption, dropped: drop, sample: TrainingSample(
            clip: clips[b], tokens: [], objectCoverage: known ? coverages[b] : nil, captionDraws: draws,
            alteredInput: swapped ? altered[b] : nil, shapeMap: labelled ? shapeMaps[b] : nil,
            pixelCoverage: masked ? pixelCoverages[b] : nil, shapeLabel: label, classifierObjects: objects))
    }

    struct Made { var caption: String, dropped: Bool, sample: TrainingSample }

    /// Per-sample slots the workers write (each sample its own slot; raw storage as in `LaneResults`).
    final class Slots: @unchecked Sendable {
        enum Value { case empty, built(Made), failed(Error) }
        let values: UnsafeMutableBufferPointer<Value>
        init(count: Int) { values = .allocate(capacity: count); values.initialize(repeating: .empty) }
        deinit { values.deinitialize(); values.deallocate() }
    }
}

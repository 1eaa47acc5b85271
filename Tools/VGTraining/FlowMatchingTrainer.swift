import Foundation
import VGCore
import VGModel

/// How training draws noise levels s in [0, 1] (s = 1 is pure noise).
///
/// s = shift_k(sigmoid(u)), u ~ N(mean, std), with the sampler's grid shift
/// shift_k(s) = k s / (1 + (k - 1) s) (SD3's resolution-dependent shift, arXiv 2403.03206); with
/// probability `tailShare`, s ~ U(tailFloor, 1) instead; and with probability `pureShare`, s = 1.
/// The tail and the pure-noise share exist because a 16 x 64 x 64 clip has ~196 000 values: its
/// background stays readable from the noisy clip itself up to s ~ 0.99, so only at s = 1 must the
/// model draw the layout from the prompt alone — where the sampler starts, and where a plain
/// logit-normal never trains (docs/PIPELINE.md, stage 0).
/// The default (k = 1, N(0, 1), no tail, no pure noise) is the plain logit-normal of the first base run.
public struct NoiseLevelDistribution: Codable, Equatable, Sendable {
    /// Shift k applied to sigmoid(u), e.g. 3 (1 = none).
    public var shift: Float = 1
    /// Mean and standard deviation of u, e.g. 0 and 1.
    public var mean: Float = 0, std: Float = 1
    /// Share of levels drawn uniformly from (tailFloor, 1), e.g. 0.15 (0 = none).
    public var tailShare: Float = 0
    /// Lower end of the uniform tail, e.g. 0.9.
    public var tailFloor: Float = 0.9
    /// Share of levels at exactly 1, pure noise, e.g. 0.1 (0 = none).
    public var pureShare: Float = 0
    public init(shift: Float = 1, mean: Float = 0, std: Float = 1, tailShare: Float = 0, tailFloor: Float = 0.9, pureShare: Float = 0) {
        self.shift = shift; self.mean = mean; self.std = std; self.tailShare = tailShare; self.tailFloor = tailFloor
        self.pureShare = pureShare
    }

    public func validate() throws {
        guard shift.isFinite, shift > 0, mean.isFinite, std.isFinite, std >= 0, (0...1).contains(tailShare), (0..<1).contains(tailFloor),
              (0...1).contains(pureShare), tailShare + pureShare <= 1 else {
            throw ModelError.invalidConfig("noise levels: shift > 0, finite mean, std >= 0, tailShare and pureShare in [0, 1] adding up to at most 1, tailFloor in [0, 1)")
        }
    }

    /// One level from `rng` (one Gaussian draw, plus two uniform draws when the tail or pure noise is on).
    public func sample(_ rng: inout SeededRandom) -> Float {
        if tailShare > 0 || pureShare > 0 {
            let pick = Float(rng.uniform()), u = Float(rng.uniform())
            if pick < pureShare { return 1 }
            if pick < pureShare + tailShare { return 1 - (1 - tailFloor) * u }         // (tailFloor, 1)
        }
        let base = 1 / (1 + Foundation.exp(-(mean + std * rng.gaussian())))
        return shift * base / (1 + (shift - 1) * base)
    }
}

/// Inputs from the model's own sampling path ("rollout inputs"), an exposure-bias remedy.
///
/// Flow-matching training shows the model x_s = (1 - s) x0 + s e, the truth under noise. Along a
/// sampling path the model sees something else at mid levels: the states its own earlier predictions
/// made, where objects are soft round blobs (docs/PIPELINE.md, "Session 18": from a noised truth the
/// base keeps a large star at s = 0.6, while sampling never draws one). For a share of the examples
/// whose drawn level s lies in `levels`, the trainer noises the truth to `start` instead, takes
/// `steps` Euler steps of the current model (prompted, no guidance, no gradient) from `start` down to s,
/// and trains at that state with the true clip as target: the model learns to turn its own mid-path
/// blobs into what the caption names. (Related: DREAM, Zhou et al. 2024, arXiv 2312.00210, which feeds
/// one step of the model's own estimate back into training.)
public struct RolloutInputs: Codable, Equatable, Sendable {
    /// Share of the examples in `levels` whose input is rolled out, e.g. 0.7.
    public var share: Float
    /// Level the rollout starts from (the truth noised to it), e.g. 0.95; above `levels`.
    public var start: Float
    /// Levels s whose inputs may be rolled out, e.g. 0.45...0.9.
    public var lowest: Float, highest: Float
    /// Euler steps from `start` to s (evenly spaced in s), e.g. 3.
    public var steps: Int
    public init(share: Float, start: Float = 0.95, lowest: Float = 0.45, highest: Float = 0.9, steps: Int = 3) {
        self.share = share; self.start = start; self.lowest = lowest; self.highest = highest; self.steps = steps
    }

    public func validate() throws {
        guard share.isFinite, (0...1).contains(share), start.isFinite, start <= 1, lowest.isFinite, highest.isFinite,
              lowest > 0, lowest <= highest, highest < start, (1...64).contains(steps) else {
            throw ModelError.invalidConfig("rollout inputs: share in [0, 1], 0 < lowest <= highest < start <= 1, steps 1...64")
        }
    }

    /// Whether level s may be rolled out.
    public func covers(_ s: Float) -> Bool { s >= lowest && s <= highest }
}

/// How a fresh model's matrices and embeddings start.
public enum WeightInitialization: String, Codable, Sendable, CaseIterable {
    /// Gaussian, std 0.02, for every matrix and embedding (GPT-2's rule): the base runs of phases 1-12.
    /// At width 192 it leaves attention near uniform and the cross-attention's addition to the
    /// residual stream at a few percent of it (docs/PIPELINE.md, "Why phases 9-12").
    case gpt2
    /// DiT's rule: xavier-uniform linears (std √(2 / (in + out)), 0.072 for a 192 x 192 matrix), the
    /// timestep MLP at std 0.02; text token embeddings at std 1 and text positions at std 0.5, the
    /// scale of what the pre-LN blocks add to them.
    case xavier

    /// The std of the patch embedding's weights, which sets the norm of the sin-cos position table.
    func patchEmbeddingStd(_ c: ModelConfig) -> Float {
        switch self {
        case .gpt2: return 0.02
        case .xavier: return (2 / Float(c.patchValues + c.modelWidth)).squareRoot()
        }
    }
}

/// One training example: a clip in [-1, 1], the token ids of its caption and, optionally, where its
/// objects are (for the object-weighted loss).
public struct TrainingSample: Sendable {
    public var clip: Tensor        // [F, H, W, 3]
    public var tokens: [Int32]     // [L], including bos / eos
    /// Object coverage per pixel in [0, 1] (nil: unknown, every pixel weighs the same).
    public var objectCoverage: Tensor?   // [F, H, W]
    /// More clean clips that the caption describes equally well, for the target at s = 1 (nil: the
    /// sample's own clip is the target at every level). See `CaptionDraws`.
    public var captionDraws: CaptionDraws?
    /// Another clean clip [F, H, W, 3] that is noised into the model's input in place of `clip` at
    /// levels s >= `FlowMatchingTrainer.alteredInputFrom`, while the target stays `clip` (nil: `clip`
    /// at every level), e.g. the same scene with its shapes swapped: the model learns to let the
    /// caption overrule what the noisy input seems to show.
    public var alteredInput: Tensor?
    /// Which shape each position shows: the class index (`ShapeKind` order) of the object covering
    /// it, or -1 on background, `[F, H, W]` (nil: unknown; the token shape head skips the sample).
    public var shapeMap: Tensor?
    /// Object coverage at the rendered pixels' resolution, `[F, r·H, r·W]` for a latent clip of an
    /// r-times downsampling autoencoder (nil: unknown; the token mask head skips the sample).
    public var pixelCoverage: Tensor?
    /// The shape (`ShapeKind` index) the caption names for the scene's one object (nil: no caption,
    /// several objects or unknown; the classifier term skips the sample).
    public var shapeLabel: Int?
    /// The objects of a multi-object scene that the classifier term reads one at a time (empty: none;
    /// a sample with a `shapeLabel` is read whole instead).
    public var classifierObjects: [ClassifierOutlineLoss.Object]
    public init(clip: Tensor, tokens: [Int32], objectCoverage: Tensor? = nil, captionDraws: CaptionDraws? = nil, alteredInput: Tensor? = nil,
                shapeMap: Tensor? = nil, pixelCoverage: Tensor? = nil, shapeLabel: Int? = nil,
                classifierObjects: [ClassifierOutlineLoss.Object] = []) {
        self.clip = clip; self.tokens = tokens; self.objectCoverage = objectCoverage; self.captionDraws = captionDraws
        self.alteredInput = alteredInput; self.shapeMap = shapeMap; self.pixelCoverage = pixelCoverage; self.shapeLabel = shapeLabel
        self.classifierObjects = classifierObjects
    }
}

/// Clean clips drawn from p(x0 | caption): scenes that the sample's caption describes as well as it
/// describes the sample (the same objects, colours, sizes, motions and start regions, placed anew
/// inside those regions; or any scene for an empty caption).
///
/// At s = 1 the noisy clip is pure noise and tells nothing about x0, so the best prediction is
/// E[x0 | caption], and the gradient of the squared error against one clip is that of the squared
/// error against E[x0 | caption] plus zero-mean noise from where in its region the object happens to
/// be. The trainer replaces the single clip by the weighted mean of the sample and its draws (the
/// weighted squared error against K + 1 clips is, up to a constant, the squared error against their
/// weighted mean with the mean weight), which keeps the expected gradient and removes most of that
/// noise. (It was built to help the start-position words, which only matter near s = 1; measured, it
/// is not what makes them read — a long plateau is: docs/PIPELINE.md, "Session 8".)
public struct CaptionDraws: Sendable {
    /// Number of draws besides the sample itself, e.g. 15.
    public var count: Int
    /// Writes draw k in 0..<count: a clean clip [F, H, W, 3] in [-1, 1] and its object coverage [F, H, W].
    public var draw: @Sendable (_ k: Int, _ clip: Tensor, _ coverage: Tensor) throws -> Void
    public init(count: Int, draw: @escaping @Sendable (_ k: Int, _ clip: Tensor, _ coverage: Tensor) throws -> Void) {
        self.count = count; self.draw = draw
    }
}

/// Flow-matching training of `VideoDiT` (../shared/ALGORITHMS.md §1, JiT's x-prediction with a
/// v-loss): draw s = sigmoid(u), u ~ N(0, 1) (logit-normal), noise e; x_s = (1 - s) x0 + s e; the model
/// predicts x0; the loss is |v_hat - v|² with v_hat = (x_s - x0_hat) / s and v = e - x0, which equals
/// |x0_hat - x0|² / s², with s clamped below at `minNoiseLevel`.
///
/// With `objectWeight` λ > 0 and a sample's object coverage c known, each value's squared error is
/// weighted by w = 1 + λ c and the loss is the weighted mean Σ w (x0_hat - x0)² / (Σ w s²): objects are
/// a few percent of a clip's pixels, so the plain mean barely rewards drawing them (docs/PIPELINE.md).
/// With λ = 0 or no coverage the loss is the plain mean, bit for bit.
///
/// Samples are processed one at a time and their gradients accumulate, so a batch of any size is
/// gradient accumulation over microbatches of one. With `useLanes(n)`, a step's samples are spread
/// over n lanes (sample i on lane i mod n), each a single-threaded worker with its own activations and
/// gradients, summed in lane order at the end: data parallelism inside one process, which keeps both
/// cores busy through the single-threaded element-wise parts that a threaded GEMM leaves idle. Levels
/// and noise are still drawn from the one stream in sample order, so the lane count changes only the
/// order in which gradients are summed (float rounding), and a run stays deterministic and resumable.
public final class FlowMatchingTrainer: @unchecked Sendable {
    public let config: ModelConfig
    public let params: ParameterSet
    public let grads: ParameterSet
    public let optimizer: AdamW
    public let ctx: ComputeContext
    /// The random stream of noise levels and noise; part of the resumable state.
    public var rng: SeededRandom
    /// How noise levels are drawn.
    public var noiseLevels = NoiseLevelDistribution()
    /// Extra loss weight λ on object pixels (w = 1 + λ · coverage), e.g. 4; 0 = the plain mean.
    public var objectWeight: Float = 0
    /// A different λ for noise levels s >= `from` (nil: `objectWeight` at every level), e.g. (20, 0.9):
    /// where only the prompt can tell an object's colour and place (docs/PIPELINE.md, phase 11).
    public var highNoiseObjectWeight: (weight: Float, from: Float)?
    /// Weight μ of the outline term (`EdgeLoss`): the loss becomes (Σ w (x̂ - x)² + μ Σ (Δe)²) / (Σ w s²),
    /// e.g. 1; 0 (the default) leaves the loss as it was, bit for bit.
    public var edgeWeight: Float = 0
    /// Lowest noise level at which a sample's `alteredInput` replaces its clip in the input, e.g. 0.6
    /// (nil, the default: never; the input is the noised target at every level, as in phases 1-30).
    public var alteredInputFrom: Float?
    /// Inputs from the model's own sampling path for a share of the mid levels (nil, the default:
    /// never; the noised clip at every level, as in phases 1-35). See `RolloutInputs`.
    public var rollout: RolloutInputs?
    /// Weight β of the token shape head's loss in the model's gradient (configs with
    /// `shapeHeadClasses` > 0): the head itself always learns from its cross-entropy, so β = 0 makes
    /// it a linear probe of the model's features that changes nothing else. See `ShapeHead`.
    public var shapeHeadWeight: Float = 0
    /// Weight of the token mask head's loss (configs with `maskHeadValues` > 0). See `MaskHead`.
    public var maskHeadWeight: Float = 0
    /// The classifier term on the clean-clip prediction (nil, the default: none, as in phases 1-53).
    /// See `ClassifierOutlineLoss`.
    public var classifierTerm: ClassifierOutlineLoss?

    /// The object weight λ at noise level s.
    public func objectWeight(at s: Float) -> Float {
        if let h = highNoiseObjectWeight, s >= h.from { return h.weight }
        return objectWeight
    }
    let acts: ModelActivations
    let backward: ModelBackward
    let noisy: Tensor, target: Tensor, dOutput: Tensor
    let weights: LossWeights
    let edges: EdgeScratch
    /// The x0 estimate of a rollout step [F, H, W, 3], made on first use.
    let rolloutScratch = RolloutScratch()
    /// The token shape and mask heads' buffers (nil without them).
    let shapeHead: ShapeHead?, maskHead: MaskHead?
    /// Lanes of data-parallel steps (empty: samples run one after the other on `ctx`).
    var lanes: [Lane] = []
    /// Per-sample noise drawn ahead of a multi-lane step.
    var noiseBuffers: [Tensor] = []

    /// The buffers of one data-parallel worker.
    final class Lane: @unchecked Sendable {
        let ctx: ComputeContext, acts: ModelActivations, backward: ModelBackward
        let noisy: Tensor, target: Tensor, dOutput: Tensor, grads: ParameterSet
        let weights: LossWeights
        let edges: EdgeScratch
        let rolloutScratch = RolloutScratch()
        let shapeHead: ShapeHead?, maskHead: MaskHead?
        init(config c: ModelConfig, ctx: ComputeContext, grads: ParameterSet) throws {
            self.ctx = ctx; self.grads = grads
            acts = try ModelActivations(config: c, saveForBackward: true)
            backward = try ModelBackward(config: c)
            noisy = try Tensor(zeros: [c.frames, c.height, c.width, c.channels])
            target = try Tensor(zeros: [c.tokens, c.patchValues]); dOutput = try Tensor(zeros: [c.tokens, c.patchValues])
            weights = try LossWeights(config: c)
            edges = try EdgeScratch(config: c)
            shapeHead = c.shapeHeadClasses > 0 ? try ShapeHead(config: c) : nil
            maskHead = c.maskHeadValues > 0 ? try MaskHead(config: c) : nil
        }
    }

    /// Spreads each step's samples over `count` single-threaded lanes (1: one after the other on the
    /// trainer's context, the default).
    public func useLanes(_ count: Int) throws {
        guard (1...64).contains(count) else { throw ModelError.badInput("lanes \(count) outside 1...64") }
        lanes = count == 1 ? [] : try (0..<count).map { i in
            try Lane(config: config, ctx: try ComputeContext(threads: 1), grads: i == 0 ? grads : try ParameterSet(config: config))
        }
    }

    /// Lanes in use (1 when samples run one after the other).
    public var laneCount: Int { max(1, lanes.count) }

    /// Statistics of one optimizer step.
    public struct StepStats: Sendable {
        public var loss: Float, gradNorm: Float, learningRate: Float, samples: Int
        /// The token shape head's figures over the step's samples (nil without a head).
        public var shapeHead: ShapeHead.Summary? = nil
        /// The token mask head's figures (nil without one).
        public var maskHead: MaskHead.Summary? = nil
    }

    public init(config: ModelConfig, params: ParameterSet, optimizer: OptimizerConfig, context: ComputeContext, seed: UInt64) throws {
        try config.validate()
        self.config = config
        self.params = params
        grads = try ParameterSet(config: config)
        self.optimizer = try AdamW(config: optimizer, modelConfig: config, initialWeights: params)
        ctx = context
        rng = SeededRandom(seed: seed)
        acts = try ModelActivations(config: config, saveForBackward: true)
        backward = try ModelBackward(config: config)
        noisy = try Tensor(zeros: [config.frames, config.height, config.width, config.channels])
        target = try Tensor(zeros: [config.tokens, config.patchValues])
        dOutput = try Tensor(zeros: [config.tokens, config.patchValues])
        weights = try LossWeights(config: config)
        edges = try EdgeScratch(config: config)
        shapeHead = config.shapeHeadClasses > 0 ? try ShapeHead(config: config) : nil
        maskHead = config.maskHeadValues > 0 ? try MaskHead(config: config) : nil
    }

    /// Initial weights under `scheme` (see `WeightInitialization`). Under both, norm scales start at
    /// one, biases at zero, and every adaLN projection and the final linear at zero (adaLN-Zero: each
    /// block starts as the identity and the model predicts 0); so does the output refiner's last
    /// convolution (the refiner starts as the identity). The video position table starts as a
    /// 3-D sin-cos table whose rows have the norm of the initial patch embedding of unit noise,
    /// σ_patch √(P D) (5.4 under `.gpt2` at the default config, 16 under `.xavier`), so that at high
    /// noise a token can tell where it is (docs/DESIGN-NOTES.md "A learned absolute position").
    public static func initialize(_ p: ParameterSet, seed: UInt64, scheme: WeightInitialization = .xavier) throws {
        var rng = SeededRandom(seed: seed)
        let c = p.config
        for name in p.names {
            let t = try p.tensor(name)
            if name == "pos_embedding" {
                let norm = scheme.patchEmbeddingStd(c) * Float(c.patchValues * c.modelWidth).squareRoot()
                let table = PositionTable.sinCos3D(grid: c.grid, width: c.modelWidth, norm: norm)
                guard table.count == t.count else { throw ModelError.badParameter("pos_embedding: \(t.shape)") }
                t.floats.baseAddress!.update(from: table, count: table.count)
            } else if name.hasSuffix("norm1.weight") || name.hasSuffix("norm2.weight") || name.hasSuffix("norm.weight") || name.hasSuffix("cross_norm.weight") {
                t.fill(1)
            } else if name.hasSuffix(".bias") || name.contains("adaln") || name.hasPrefix("final.linear") || name.hasPrefix("refiner.conv2") {
                t.fill(0)
            } else {
                switch scheme {
                case .gpt2:
                    rng.fillGaussian(t.floats, scale: 0.02)
                case .xavier:
                    if name == "text.token_embedding.weight" {
                        rng.fillGaussian(t.floats, scale: 1)
                    } else if name == "text.position_embedding" {
                        rng.fillGaussian(t.floats, scale: 0.5)
                    } else if name.hasPrefix("time_mlp.") {
                        rng.fillGaussian(t.floats, scale: 0.02)                      // DiT's timestep MLP
                    } else {
                        guard t.shape.count == 2 else { throw ModelError.badParameter("\(name): no initialisation for \(t.shape)") }
                        let bound = (6 / Float(t.shape[0] + t.shape[1])).squareRoot()   // xavier uniform, [out, in]
                        let v = t.floats
                        for i in 0..<v.count { v[i] = bound * Float(2 * rng.uniform() - 1) }
                    }
                }
            }
        }
    }

    /// Loss and gradient of one sample at noise level s with noise from the trainer's stream;
    /// gradients accumulate (scaled by `weight`, e.g. 1 / batch size). The loss is the flow-matching
    /// loss plus, with a token shape or mask head, β times the head's mean cross-entropy, plus the
    /// classifier term when it applies (`step`'s loss is the flow-matching loss alone; the classifier
    /// term is reported by `ClassifierOutlineLoss.takeSummary`).
    public func accumulate(_ sample: TrainingSample, weight: Float, level fixedLevel: Float? = nil) throws -> Float {
        guard sample.clip.shape == noisy.shape else { throw ModelError.badInput("clip \(sample.clip.shape), expected \(noisy.shape)") }
        let s = fixedLevel ?? noiseLevels.sample(&rng)
        rng.fillGaussian(noisy.floats)
        let rolled = drawRollout(level: s)
        let r = try train(sample, level: s, weight: weight, ctx: ctx, acts: acts, backward: backward, noisy: noisy,
                         target: target, dOutput: dOutput, weights: weights, edges: edges, grads: grads,
                         rolledOut: rolled, rolloutScratch: rolloutScratch, shapeHead: shapeHead, maskHead: maskHead)
        return r.loss + shapeHeadWeight * r.head.meanCrossEntropy + maskHeadWeight * r.mask.meanCrossEntropy + r.classifier
    }

    /// Whether a sample at level s gets a rollout input: one uniform draw from the stream per sample
    /// whenever rollouts are on (none when they are off, so runs without them draw what they drew).
    func drawRollout(level s: Float) -> Bool {
        guard let r = rollout else { return false }
        let u = Float(rng.uniform())
        return r.covers(s) && u < r.share
    }

    /// Forward and backward of one sample whose noise is already in `noisy` (mixed in place with the
    /// clean clip to x_s); returns its loss (and the token shape head's outcome when it ran) and adds
    /// `weight` times its gradient to `grads`.
    func train(_ sample: TrainingSample, level s: Float, weight: Float, ctx: ComputeContext, acts: ModelActivations, backward: ModelBackward,
               noisy: Tensor, target: Tensor, dOutput: Tensor, weights: LossWeights, edges: EdgeScratch,
               grads: ParameterSet, rolledOut: Bool = false, rolloutScratch: RolloutScratch? = nil,
               shapeHead: ShapeHead? = nil, maskHead: MaskHead? = nil)
        throws -> (loss: Float, head: ShapeHead.Outcome?, mask: MaskHead.Outcome?, classifier: Float) {
        let c = config
        // x_s mixes the noise with the target, or with the altered input at high levels.
        var input = sample.clip
        if let from = alteredInputFrom, s >= from, let altered = sample.alteredInput {
            guard altered.shape == sample.clip.shape else { throw ModelError.badInput("altered input \(altered.shape), expected \(sample.clip.shape)") }
            input = altered
        }
        let model = try VideoDiT(weights: try ModelWeights(params, config: c))
        try model.encodeText(ctx, tokens: sample.tokens, acts: acts)
        if rolledOut, let r = rollout, r.covers(s) {
            // x_start from the truth, then the model's own Euler steps down to s (no gradient).
            let x0 = input.floats, xs = noisy.floats
            for i in 0..<xs.count { xs[i] = (1 - r.start) * x0[i] + r.start * xs[i] }
            let scratch = try (rolloutScratch ?? RolloutScratch()).clip(shape: noisy.shape)
            try Self.rollOut(model: model, ctx: ctx, acts: acts, state: noisy, from: r.start, to: s, steps: r.steps, scratch: scratch)
        } else {
            let x0 = input.floats, xs = noisy.floats
            for i in 0..<xs.count { xs[i] = (1 - s) * x0[i] + s * xs[i] }
        }
        let prediction = try model.predict(ctx, noisy: noisy, level: s, acts: acts), out = prediction.floats
        let lambda = objectWeight(at: s)
        guard lambda.isFinite, lambda >= 0 else { throw ModelError.badInput("object weight \(lambda): must be finite and >= 0") }
        // Per-value weights (object-weighted loss) or none (every weight 1: the plain mean, bit for bit).
        let w: UnsafeMutableBufferPointer<Float>?
        if s >= 1, let draws = sample.captionDraws, draws.count > 0 {
            w = try weights.meanOfDraws(sample, draws, lambda: lambda, model: model, into: target)
        } else {
            try model.patchify(sample.clip, into: target)
            w = lambda > 0 ? try sample.objectCoverage.map { try weights.patches($0, lambda: lambda, model: model).floats } : nil
        }
        let tv = target.floats, dv = dOutput.floats
        let sc = max(s, c.minNoiseLevel)
        var loss: Double = 0
        let n = w.map { Float($0.reduce(0.0) { $0 + Double($1) }) } ?? Float(out.count)
        for i in 0..<out.count {
            let wi = w?[i] ?? 1, diff = out[i] - tv[i]
            loss += Double(wi * diff * diff)
            dv[i] = weight * 2 * wi * diff / (n * sc * sc)
        }
        if edgeWeight != 0 {   // (true for NaN too, which the guard refuses)
            guard edgeWeight.isFinite, edgeWeight > 0 else { throw ModelError.badInput("edge weight \(edgeWeight): must be finite and >= 0") }
            loss += Double(edgeWeight) * (try edges.add(output: out, target: tv, scale: weight * edgeWeight / (n * sc * sc), model: model, into: dv))
        }
        // The classifier term: the frozen classifier's cross-entropy on x̂0 (in `accumulate`'s loss, not in `step`'s).
        var classifier: Float = 0
        if let term = classifierTerm, let label = sample.shapeLabel {
            classifier = try term.add(output: prediction, label: label, level: s, scale: weight, model: model, ctx: ctx, into: dOutput)
        } else if let term = classifierTerm, !sample.classifierObjects.isEmpty {
            classifier = try term.add(output: prediction, objects: sample.classifierObjects, level: s, scale: weight, model: model,
                                      ctx: ctx, into: dOutput)
        }
        // Token shape head: its cross-entropy trains the head, and (times β) the blocks below it.
        var head: ShapeHead.Outcome?, mask: MaskHead.Outcome?
        var extra: [(block: Int, gradient: Tensor)] = []
        if let shapeHead, let map = sample.shapeMap {
            guard shapeHeadWeight.isFinite, shapeHeadWeight >= 0 else { throw ModelError.badInput("shape head weight \(shapeHeadWeight): must be finite and >= 0") }
            // The output of block k is block k + 1's input, or the final layer's input after the last block   [T, D]
            let features = c.shapeHeadBlock + 1 < c.depth ? acts.block(c.shapeHeadBlock + 1).input : acts.finalInput
            let outcome = try shapeHead.run(map: map, features: features, model: model, params: params, grads: grads,
                                            weight: weight, modelWeight: shapeHeadWeight, level: s)
            head = outcome
            if outcome.tokens > 0 && shapeHeadWeight > 0 { extra.append((c.shapeHeadBlock, shapeHead.dFeatures)) }
        }
        // Token mask head on the last block's output.
        if let maskHead, let coverage = sample.pixelCoverage {
            guard maskHeadWeight.isFinite, maskHeadWeight >= 0 else { throw ModelError.badInput("mask head weight \(maskHeadWeight): must be finite and >= 0") }
            let outcome = try maskHead.run(coverage: coverage, features: acts.finalInput, params: params, grads: grads,
                                           weight: weight, modelWeight: maskHeadWeight, level: s)
            mask = outcome
            if outcome.tokens > 0 && maskHeadWeight > 0 { extra.append((c.depth - 1, maskHead.dFeatures)) }
        }
        try backward.backward(ctx, model: model, acts: acts, dOutput: dOutput, grads: grads, blockOutputGradients: extra)
        return (Float(loss) / (n * sc * sc), head, mask, classifier)
    }

    /// Moves `state` [F, H, W, 3], a clip at level `from`, to level `to` < `from` with `steps` Euler steps
    /// of `model` (prompted by the text last given to `encodeText`, no guidance), evenly spaced in s:
    /// x <- (s'/s) x + (1 - s'/s) x0_hat(x, s), which is the sampler's x <- x + (s' - s) (x - x0_hat) / s.
    /// `scratch` [F, H, W, 3] receives each step's x0 estimate.
    public static func rollOut(model: VideoDiT, ctx: ComputeContext, acts: ModelActivations, state: Tensor, from start: Float, to end: Float,
                        steps: Int, scratch: Tensor) throws {
        guard steps >= 1, start.isFinite, end.isFinite, end > 0, end < start, start <= 1 else {
            throw ModelError.badInput("rollout from \(start) to \(end) in \(steps) steps: need 0 < to < from <= 1 and steps >= 1")
        }
        let xs = state.floats, est = scratch.floats
        var level = start
        for k in 1...steps {
            let next = k == steps ? end : start + (end - start) * Float(k) / Float(steps)
            try model.unpatchify(try model.predict(ctx, noisy: state, level: level, acts: acts), into: scratch)
            let keep = next / level
            for i in 0..<xs.count { xs[i] = keep * xs[i] + (1 - keep) * est[i] }
            level = next
        }
    }

    /// One optimizer step over `batch` (gradient accumulation over its samples, on the lanes if any).
    public func step(_ batch: [TrainingSample]) throws -> StepStats {
        guard !batch.isEmpty else { throw ModelError.badInput("empty batch") }
        grads.zero()
        var loss: Float = 0
        var outcomes: [ShapeHead.Outcome] = [], masks: [MaskHead.Outcome] = []
        if lanes.count > 1 && batch.count > 1 {
            (loss, outcomes, masks) = try laneStep(batch)
        } else {
            let w = 1 / Float(batch.count)
            for sample in batch {
                guard sample.clip.shape == noisy.shape else { throw ModelError.badInput("clip \(sample.clip.shape), expected \(noisy.shape)") }
                let s = noiseLevels.sample(&rng)
                rng.fillGaussian(noisy.floats)
                let rolled = drawRollout(level: s)
                let r = try train(sample, level: s, weight: w, ctx: ctx, acts: acts, backward: backward, noisy: noisy,
                                  target: target, dOutput: dOutput, weights: weights, edges: edges, grads: grads,
                                  rolledOut: rolled, rolloutScratch: rolloutScratch, shapeHead: shapeHead, maskHead: maskHead)
                loss += r.loss * w
                if let h = r.head { outcomes.append(h) }
                if let m = r.mask { masks.append(m) }
            }
        }
        let (norm, lr) = try optimizer.update(params, grads: grads)
        return StepStats(loss: loss, gradNorm: norm, learningRate: lr, samples: batch.count,
                         shapeHead: shapeHead == nil ? nil : ShapeHead.Summary(outcomes),
                         maskHead: maskHead == nil ? nil : MaskHead.Summary(masks))
    }

    /// Gradient accumulation over `batch` on the lanes; lane 0's gradients are `grads`.
    func laneStep(_ batch: [TrainingSample]) throws -> (Float, [ShapeHead.Outcome], [MaskHead.Outcome]) {
        let n = batch.count, weight = 1 / Float(n)
        for sample in batch where sample.clip.shape != noisy.shape {
            throw ModelError.badInput("clip \(sample.clip.shape), expected \(noisy.shape)")
        }
        // Levels and noise in sample order from the one stream, exactly as the sequential path draws them.
        while noiseBuffers.count < n { noiseBuffers.append(try Tensor(zeros: noisy.shape)) }
        var levels: [Float] = [], rolled: [Bool] = []
        for i in 0..<n {
            levels.append(noiseLevels.sample(&rng))
            rng.fillGaussian(noiseBuffers[i].floats)
            rolled.append(drawRollout(level: levels[i]))
        }
        for lane in lanes.dropFirst() { lane.grads.zero() }
        let results = LaneResults(count: n)
        let lanes = self.lanes, buffers = noiseBuffers, drawn = levels, rolledOut = rolled
        DispatchQueue.concurrentPerform(iterations: lanes.count) { li in
            let lane = lanes[li]
            for i in stride(from: li, to: n, by: lanes.count) {
                do {
                    try lane.noisy.copy(from: buffers[i])
                    let r = try self.train(batch[i], level: drawn[i], weight: weight, ctx: lane.ctx, acts: lane.acts,
                                           backward: lane.backward, noisy: lane.noisy, target: lane.target,
                                           dOutput: lane.dOutput, weights: lane.weights, edges: lane.edges,
                                           grads: lane.grads, rolledOut: rolledOut[i], rolloutScratch: lane.rolloutScratch,
                                           shapeHead: lane.shapeHead, maskHead: lane.maskHead)
                    results.loss[i] = r.loss
                    results.head[i] = r.head
                    results.mask[i] = r.mask
                } catch { results.errors[i] = error }
            }
        }
        if let e = results.errors.compactMap({ $0 }).first { throw e }
        // Sum in lane order (deterministic whatever the threads' timing).
        for lane in lanes.dropFirst() {
            for name in grads.names {
                let dst = try grads.tensor(name).floats, src = try lane.grads.tensor(name).floats
                for j in 0..<dst.count { dst[j] += src[j] }
            }
        }
        return (results.loss.reduce(0) { $0 + $1 * weight }, results.head.compactMap { $0 }, results.mask.compactMap { $0 })
    }
}

/// Per-sample slots that lane workers write (each sample its own slot; raw buffers, so that writes to
/// different slots from different threads are not accesses to one shared array).
final class LaneResults: @unchecked Sendable {
    let loss: UnsafeMutableBufferPointer<Float>, errors: UnsafeMutableBufferPointer<Error?>
    let head: UnsafeMutableBufferPointer<ShapeHead.Outcome?>, mask: UnsafeMutableBufferPointer<MaskHead.Outcome?>
    init(count: Int) {
        loss = .allocate(capacity: count); loss.initialize(repeating: 0)
        errors = .allocate(capacity: count); errors.initialize(repeating: nil)
        head = .allocate(capacity: count); head.initialize(repeating: nil)
        mask = .allocate(capacity: count); mask.initialize(repeating: nil)
    }
    deinit {
        loss.deallocate()
        errors.deinitialize(); errors.deallocate()
        head.deinitialize(); head.deallocate()
        mask.deinitialize(); mask.deallocate()
    }
}

/// Scratch of the object-weighted loss: per-pixel weights 1 + λ c spread over the three channels and
/// laid out as the model's patches, so that weight i belongs to output value i.
final class LossWeights: @unchecked Sendable {
    let pixels: Tensor    // [F, H, W, 3]
    let patched: Tensor   // [T, P]
    let config: ModelConfig
    /// Scratch of `meanOfDraws`, made on first use: one draw's clip [F, H, W, 3] and coverage
    /// [F, H, W], and the running sums Σ w and Σ w x0 [F, H, W, 3].
    var drawClip: Tensor?, drawCoverage: Tensor?, sumW: Tensor?, sumWX: Tensor?
    init(config c: ModelConfig) throws {
        config = c
        pixels = try Tensor.uninitialized([c.frames, c.height, c.width, c.channels])
        patched = try Tensor.uninitialized([c.tokens, c.patchValues])
    }

    /// The target at s = 1 from the sample and its caption draws: per value, the weighted mean
    /// Σ_k w_k x_k / Σ_k w_k of the K + 1 clips (into `target`, as patches), and, returned, the mean
    /// weight Σ_k w_k / (K + 1) as patches (w_k = 1 + λ c_k, or 1 without coverage: then nil is
    /// returned and the target is the plain mean).
    func meanOfDraws(_ sample: TrainingSample, _ draws: CaptionDraws, lambda: Float, model: VideoDiT,
                     into target: Tensor) throws -> UnsafeMutableBufferPointer<Float>? {
        let c = config, shape = [c.frames, c.height, c.width, c.channels], ch = c.channels
        guard sample.clip.shape == shape else { throw ModelError.badInput("clip \(sample.clip.shape), expected \(shape)") }
        if drawClip == nil {
            drawClip = try Tensor(zeros: shape); drawCoverage = try Tensor(zeros: [c.frames, c.height, c.width])
            sumW = try Tensor(zeros: shape); sumWX = try Tensor(zeros: shape)
        }
        let weighted = lambda > 0 && sample.objectCoverage != nil
        let sw = sumW!.floats, swx = sumWX!.floats, n = sw.count
        func add(_ clip: UnsafeMutableBufferPointer<Float>, _ coverage: UnsafeMutableBufferPointer<Float>?) throws {
            if let cv = coverage {
                guard cv.count * ch == n else { throw ModelError.badInput("object coverage of \(cv.count) values, expected \(n / ch)") }
            }
            for p in 0..<(n / ch) {
                let wp = weighted ? 1 + lambda * min(max(coverage![p], 0), 1) : 1
                for k in 0..<ch { sw[ch * p + k] += wp; swx[ch * p + k] += wp * clip[ch * p + k] }
            }
        }
        for i in 0..<n { sw[i] = 0; swx[i] = 0 }
        try add(sample.clip.floats, weighted ? sample.objectCoverage!.floats : nil)
        for k in 0..<draws.count {
            try draws.draw(k, drawClip!, drawCoverage!)
            try add(drawClip!.floats, weighted ? drawCoverage!.floats : nil)
        }
        let meanClip = drawClip!.floats, px = pixels.floats, count = Float(draws.count + 1)
        for i in 0..<n { meanClip[i] = swx[i] / sw[i]; px[i] = sw[i] / count }
        try model.patchify(drawClip!, into: target)
        guard weighted else { return nil }
        try model.patchify(pixels, into: patched)
        return patched.floats
    }

    /// The weights of `coverage` ([F, H, W] in [0, 1]) as patches; throws for a wrong shape.
    func patches(_ coverage: Tensor, lambda: Float, model: VideoDiT) throws -> Tensor {
        let px = pixels.floats, cv = coverage.floats, ch = config.channels
        guard cv.count * ch == px.count else {
            throw ModelError.badInput("object coverage \(coverage.shape), expected \(Array(pixels.shape.dropLast()))")
        }
        for p in 0..<cv.count {
            let w = 1 + lambda * min(max(cv[p], 0), 1)
            for k in 0..<ch { px[ch * p + k] = w }
        }
        try model.patchify(pixels, into: patched)
        return patched
    }
}

/// A worker's scratch clip for rollout steps' x0 estimates, made on first use (runs without rollouts
/// never allocate it).
final class RolloutScratch: @unchecked Sendable {
    private var tensor: Tensor?
    func clip(shape: [Int]) throws -> Tensor {
        if let t = tensor, t.shape == shape { return t }
        let t = try Tensor(zeros: shape)
        tensor = t
        return t
    }
}

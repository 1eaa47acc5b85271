import Foundation
import VGCore

/// Flow-matching sampling (rectified flow, ../shared/ALGORITHMS.md §1): start from Gaussian noise at
/// s = 1 and integrate the velocity to s = 0 with Euler steps over a shifted grid, with
/// classifier-free guidance. The model predicts the clean clip x0; the velocity is
/// v = (x_s - x0_hat) / max(s, minNoiseLevel).
///
/// Sampling is a `Sequence` of steps (as in mlx-swift-examples' denoise iterator): progress,
/// cancellation and previews come from the loop that consumes it.
public struct FlowSampler: Sequence {
    /// Options of one sampling run.
    public struct Options: Sendable, Equatable {
        /// Euler steps, e.g. 50 for the teacher, 4 for a distilled student.
        public var steps: Int
        /// Guidance weight w: v = v_u + w (v_c - v_u); 1 disables guidance (one pass per step).
        public var guidance: Float
        /// Grid shift k: s' = k s / (1 + (k - 1) s); larger spends more steps at high noise.
        public var shift: Float
        /// Seed of the initial noise (and of the noise the stochastic steps add).
        public var seed: UInt64
        /// Stochasticity a of the SDE steps (Flow-GRPO, arXiv 2505.05470: sigma = a sqrt(s / (1 - s)));
        /// 0, the default, is the deterministic Euler ODE. The SDE has the ODE's marginals: each step
        /// takes out part of the noise the model sees and adds fresh noise, which lets a sampler
        /// correct what earlier steps committed to (and is what GRPO explores with).
        public var stochasticity: Float
        /// Noise levels at which guidance applies (a guidance interval, Kynkäänniemi et al. 2024,
        /// arXiv 2404.07724); at the other levels a step uses the prompted prediction alone (w = 1)
        /// and skips the unprompted pass. The default, 0...1, guides every step.
        public var guidanceInterval: ClosedRange<Float>
        /// Share η of the guidance update kept along the prompted prediction (adaptive projected
        /// guidance, Sadat et al. 2024, arXiv 2410.02416): the update d = x0_c - x0_u is split into
        /// its part parallel to x0_c (over the whole clip) and the rest, and the guided prediction is
        /// x0_c + (w - 1) (d_orth + η d_par). 1, the default, is plain guidance; 0 drops the parallel
        /// part, which the paper found to over-saturate colours at high w.
        public var parallelGuidance: Float
        /// Share φ of guidance rescale (Lin et al. 2023, arXiv 2305.08891): the guided prediction is
        /// rescaled to the prompted prediction's standard deviation over the clip, and φ of the
        /// rescaled plus 1 - φ of the plain guided prediction is used. 0, the default, is off.
        public var guidanceRescale: Float
        /// Clamps every clean-clip prediction (after guidance) to the data range [-1, 1] (static
        /// thresholding, Saharia et al. 2022, arXiv 2205.11487): a pixel-space x0 outside the range
        /// the training clips span is never right, and strong guidance produces such values, which
        /// the next steps then read as input. Off by default.
        public var clampPrediction: Bool
        /// Guidance weight of the high frequencies (frequency-decoupled guidance, Sadat et al. 2025,
        /// arXiv 2506.19713): the guidance update d = x0_c - x0_u is split by a Gaussian blur inside
        /// each frame into low = blur(d) and high = d - low, and the guided prediction is
        /// x0_c + (w - 1) low + (w_high - 1) high. Nil, the default, is plain guidance (w_high = w).
        public var highFrequencyGuidance: Float?
        /// Standard deviation, in pixels, of the blur that splits the frequencies (default 1).
        public var frequencySplitSigma: Float
        public init(steps: Int = 50, guidance: Float = 5, shift: Float = 3, seed: UInt64 = 0, stochasticity: Float = 0,
                    guidanceInterval: ClosedRange<Float> = 0...1, parallelGuidance: Float = 1, guidanceRescale: Float = 0,
                    clampPrediction: Bool = false, highFrequencyGuidance: Float? = nil, frequencySplitSigma: Float = 1) {
            self.steps = steps; self.guidance = guidance; self.shift = shift; self.seed = seed; self.stochasticity = stochasticity
            self.guidanceInterval = guidanceInterval; self.parallelGuidance = parallelGuidance
            self.guidanceRescale = guidanceRescale; self.clampPrediction = clampPrediction
            self.highFrequencyGuidance = highFrequencyGuidance; self.frequencySplitSigma = frequencySplitSigma
        }
    }

    /// One finished step: `clip` holds x at `level` (the prediction of the clean clip once level is 0).
    public struct Step {
        public let index: Int, total: Int
        public let level: Float
        public let clip: Tensor     // [F, H, W, 3]
        /// The model's clean-clip prediction at this step (a preview).
        public let predicted: Tensor
    }

    /// The noise levels 1 = s_0 > s_1 > ... > s_N = 0 of `steps` Euler steps with shift k.
    public static func grid(steps: Int, shift k: Float) -> [Float] {
        (0...steps).map { i in
            let s = 1 - Float(i) / Float(steps)
            return k * s / (1 + (k - 1) * s)
        }
    }

    /// One SDE step from level s to s' < s (Flow-GRPO's, ../shared/ALGORITHMS.md §2), in place on x:
    /// sig = a sqrt(s / (1 - s)), v = (x - x0) / s, dt = s' - s;
    /// x <- x (1 + sig² dt / (2s)) + v (1 + sig² (1 - s) / (2s)) dt + sig sqrt(-dt) e.
    /// For 0 < s' < s < 1 it keeps the flow's marginals x_s = (1 - s) x0 + s e up to O(dt²).
    public static func sdeStep(x: UnsafeMutableBufferPointer<Float>, predicted x0: UnsafeBufferPointer<Float>,
                               noise e: UnsafeBufferPointer<Float>, level s: Float, next sNext: Float, stochasticity a: Float,
                               minNoiseLevel: Float) {
        let ds = sNext - s, denom = Swift.max(s, minNoiseLevel)
        let sig = a * (s / (1 - s)).squareRoot(), sig2 = sig * sig
        let cx = 1 + sig2 * ds / (2 * s), cv = (1 + sig2 * (1 - s) / (2 * s)) * ds, cn = sig * (-ds).squareRoot()
        for i in 0..<Swift.min(x.count, x0.count, e.count) {
            let v = (x[i] - x0[i]) / denom
            x[i] = x[i] * cx + v * cv + cn * e[i]
        }
    }

    /// Population variance of `v` (in Double).
    static func variance(_ v: UnsafeBufferPointer<Float>) -> Double {
        guard !v.isEmpty else { return 0 }
        var sum: Double = 0, sq: Double = 0
        for x in v { sum += Double(x); sq += Double(x) * Double(x) }
        let n = Double(v.count), m = sum / n
        return Swift.max(sq / n - m * m, 0)
    }

    let model: VideoDiT
    /// The model of the guidance pass: `model` itself (classifier-free guidance) or the guide.
    let guideModel: VideoDiT
    let ctx: ComputeContext
    let options: Options
    let cond: ModelActivations, uncond: ModelActivations?
    let shouldStop: (() -> Bool)?

    /// - Parameters:
    ///   - prompt / empty: token ids of the prompt and of the empty prompt (for guidance).
    ///   - guide: a weaker model of the same clip shape and vocabulary for autoguidance (Karras et al.
    ///     2024, arXiv 2406.02507): with it, the guidance pass is the guide's *prompted* prediction,
    ///     x0 = x0_guide + w (x0_model - x0_guide), instead of the model's unprompted one. Guidance
    ///     then pushes away from the errors a weaker model makes rather than from the unprompted
    ///     average. Nil (the default) is classifier-free guidance.
    ///   - shouldStop: asked between model blocks; a true answer ends the sequence with an error.
    public init(model: VideoDiT, context ctx: ComputeContext, prompt: [Int32], empty: [Int32], options: Options,
                guide: VideoDiT? = nil, shouldStop: (() -> Bool)? = nil) throws {
        guard (1...10_000).contains(options.steps) else { throw ModelError.badInput("steps \(options.steps) outside 1...10000") }
        guard options.guidance.isFinite, options.shift.isFinite, options.shift > 0 else {
            throw ModelError.badInput("guidance \(options.guidance) / shift \(options.shift) must be finite, shift positive")
        }
        guard options.stochasticity.isFinite, (0...4).contains(options.stochasticity) else {
            throw ModelError.badInput("stochasticity \(options.stochasticity) outside [0, 4]")
        }
        let gi = options.guidanceInterval
        guard gi.lowerBound.isFinite, gi.upperBound.isFinite, gi.lowerBound >= 0, gi.upperBound <= 1 else {
            throw ModelError.badInput("guidance interval \(gi) must lie in [0, 1]")
        }
        guard options.parallelGuidance.isFinite, (0...1).contains(options.parallelGuidance) else {
            throw ModelError.badInput("parallel guidance share \(options.parallelGuidance) outside [0, 1]")
        }
        guard options.guidanceRescale.isFinite, (0...1).contains(options.guidanceRescale) else {
            throw ModelError.badInput("guidance rescale \(options.guidanceRescale) outside [0, 1]")
        }
        if let wh = options.highFrequencyGuidance {
            guard wh.isFinite, options.frequencySplitSigma.isFinite, (0.1...16).contains(options.frequencySplitSigma) else {
                throw ModelError.badInput("high-frequency guidance \(wh) must be finite and the split sigma \(options.frequencySplitSigma) in [0.1, 16]")
            }
            guard options.parallelGuidance == 1 else { throw ModelError.badInput("high-frequency guidance and a parallel share below 1 do not combine") }
        }
        if let guide {
            let a = model.config, b = guide.config
            guard a.frames == b.frames, a.height == b.height, a.width == b.width, a.vocabSize == b.vocabSize,
                  a.maxTextTokens == b.maxTextTokens, a.minNoiseLevel == b.minNoiseLevel else {
                throw ModelError.badInput("the guide model's clip shape, vocabulary or noise floor differs from the model's")
            }
        }
        self.model = model; self.ctx = ctx; self.options = options; self.shouldStop = shouldStop
        self.guideModel = guide ?? model
        cond = try ModelActivations(config: model.config, saveForBackward: false)
        try model.encodeText(ctx, tokens: prompt, acts: cond)
        if options.guidance != 1 || (options.highFrequencyGuidance ?? 1) != 1 {
            let u = try ModelActivations(config: guideModel.config, saveForBackward: false)
            try guideModel.encodeText(ctx, tokens: guide == nil ? empty : prompt, acts: u)
            uncond = u
        } else {
            uncond = nil
        }
    }

    public func makeIterator() -> Iterator { Iterator(sampler: self) }

    /// Produces one Euler step per `next()`; after an error (e.g. cancellation) it returns nil and
    /// `error` holds the reason.
    public struct Iterator: IteratorProtocol {
        let sampler: FlowSampler
        let grid: [Float]
        var index = 0
        var x: Tensor?, x0: Tensor?, scratch: Tensor?
        /// Buffers of frequency-decoupled guidance (allocated on first use).
        var low: Tensor?, blurTemp: Tensor?
        /// Noise of the stochastic steps: its own stream, so the initial noise is the ODE's.
        var stepNoise: SeededRandom
        public private(set) var error: Error?

        init(sampler: FlowSampler) {
            self.sampler = sampler
            grid = FlowSampler.grid(steps: sampler.options.steps, shift: sampler.options.shift)
            stepNoise = SeededRandom(seed: sampler.options.seed ^ 0x5DE_5DE5_5DE5)
        }

        public mutating func next() -> Step? {
            guard error == nil, index < grid.count - 1 else { return nil }
            do { return try step() } catch { self.error = error; return nil }
        }

        mutating func step() throws -> Step {
            let c = sampler.model.config, shape = [c.frames, c.height, c.width, c.channels]
            if x == nil {
                let t = try Tensor(zeros: shape)
                var rng = SeededRandom(seed: sampler.options.seed)
                rng.fillGaussian(t.floats)
                x = t; x0 = try Tensor(zeros: shape); scratch = try Tensor(zeros: shape)
            }
            guard let x, let x0, let scratch else { throw ModelError.badInput("sampler state") }
            let s = grid[index], sNext = grid[index + 1], w = sampler.options.guidance
            let denom = Swift.max(s, c.minNoiseLevel)
            // x0 prediction with guidance (guidance on x0 equals guidance on v at the same x_s and s).
            let pc = try sampler.model.predict(sampler.ctx, noisy: x, level: s, acts: sampler.cond, shouldStop: sampler.shouldStop)
            try sampler.model.unpatchify(pc, into: x0)
            if let u = sampler.uncond, sampler.options.guidanceInterval.contains(s) {
                let promptedVariance = sampler.options.guidanceRescale > 0 ? FlowSampler.variance(UnsafeBufferPointer(x0.floats)) : 0
                let pu = try sampler.guideModel.predict(sampler.ctx, noisy: x, level: s, acts: u, shouldStop: sampler.shouldStop)
                try sampler.guideModel.unpatchify(pu, into: scratch)
                let a = x0.floats, b = scratch.floats, eta = sampler.options.parallelGuidance
                if let wh = sampler.options.highFrequencyGuidance {
                    // d = c - u (into b); low = blur(d); guided = c + (w - 1) low + (w_high - 1) (d - low).
                    for i in 0..<a.count { b[i] = a[i] - b[i] }
                    let lowPart = try low ?? Tensor(zeros: shape), temp = try blurTemp ?? Tensor(zeros: shape)
                    low = lowPart; blurTemp = temp
                    let lv = lowPart.floats
                    lv.baseAddress!.update(from: b.baseAddress!, count: b.count)
                    FrameBlur.gaussian(lv, temp: temp.floats, frames: c.frames, height: c.height, width: c.width,
                                       sigma: sampler.options.frequencySplitSigma)
                    for i in 0..<a.count { a[i] += (w - 1) * lv[i] + (wh - 1) * (b[i] - lv[i]) }
                } else if eta == 1 {
                    for i in 0..<a.count { a[i] = b[i] + w * (a[i] - b[i]) }
                } else {
                    // d = c - u; d_par = (d.c / c.c) c; guided = c + (w - 1) (d - (1 - eta) d_par).
                    var dc: Double = 0, cc: Double = 0
                    for i in 0..<a.count { dc += Double((a[i] - b[i]) * a[i]); cc += Double(a[i] * a[i]) }
                    let k = cc > 0 ? Float(dc / cc) : 0, wm = w - 1
                    for i in 0..<a.count {
                        let d = a[i] - b[i]
                        a[i] += wm * (d - (1 - eta) * k * a[i])
                    }
                }
                let phi = sampler.options.guidanceRescale
                if phi > 0 {
                    // guided <- guided ((1 - φ) + φ std(prompted) / std(guided)), stds over the whole clip.
                    let ratio = Float((promptedVariance / FlowSampler.variance(UnsafeBufferPointer(a))).squareRoot())
                    if ratio.isFinite { for i in 0..<a.count { a[i] *= (1 - phi) + phi * ratio } }
                }
            }
            if sampler.options.clampPrediction {
                let a = x0.floats
                for i in 0..<a.count { a[i] = Swift.min(Swift.max(a[i], -1), 1) }
            }
            let xv = x.floats, pv = x0.floats, ds = sNext - s, a = sampler.options.stochasticity
            if a > 0, s < 1, sNext > 0 {
                stepNoise.fillGaussian(scratch.floats)
                FlowSampler.sdeStep(x: xv, predicted: UnsafeBufferPointer(pv), noise: UnsafeBufferPointer(scratch.floats),
                                    level: s, next: sNext, stochasticity: a, minNoiseLevel: c.minNoiseLevel)
            } else {
                // Euler: x <- x + (s' - s) v,  v = (x - x0) / max(s, smin)
                for i in 0..<xv.count { xv[i] += ds * (xv[i] - pv[i]) / denom }
            }
            index += 1
            return Step(index: index, total: grid.count - 1, level: sNext, clip: x, predicted: x0)
        }
    }
}

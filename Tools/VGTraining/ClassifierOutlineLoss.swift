import Foundation
import VGCore
import VGModel

/// The classifier term of the flow-matching loss: a frozen `LatentShapeClassifier` reads each frame
/// of the DiT's clean-clip prediction x̂0 and the term is its cross-entropy against the shape the
/// caption names, times a weight γ; its gradient flows through the frozen classifier into x̂0 and on
/// into the DiT.
///
/// Why: in the plain loss a star and a disc of the same size differ by a few values at the edge, so
/// the part of the gradient that would make the caption's shape word draw an outline is a small share
/// of a noisy sum, and twenty-nine sessions of recipes left the base's outlines at chance
/// (docs/PIPELINE.md). The token shape head (`ShapeHead`) asked the DiT's *features* for the shape and
/// they learned it, but the output never drew it. This term asks the *output*: x̂0 must look like the
/// named shape to a network that knows shapes, which is a perceptual loss in the sense of LPIPS or of
/// the feature losses of distillation, here with a reward model trained on the renderer's labels. The
/// labels are training data; ShapeBench is never read. At high noise the plain loss's optimum is a
/// blurred mean and this term pulls it towards the named outline: it trades a little of the mean
/// for a committed shape, which is what sampling needs from its first steps.
///
/// Samples with a caption (not dropped) of a single-object scene at levels s <= `maxLevel` get the
/// term on the whole frame. A multi-object scene can get it on each object (`Object`): the classifier
/// reads a frame that is x̂0 inside a window around the object and the clean clip of that object
/// alone outside it, so it sees one object, drawn by the model, on the scene's background, as in its
/// training data. It is thread-safe: each call allocates its own scratch, and the statistics are
/// kept under a lock.
public final class ClassifierOutlineLoss: @unchecked Sendable {
    /// One object of a multi-object scene, as the term reads it.
    public struct Object: @unchecked Sendable {
        /// The shape (`ShapeKind` index) the caption names for the object.
        public var label: Int
        /// Where the classifier reads the model's prediction, per frame and position, in [0, 1]: 1
        /// around the object (its coverage, widened), 0 elsewhere. `[F, H, W]` of the model's clip.
        public var window: Tensor
        /// The clean clip of the object alone on the scene's background, read outside the window.
        /// `[F, H, W, C]`.
        public var context: Tensor
        public init(label: Int, window: Tensor, context: Tensor) { self.label = label; self.window = window; self.context = context }

        /// The frame the classifier reads: `window ⊙ x0 + (1 - window) ⊙ context`, position by
        /// position. `x0` `[F, H, W, C]`, the shape of `context`.
        /// - Throws: `ModelError.badInput` when the window, the context and `x0` do not fit.
        public func frame(reading x0: Tensor) throws -> Tensor {
            let shape = x0.shape
            guard shape.count == 4, context.shape == shape, window.shape == Array(shape.prefix(3)) else {
                throw ModelError.badInput("classifier term: an object's window \(window.shape) and context \(context.shape) do not fit a clip \(shape) (expected [F, H, W] and [F, H, W, C])")
            }
            let out = try Tensor.uninitialized(shape)
            let ov = out.floats, xv = x0.floats, mv = window.floats, cv = context.floats, ch = shape[3]
            for p in 0..<window.count {
                let m = mv[p]
                for k in p * ch..<(p + 1) * ch { ov[k] = m * xv[k] + (1 - m) * cv[k] }
            }
            return out
        }
    }

    public let classifier: LatentShapeClassifier
    /// γ, the term's weight per sample (mean cross-entropy over the clip's frames), e.g. 0.1.
    public let weight: Float
    /// Highest noise level that gets the term, e.g. 1 (every level).
    public let maxLevel: Float
    /// γ_o, the weight of the term on each object of a multi-object scene (the mean over its
    /// objects), e.g. 0.3; γ by default.
    public let objectWeight: Float

    /// The term's figures over some samples.
    public struct Summary: Sendable, Equatable {
        /// Mean cross-entropy per frame (nats; ln K at chance) and the share of frames the classifier
        /// named right from x̂0, over all levels and over levels >= `ShapeHead.highLevel`.
        public var crossEntropy: Float, accuracy: Float, accuracyHigh: Float?
        public var frames: Int
    }

    let lock = NSLock()
    var sum = (loss: 0.0, correct: 0, frames: 0, correctHigh: 0, framesHigh: 0)

    /// - Throws: `ModelError.badInput` for a weight or level that is not finite and positive.
    public init(classifier: LatentShapeClassifier, weight: Float, maxLevel: Float = 1, objectWeight: Float? = nil) throws {
        let objectWeight = objectWeight ?? weight
        guard weight.isFinite, weight > 0, maxLevel.isFinite, maxLevel > 0, objectWeight.isFinite, objectWeight > 0 else {
            throw ModelError.badInput("classifier term: weights \(weight), \(objectWeight) and highest level \(maxLevel) must be finite and > 0")
        }
        self.classifier = classifier; self.weight = weight; self.maxLevel = maxLevel; self.objectWeight = objectWeight
    }

    /// Whether the classifier reads clips of `config`'s latent grid.
    public func check(_ config: ModelConfig) throws {
        let c = classifier.config
        guard [c.height, c.width, c.channels] == [config.height, config.width, config.channels] else {
            throw ModelError.invalidConfig("classifier term: the classifier reads \(c.height) x \(c.width) x \(c.channels) frames, the model makes \(config.height) x \(config.width) x \(config.channels)")
        }
    }

    /// Adds `scale` times γ times the gradient of the clip's mean frame cross-entropy to `dOutput`
    /// (patches `[T, P]`, like `output`), for a sample labelled `label` at level s; returns γ times that
    /// mean (0 when the level is above `maxLevel`).
    func add(output: Tensor, label: Int, level s: Float, scale: Float, model: VideoDiT, ctx: ComputeContext,
             into dOutput: Tensor) throws -> Float {
        try add(output: output, label: label, object: nil, level: s, scale: scale, model: model, ctx: ctx, into: dOutput)
    }

    /// The term on each object of a multi-object scene: the mean over `objects` of each one's clip
    /// mean frame cross-entropy, read through its window; the gradient likewise (`scale` times γ_o
    /// times, into `dOutput`). Returns γ_o times that mean (0 above `maxLevel` or without objects).
    /// - Throws: `ModelError.badInput` for a window or context that does not fit the model's clip.
    func add(output: Tensor, objects: [Object], level s: Float, scale: Float, model: VideoDiT, ctx: ComputeContext,
             into dOutput: Tensor) throws -> Float {
        guard s <= maxLevel, !objects.isEmpty else { return 0 }
        // Each reading below is weighted by γ; the share carries γ_o / γ (1 unless set) and the mean.
        let share = objectWeight / weight / Float(objects.count)
        var total: Float = 0
        for o in objects {
            total += share * (try add(output: output, label: o.label, object: o, level: s, scale: scale * share,
                                      model: model, ctx: ctx, into: dOutput))
        }
        return total
    }

    /// One read of the classifier: the whole x̂0 (object nil), or the object's frame of it
    /// (`Object.frame(reading:)`). Returns γ times the clip's mean frame cross-entropy (not times `scale`).
    private func add(output: Tensor, label: Int, object: Object?, level s: Float, scale: Float,
                     model: VideoDiT, ctx: ComputeContext, into dOutput: Tensor) throws -> Float {
        guard s <= maxLevel else { return 0 }
        let c = model.config
        guard (0..<classifier.config.classes).contains(label) else {
            throw ModelError.badInput("classifier term: label \(label) is not one of the classifier's \(classifier.config.classes) classes")
        }
        let x0 = try Tensor.uninitialized([c.frames, c.height, c.width, c.channels])
        try model.unpatchify(output, into: x0)
        let frames = try object?.frame(reading: x0) ?? x0
        var trace: LatentShapeClassifier.Trace? = LatentShapeClassifier.Trace()
        let logits = try classifier.logits(ctx, latents: frames, trace: &trace)
        let ce = try LatentShapeClassifier.crossEntropy(logits: logits, labels: Array(repeating: label, count: c.frames))
        let dv = ce.dLogits.floats, k = scale * weight / Float(c.frames)
        for i in 0..<dv.count { dv[i] *= k }
        let dFrames = try classifier.backward(ctx, dLogits: ce.dLogits, trace: trace!, grads: try classifier.zeroGradients())
        if let mask = object?.window {
            // d frame / d x̂0 = m
            let dv = dFrames.floats, mv = mask.floats, ch = c.channels
            for p in 0..<mask.count {
                let m = mv[p]
                for k in p * ch..<(p + 1) * ch { dv[k] *= m }
            }
        }
        let patches = try Tensor.uninitialized(dOutput.shape)
        try model.patchify(dFrames, into: patches)
        let pv = patches.floats, ov = dOutput.floats
        for i in 0..<ov.count { ov[i] += pv[i] }
        lock.lock()
        sum.loss += ce.loss; sum.correct += ce.correct; sum.frames += ce.counted
        if s >= ShapeHead.highLevel { sum.correctHigh += ce.correct; sum.framesHigh += ce.counted }
        lock.unlock()
        return weight * Float(ce.loss) / Float(c.frames)
    }

    /// The figures since the last call (nil when no frame was read), and a fresh start.
    public func takeSummary() -> Summary? {
        lock.lock(); defer { lock.unlock() }
        let t = sum
        sum = (0, 0, 0, 0, 0)
        guard t.frames > 0 else { return nil }
        return Summary(crossEntropy: Float(t.loss / Double(t.frames)), accuracy: Float(t.correct) / Float(t.frames),
                       accuracyHigh: t.framesHigh > 0 ? Float(t.correctHigh) / Float(t.framesHigh) : nil, frames: t.frames)
    }
}

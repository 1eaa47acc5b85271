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
/// Only samples with a caption (not dropped) of a single-object scene at levels s <= `maxLevel` get
/// the term. It is thread-safe: each call allocates its own scratch, and the statistics are kept under
/// a lock.
public final class ClassifierOutlineLoss: @unchecked Sendable {
    public let classifier: LatentShapeClassifier
    /// γ, the term's weight per sample (mean cross-entropy over the clip's frames), e.g. 0.1.
    public let weight: Float
    /// Highest noise level that gets the term, e.g. 1 (every level).
    public let maxLevel: Float

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
    public init(classifier: LatentShapeClassifier, weight: Float, maxLevel: Float = 1) throws {
        guard weight.isFinite, weight > 0, maxLevel.isFinite, maxLevel > 0 else {
            throw ModelError.badInput("classifier term: weight \(weight) and highest level \(maxLevel) must be finite and > 0")
        }
        self.classifier = classifier; self.weight = weight; self.maxLevel = maxLevel
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
        guard s <= maxLevel else { return 0 }
        let c = model.config
        let frames = try Tensor.uninitialized([c.frames, c.height, c.width, c.channels])
        try model.unpatchify(output, into: frames)
        var trace: LatentShapeClassifier.Trace? = LatentShapeClassifier.Trace()
        let logits = try classifier.logits(ctx, latents: frames, trace: &trace)
        let ce = try LatentShapeClassifier.crossEntropy(logits: logits, labels: Array(repeating: label, count: c.frames))
        let dv = ce.dLogits.floats, k = scale * weight / Float(c.frames)
        for i in 0..<dv.count { dv[i] *= k }
        let dFrames = try classifier.backward(ctx, dLogits: ce.dLogits, trace: trace!, grads: try classifier.zeroGradients())
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

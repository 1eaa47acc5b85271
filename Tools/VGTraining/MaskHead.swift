import Foundation
import VGCore
import VGModel

/// The token mask head: a training-only auxiliary task that asks the DiT's last block, at every
/// noise level, for the clean clip's object mask inside each object token.
///
/// A linear map `aux.mask_head` ([M, D]) reads the last block's output ([T, D]) and gives each
/// token M logits, one per pixel of the clip the token covers (M = patchT · patchH · patchW · r²,
/// r the autoencoder's downsampling; order (frame, row, column) inside the token). The target is the
/// object coverage of those pixels (`Renderer.objectCoverage`, in [0, 1]); the loss is β times the
/// mean binary cross-entropy over the values of the tokens that touch an object.
///
/// Why (docs/PIPELINE.md "Session 27"): a head that names each object token's shape learned to do
/// so at high noise within a few hundred steps, and the samples still drew blobs. The model could be
/// made to know *which* shape; it had not learned *where the outline runs*. This head asks the last
/// block for the outline itself, pixel by pixel, in a form the final linear can read, with a loss
/// that weighs an edge pixel as much as any other. The forward never runs it; exports drop it.
public final class MaskHead: @unchecked Sendable {
    /// What the head did on one sample.
    public struct Outcome: Sendable {
        public var level: Float
        /// Tokens that touch an object, and their values.
        public var tokens: Int, values: Int
        /// Σ of the values' binary cross-entropies (nats).
        public var crossEntropy: Double
        /// Values inside the object (coverage >= 0.5) and predicted inside (logit >= 0), and their
        /// intersection: the mask's intersection over union.
        public var truth: Int, predicted: Int, both: Int
    }

    /// The head's figures over a step's samples.
    public struct Summary: Sendable, Equatable {
        /// Mean cross-entropy per value (nats), and the intersection over union of the masks.
        public var crossEntropy: Float, iou: Float
        /// The intersection over union over samples at s >= `ShapeHead.highLevel` (nil: none).
        public var iouHigh: Float?
        public var tokens: Int

        public init(_ outcomes: [Outcome]) {
            func iou(_ o: [Outcome]) -> Float? {
                let both = o.reduce(0) { $0 + $1.both }, union = o.reduce(0) { $0 + $1.truth + $1.predicted } - both
                return union > 0 ? Float(both) / Float(union) : nil
            }
            let values = outcomes.reduce(0) { $0 + $1.values }
            tokens = outcomes.reduce(0) { $0 + $1.tokens }
            crossEntropy = values > 0 ? Float(outcomes.reduce(0.0) { $0 + $1.crossEntropy } / Double(values)) : 0
            self.iou = iou(outcomes) ?? 0
            iouHigh = iou(outcomes.filter { $0.level >= ShapeHead.highLevel })
        }
    }

    let config: ModelConfig
    /// Each token's target mask.   [T, M]
    var targets: [Float]
    /// Whether each token touches an object.   [T]
    var touched: [Bool]
    /// Gradient of β · loss with respect to the features the head read.   [T, D]
    public let dFeatures: Tensor

    public init(config c: ModelConfig) throws {
        guard c.maskHeadValues > 0 else { throw ModelError.invalidConfig("the config has no mask head (maskHeadValues 0)") }
        config = c
        targets = [Float](repeating: 0, count: c.tokens * c.maskHeadValues)
        touched = [Bool](repeating: false, count: c.tokens)
        dFeatures = try Tensor(zeros: [c.tokens, c.modelWidth])
    }

    /// Per-token masks `[T, M]` from a pixel coverage `[F, Hp, Wp]` (Hp = r · height, Wp = r · width,
    /// r² · patchT · patchH · patchW = M), and which tokens touch an object (any coverage > 0).
    public static func tokenMasks(_ coverage: Tensor, config c: ModelConfig) throws -> (masks: [Float], touched: [Bool]) {
        let perPatch = c.patchT * c.patchH * c.patchW, m = c.maskHeadValues
        guard m > 0, m % perPatch == 0 else { throw ModelError.invalidConfig("maskHeadValues \(m) for \(perPatch)-position patches") }
        let r = pixelScale(c)
        guard r * r * perPatch == m, coverage.shape == [c.frames, c.height * r, c.width * r] else {
            throw ModelError.badInput("pixel coverage \(coverage.shape) for \(m)-value token masks of a \([c.frames, c.height, c.width]) clip")
        }
        let g = c.grid, (ph, pw) = (c.patchH * r, c.patchW * r), (hp, wp) = (c.height * r, c.width * r), cv = coverage.floats
        var masks = [Float](repeating: 0, count: c.tokens * m), touched = [Bool](repeating: false, count: c.tokens)
        var tok = 0
        for gt in 0..<g.t { for gy in 0..<g.y { for gx in 0..<g.x {
            var v = tok * m
            for dt in 0..<c.patchT { for dy in 0..<ph { for dx in 0..<pw {
                let a = cv[((gt * c.patchT + dt) * hp + gy * ph + dy) * wp + gx * pw + dx]
                guard a.isFinite, (0...1).contains(a) else { throw ModelError.badInput("pixel coverage \(a) outside [0, 1]") }
                masks[v] = a
                if a > 0 { touched[tok] = true }
                v += 1
            } } }
            tok += 1
        } } }
        return (masks, touched)
    }

    /// Pixels per clip position along each axis, r, from `maskHeadValues` = r² · patchT · patchH · patchW
    /// (1 without a mask head).
    public static func pixelScale(_ c: ModelConfig) -> Int {
        let perPatch = c.patchT * c.patchH * c.patchW
        guard c.maskHeadValues > 0 else { return 1 }
        return Int((Double(c.maskHeadValues / perPatch)).squareRoot().rounded())
    }

    /// Runs the head on `features` ([T, D], the last block's output) against the masks of `coverage`:
    /// adds `weight` · β · ∇(mean binary cross-entropy) to the head's gradients in `grads`, writes the
    /// features' gradient (the same scale) into `dFeatures`, and returns what it did.
    func run(coverage: Tensor, features: Tensor, params: ParameterSet, grads: ParameterSet,
             weight: Float, modelWeight beta: Float, level s: Float) throws -> Outcome {
        let c = config, d = c.modelWidth, m = c.maskHeadValues
        guard features.shape == [c.tokens, d] else { throw ModelError.badInput("mask head features \(features.shape)") }
        (targets, touched) = try Self.tokenMasks(coverage, config: c)
        dFeatures.fill(0)
        let n = touched.reduce(0) { $0 + ($1 ? 1 : 0) }
        guard n > 0 else { return Outcome(level: s, tokens: 0, values: 0, crossEntropy: 0, truth: 0, predicted: 0, both: 0) }
        let w = try params.tensor("aux.mask_head.weight").floats, b = try params.tensor("aux.mask_head.bias").floats
        let gw = try grads.tensor("aux.mask_head.weight").floats, gb = try grads.tensor("aux.mask_head.bias").floats
        let h = features.floats, dh = dFeatures.floats
        let scale = weight * beta / Float(n * m)
        var ce = 0.0, truth = 0, predicted = 0, both = 0
        for t in 0..<c.tokens where touched[t] {
            let row = t * d
            for j in 0..<m {
                var z = b[j]
                for i in 0..<d { z += w[j * d + i] * h[row + i] }
                let y = targets[t * m + j]
                // BCE with logits: softplus(z) - y z, computed stably; d/dz = sigmoid(z) - y
                ce += Double(max(z, 0) - z * y + Foundation.log1p(Foundation.exp(-abs(z))))
                let p = 1 / (1 + Foundation.exp(-z))
                if y >= 0.5 { truth += 1 }
                if z >= 0 { predicted += 1; if y >= 0.5 { both += 1 } }
                let g = (p - y) * scale
                gb[j] += g
                for i in 0..<d { gw[j * d + i] += g * h[row + i]; dh[row + i] += g * w[j * d + i] }
            }
        }
        return Outcome(level: s, tokens: n, values: n * m, crossEntropy: ce, truth: truth, predicted: predicted, both: both)
    }
}

extension Optional where Wrapped == MaskHead.Outcome {
    /// The mean binary cross-entropy per value of a sample's mask-head outcome (0 without one).
    var meanCrossEntropy: Float {
        guard let o = self, o.values > 0 else { return 0 }
        return Float(o.crossEntropy / Double(o.values))
    }
}

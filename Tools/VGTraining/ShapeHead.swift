import Foundation
import VGCore
import VGModel

/// The token shape head: a training-only auxiliary task that asks the DiT, at every noise level,
/// which shape each object token shows.
///
/// A linear map `aux.shape_head` ([K, D]) reads the output of block `ModelConfig.shapeHeadBlock`
/// ([T, D]) and gives K logits per token. A token's label is the shape of the object that covers
/// most of its patch (`Renderer.objectShapeMap`, pooled here), and tokens mostly on background have
/// none. The loss is the mean cross-entropy over the labelled tokens, times β
/// (`FlowMatchingTrainer.shapeHeadWeight`), added to the flow-matching loss.
///
/// Why: the base draws one object of the right colour and place and never the outline its caption
/// names (docs/PIPELINE.md, sessions 11-26). In the flow loss a star and a disc of the same size
/// differ by a few pixels at the edge, so the gradient that would carry the caption's shape word to
/// the object's tokens is a small part of a noisy sum. The head asks for that word at the object's
/// tokens directly, with a loss that is as large for a wrong shape as for a wrong colour. This is
/// supervision of an inner representation, as REPA (Yu et al. 2024, arXiv 2410.06940) aligns a
/// DiT's early blocks with a pretrained encoder's features; here the renderer's scene labels stand
/// in for the encoder. The labels are training data, like the coverage maps; ShapeBench is never
/// read. The forward never runs the head, and exports for the runtime drop it.
public final class ShapeHead: @unchecked Sendable {
    /// What the head did on one sample.
    public struct Outcome: Sendable {
        /// The sample's noise level s.
        public var level: Float
        /// Labelled tokens, and how many of them the head's largest logit named right.
        public var tokens: Int, correct: Int
        /// Σ of the labelled tokens' cross-entropies (nats).
        public var crossEntropy: Double
    }

    /// The head's figures over a step's samples.
    public struct Summary: Sendable, Equatable {
        /// Mean cross-entropy per labelled token (nats; ln K at chance), and the share named right.
        public var crossEntropy: Float, accuracy: Float
        /// The share named right among tokens of samples at s >= `ShapeHead.highLevel` (nil: none).
        public var accuracyHigh: Float?
        /// Labelled tokens in the step.
        public var tokens: Int

        public init(_ outcomes: [Outcome]) {
            let n = outcomes.reduce(0) { $0 + $1.tokens }, right = outcomes.reduce(0) { $0 + $1.correct }
            let high = outcomes.filter { $0.level >= ShapeHead.highLevel }
            let nh = high.reduce(0) { $0 + $1.tokens }
            tokens = n
            crossEntropy = n > 0 ? Float(outcomes.reduce(0.0) { $0 + $1.crossEntropy } / Double(n)) : 0
            accuracy = n > 0 ? Float(right) / Float(n) : 0
            accuracyHigh = nh > 0 ? Float(high.reduce(0) { $0 + $1.correct }) / Float(nh) : nil
        }
    }

    /// Levels from which the head's accuracy is also reported apart: where sampling must draw the
    /// outline from the caption (docs/PIPELINE.md, session 25's probes).
    public static let highLevel: Float = 0.6
    /// Share of a token's positions that must be labelled for the token to get a label.
    public static let labelledShare: Float = 0.25

    let config: ModelConfig
    /// Per-token labels (-1: none) and the logits of one token.   [T], [K]
    var labels: [Int32], logits: [Float]
    /// Gradient of β · loss with respect to the features the head read.   [T, D]
    public let dFeatures: Tensor

    public init(config c: ModelConfig) throws {
        guard c.shapeHeadClasses > 0 else { throw ModelError.invalidConfig("the config has no shape head (shapeHeadClasses 0)") }
        config = c
        labels = [Int32](repeating: -1, count: c.tokens)
        logits = [Float](repeating: 0, count: c.shapeHeadClasses)
        dFeatures = try Tensor(zeros: [c.tokens, c.modelWidth])
    }

    /// Per-token labels from a shape map `[F, H, W]` (class index or -1 per position): the class that
    /// most of the token's labelled positions show when at least `labelledShare` of its positions
    /// are labelled, else -1. Ties go to the lower class index.
    public static func tokenLabels(_ map: Tensor, config c: ModelConfig) throws -> [Int32] {
        guard map.shape == [c.frames, c.height, c.width] else {
            throw ModelError.badInput("shape map \(map.shape), expected \([c.frames, c.height, c.width])")
        }
        let g = c.grid, k = c.shapeHeadClasses, m = map.floats, perToken = c.patchT * c.patchH * c.patchW
        var out = [Int32](repeating: -1, count: c.tokens), counts = [Int](repeating: 0, count: max(k, 1))
        var tok = 0
        for gt in 0..<g.t { for gy in 0..<g.y { for gx in 0..<g.x {
            for j in 0..<counts.count { counts[j] = 0 }
            var labelled = 0
            for dt in 0..<c.patchT { for dy in 0..<c.patchH { for dx in 0..<c.patchW {
                let v = m[((gt * c.patchT + dt) * c.height + gy * c.patchH + dy) * c.width + gx * c.patchW + dx]
                guard v.isFinite, v >= 0 else { continue }
                let cls = Int(v)
                guard cls < k, Float(cls) == v else { throw ModelError.badInput("shape map value \(v): not a class in 0..<\(k) or -1") }
                counts[cls] += 1; labelled += 1
            } } }
            if Float(labelled) >= labelledShare * Float(perToken) {
                var best = 0
                for j in 1..<k where counts[j] > counts[best] { best = j }
                out[tok] = Int32(best)
            }
            tok += 1
        } } }
        return out
    }

    /// Runs the head on `features` ([T, D], the output of block `shapeHeadBlock`) against the labels
    /// of `map`: adds `weight` · β · ∇(mean cross-entropy) to the head's gradients in `grads`, writes
    /// the features' gradient (the same scale) into `dFeatures`, and returns what it did. A sample
    /// without labelled tokens adds nothing and leaves `dFeatures` at zero.
    func run(map: Tensor, features: Tensor, model: VideoDiT, params: ParameterSet, grads: ParameterSet,
             weight: Float, modelWeight beta: Float, level s: Float) throws -> Outcome {
        let c = config, d = c.modelWidth, k = c.shapeHeadClasses
        guard features.shape == [c.tokens, d] else { throw ModelError.badInput("shape head features \(features.shape)") }
        labels = try Self.tokenLabels(map, config: c)
        dFeatures.fill(0)
        let n = labels.reduce(0) { $0 + ($1 >= 0 ? 1 : 0) }
        guard n > 0 else { return Outcome(level: s, tokens: 0, correct: 0, crossEntropy: 0) }
        let w = try params.tensor("aux.shape_head.weight").floats, b = try params.tensor("aux.shape_head.bias").floats
        let gw = try grads.tensor("aux.shape_head.weight").floats, gb = try grads.tensor("aux.shape_head.bias").floats
        let h = features.floats, dh = dFeatures.floats
        let scale = weight * beta / Float(n)
        var ce = 0.0, correct = 0
        for t in 0..<c.tokens where labels[t] >= 0 {
            let y = Int(labels[t]), row = t * d
            // logits = W h_t + b   [K]
            var top = 0
            for j in 0..<k {
                var z = b[j]
                for i in 0..<d { z += w[j * d + i] * h[row + i] }
                logits[j] = z
                if z > logits[top] { top = j }
            }
            if top == y { correct += 1 }
            // softmax and cross-entropy -log p_y (max-shifted)
            let zmax = logits[top]
            var sum: Float = 0
            for j in 0..<k { logits[j] = Foundation.exp(logits[j] - zmax); sum += logits[j] }
            ce += Double(Foundation.log(sum) - Foundation.log(max(logits[y], .leastNormalMagnitude)))
            // d(CE)/d(logit_j) = p_j - [j = y]
            for j in 0..<k {
                let g = (logits[j] / sum - (j == y ? 1 : 0)) * scale
                gb[j] += g
                for i in 0..<d { gw[j * d + i] += g * h[row + i]; dh[row + i] += g * w[j * d + i] }
            }
        }
        return Outcome(level: s, tokens: n, correct: correct, crossEntropy: ce)
    }
}

extension Optional where Wrapped == ShapeHead.Outcome {
    /// The mean cross-entropy per labelled token of a sample's head outcome (0 without one).
    var meanCrossEntropy: Float {
        guard let o = self, o.tokens > 0 else { return 0 }
        return Float(o.crossEntropy / Double(o.tokens))
    }
}

import Foundation
import VGCore
import VGModel

/// Optimisation settings of a training run (stored with checkpoints).
public struct OptimizerConfig: Codable, Equatable, Sendable {
    /// Peak learning rate, e.g. 3e-4 for pretraining a small model.
    public var learningRate: Float = 3e-4
    /// Adam's moment decays, e.g. 0.9 and 0.99.
    public var beta1: Float = 0.9, beta2: Float = 0.99
    /// Adam's epsilon, e.g. 1e-8.
    public var epsilon: Float = 1e-8
    /// Decoupled weight decay on matrices (not on biases, norms or embeddings), e.g. 0.01.
    public var weightDecay: Float = 0.01
    /// Global gradient-norm clip, e.g. 1.0 (0 disables).
    public var clipNorm: Float = 1
    /// Linear warm-up steps, then cosine decay to `minLearningRateRatio` x peak at `totalSteps`.
    public var warmupSteps: Int = 200
    public var totalSteps: Int = 10_000
    public var minLearningRateRatio: Float = 0.1
    /// EMA decay of the weights kept for sampling, e.g. 0.999 (0 disables).
    public var emaDecay: Float = 0.999
    public init() {}

    /// The learning rate at optimizer step `step` (0-based).
    public func learningRate(at step: Int) -> Float {
        if step < warmupSteps { return learningRate * Float(step + 1) / Float(max(warmupSteps, 1)) }
        let progress = min(1, Float(step - warmupSteps) / Float(max(totalSteps - warmupSteps, 1)))
        let cosine = 0.5 * (1 + Foundation.cos(Float.pi * progress))
        return learningRate * (minLearningRateRatio + (1 - minLearningRateRatio) * cosine)
    }
}

/// AdamW (decoupled weight decay, Loshchilov & Hutter) with bias correction, global-norm gradient
/// clipping and an exponential moving average of the weights.
public final class AdamW: @unchecked Sendable {
    public let config: OptimizerConfig
    /// First and second moments, same layout as the parameters.
    public let m: ParameterSet, v: ParameterSet
    /// EMA of the weights (nil when emaDecay is 0).
    public let ema: ParameterSet?
    /// Optimizer steps taken.
    public internal(set) var step = 0

    public init(config: OptimizerConfig, modelConfig: ModelConfig, initialWeights: ParameterSet) throws {
        self.config = config
        m = try ParameterSet(config: modelConfig); v = try ParameterSet(config: modelConfig)
        if config.emaDecay > 0 {
            let e = try ParameterSet(config: modelConfig)
            for n in e.names { try e.set(n, from: try initialWeights.tensor(n)) }
            ema = e
        } else {
            ema = nil
        }
    }

    /// Whether a parameter gets weight decay: matrices do; biases, norms and embeddings do not.
    public static func decays(_ name: String, shape: [Int]) -> Bool {
        shape.count == 2 && !name.contains("embedding")
    }

    /// Global L2 norm of the gradients.
    public static func gradientNorm(_ grads: ParameterSet) -> Float {
        var s = 0.0
        for n in grads.names { for g in grads.tensors[n]!.floats { s += Double(g) * Double(g) } }
        return Float(s.squareRoot())
    }

    /// One update: clip the gradients, step every parameter, update the EMA.
    /// - Returns: the gradient norm before clipping and the learning rate used.
    @discardableResult
    public func update(_ params: ParameterSet, grads: ParameterSet) throws -> (gradNorm: Float, learningRate: Float) {
        let c = config
        let norm = AdamW.gradientNorm(grads)
        guard norm.isFinite else { throw ModelError.badInput("gradient norm is \(norm)") }
        let clip: Float = c.clipNorm > 0 && norm > c.clipNorm ? c.clipNorm / norm : 1
        let lr = c.learningRate(at: step)
        step += 1
        let bc1 = 1 - Foundation.pow(c.beta1, Float(step)), bc2 = 1 - Foundation.pow(c.beta2, Float(step))
        for name in params.names {
            let p = try params.tensor(name), g = try grads.tensor(name).floats
            let mm = try m.tensor(name).floats, vv = try v.tensor(name).floats, pv = p.floats
            let wd = AdamW.decays(name, shape: p.shape) ? c.weightDecay : 0
            for i in 0..<pv.count {
                let gi = g[i] * clip
                mm[i] = c.beta1 * mm[i] + (1 - c.beta1) * gi
                vv[i] = c.beta2 * vv[i] + (1 - c.beta2) * gi * gi
                let mh = mm[i] / bc1, vh = vv[i] / bc2
                pv[i] -= lr * (mh / (vh.squareRoot() + c.epsilon) + wd * pv[i])
            }
            if let ema {
                let e = try ema.tensor(name).floats, d = c.emaDecay
                for i in 0..<pv.count { e[i] = d * e[i] + (1 - d) * pv[i] }
            }
        }
        return (norm, lr)
    }
}

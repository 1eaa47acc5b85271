import Foundation
import VGCore
import VGModel

/// AdamW over parameters held by name (the small convolutional networks trained beside the DiT: the
/// latent autoencoder and the latent shape classifier), with `OptimizerConfig`'s schedule, global-norm
/// clipping and decoupled weight decay on matrices only. No EMA.
struct NamedAdamW {
    /// Parameter names and shapes, in the order the update walks them.
    let layout: [(name: String, shape: [Int])]
    /// First and second moments by parameter name.
    let m: [String: Tensor], v: [String: Tensor]

    init(layout: [(name: String, shape: [Int])]) throws {
        self.layout = layout
        var m: [String: Tensor] = [:], v: [String: Tensor] = [:]
        for (name, shape) in layout { m[name] = try Tensor(zeros: shape); v[name] = try Tensor(zeros: shape) }
        self.m = m; self.v = v
    }

    /// One update of `parameters` from `grads` at optimizer step `step` (0-based, the step being taken);
    /// returns the gradient's global norm before clipping and the learning rate used.
    /// - Throws: `ModelError.badInput` when the gradient is not finite (nothing is changed then).
    func update(_ parameters: [String: Tensor], grads: [String: Tensor], step: Int, config c: OptimizerConfig) throws -> (norm: Float, learningRate: Float) {
        var sq = 0.0
        for (name, _) in layout { for x in grads[name]!.floats { sq += Double(x) * Double(x) } }
        let norm = Float(sq.squareRoot())
        guard norm.isFinite else { throw ModelError.badInput("gradient norm is \(norm)") }
        let clip: Float = c.clipNorm > 0 && norm > c.clipNorm ? c.clipNorm / norm : 1
        let lr = c.learningRate(at: step)
        let bc1 = 1 - Foundation.pow(c.beta1, Float(step + 1)), bc2 = 1 - Foundation.pow(c.beta2, Float(step + 1))
        for (name, shape) in layout {
            let p = parameters[name]!.floats, g = grads[name]!.floats, mm = m[name]!.floats, vv = v[name]!.floats
            let wd = shape.count == 2 ? c.weightDecay : 0
            for i in 0..<p.count {
                let gi = g[i] * clip
                mm[i] = c.beta1 * mm[i] + (1 - c.beta1) * gi
                vv[i] = c.beta2 * vv[i] + (1 - c.beta2) * gi * gi
                p[i] -= lr * ((mm[i] / bc1) / ((vv[i] / bc2).squareRoot() + c.epsilon) + wd * p[i])
            }
        }
        return (norm, lr)
    }
}

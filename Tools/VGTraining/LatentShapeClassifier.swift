import Foundation
import VGCore
import VGFormat
import VGModel

/// The architecture of a small convolutional classifier that names the shape of the one object in a
/// latent frame (`ShapeKind` order): a 3 x 3 convolution at the latent grid, then per halving a
/// 2 x 2 unshuffle and a 3 x 3 convolution (GELU after each), the mean over the last grid, and a
/// linear map to the class logits.
///
/// Shapes: latents `[N, h, w, C]` (a latent DiT's normalised clip, one frame per row); logits `[N, K]`.
public struct ShapeClassifierConfig: Codable, Equatable, Sendable {
    /// The latent grid, e.g. 16 x 16, and its channels, e.g. 8.
    public var height: Int, width: Int, channels: Int
    /// Feature channels at the grid, 1/2, 1/4, ..., e.g. [32, 64, 64].
    public var widths: [Int]
    /// Classes K, e.g. 5.
    public var classes: Int

    public init(height: Int, width: Int, channels: Int, widths: [Int] = [32, 64, 64], classes: Int) {
        self.height = height; self.width = width; self.channels = channels; self.widths = widths; self.classes = classes
    }

    /// - Throws: `ModelError.invalidConfig` for sizes that do not fit together.
    public func validate() throws {
        let halvings = widths.count - 1
        guard !widths.isEmpty, widths.allSatisfy({ $0 > 0 && $0 <= 4096 }), channels > 0, channels <= 4096,
              (2...1000).contains(classes), height > 0, width > 0, height <= 4096, width <= 4096,
              height % (1 << halvings) == 0, width % (1 << halvings) == 0 else {
            throw ModelError.invalidConfig("shape classifier: grid \(height) x \(width) x \(channels), widths \(widths), \(classes) classes do not fit (each width 1-4096, the grid a multiple of 2^\(halvings), 2-1000 classes)")
        }
    }

    /// The convolutional layers (names `cls.conv<i>`).
    public var layers: [AutoencoderConfig.Layer] {
        var l: [AutoencoderConfig.Layer] = [.conv(name: "cls.conv0", kernel: 3, inChannels: channels, outChannels: widths[0], gelu: true)]
        for i in 1..<max(widths.count, 1) {
            l.append(.toDepth)
            l.append(.conv(name: "cls.conv\(i)", kernel: 3, inChannels: 4 * widths[i - 1], outChannels: widths[i], gelu: true))
        }
        return l
    }

    /// Parameter names and shapes: each convolution's `.weight [out, 9·in]` and `.bias [out]`, then
    /// `cls.head.weight [K, w_last]` and `cls.head.bias [K]`.
    public var layout: [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        for case let .conv(name, k, cin, cout, _) in layers {
            out.append(("\(name).weight", [cout, k * k * cin]))
            out.append(("\(name).bias", [cout]))
        }
        out.append(("cls.head.weight", [classes, widths[widths.count - 1]]))
        out.append(("cls.head.bias", [classes]))
        return out
    }
}

/// A frozen or training shape classifier over latent frames (`ShapeClassifierConfig`), training
/// only: never part of a model the runtime loads.
///
/// It is the reward model of the classifier term of pretraining (`ClassifierOutlineLoss`): trained on
/// clean latents of rendered single-object scenes with the renderer's labels (training data, like the
/// coverage maps), it reads the DiT's clean-clip prediction and says which shape it shows. ShapeBench
/// is never read.
public final class LatentShapeClassifier: @unchecked Sendable {
    public let config: ShapeClassifierConfig
    /// Parameters by name (`config.layout`), f32.
    public let parameters: [String: Tensor]

    /// A classifier over `parameters`, which must hold every tensor of the layout in its shape.
    /// - Throws: `ModelError.badParameter` for a missing or misshapen tensor.
    public init(config: ShapeClassifierConfig, parameters: [String: Tensor]) throws {
        try config.validate()
        for (name, shape) in config.layout {
            guard let t = parameters[name] else { throw ModelError.badParameter("shape classifier: no tensor named \(name)") }
            guard t.shape == shape, t.dtype == .f32 else {
                throw ModelError.badParameter("shape classifier: \(name) is \(t.shape) \(t.dtype), expected \(shape) f32")
            }
        }
        self.config = config; self.parameters = parameters
    }

    /// Fresh weights: uniform with variance 1 / fan-in (GELU layers), the head a tenth of that, biases zero.
    public static func initialized(_ config: ShapeClassifierConfig, seed: UInt64) throws -> LatentShapeClassifier {
        try config.validate()
        var rng = SeededRandom(seed: seed)
        var p: [String: Tensor] = [:]
        for (name, shape) in config.layout {
            let t = try Tensor(zeros: shape)
            if name.hasSuffix(".weight") {
                let gain: Float = name == "cls.head.weight" ? 0.1 : 1, bound = gain * (3 / Float(shape[1])).squareRoot(), v = t.floats
                for i in 0..<v.count { v[i] = bound * Float(2 * rng.uniform() - 1) }
            }
            p[name] = t
        }
        return try LatentShapeClassifier(config: config, parameters: p)
    }

    /// What a traced forward kept for the backward pass.
    public struct Trace: @unchecked Sendable {
        var records: [AutoencoderRecord] = []
        /// The mean features `[N, w_last]` the head read, and the last grid's size.
        var pooled: Tensor? = nil
        var grid = (height: 0, width: 0)
    }

    /// Logits `[N, K]` of latent frames `[N, h, w, C]`; with `trace`, what the backward pass needs.
    public func logits(_ ctx: ComputeContext, latents: Tensor, trace: inout Trace?) throws -> Tensor {
        let c = config
        guard latents.shape.count == 4, latents.shape[0] > 0, Array(latents.shape.dropFirst()) == [c.height, c.width, c.channels] else {
            throw ModelError.badInput("shape classifier: latents are \(latents.shape), expected [N, \(c.height), \(c.width), \(c.channels)]")
        }
        var records: [AutoencoderRecord]? = trace == nil ? nil : []
        let features = try LatentAutoencoder.run(ctx, c.layers, parameters: parameters, input: latents, trace: &records)
        let (n, gh, gw, d) = (features.shape[0], features.shape[1], features.shape[2], features.shape[3])
        let pooled = try Tensor(zeros: [n, d]), fv = features.floats, pv = pooled.floats, scale = 1 / Float(gh * gw)
        for i in 0..<n { for p in 0..<(gh * gw) { let row = (i * gh * gw + p) * d; for j in 0..<d { pv[i * d + j] += fv[row + j] * scale } } }
        let out = try Tensor.uninitialized([n, c.classes])
        try ctx.linear(pooled, .f32(parameters["cls.head.weight"]!), bias: parameters["cls.head.bias"]!, into: out)
        if trace != nil { trace = Trace(records: records ?? [], pooled: pooled, grid: (gh, gw)) }
        return out
    }

    /// Backward of `logits`: takes `dLogits` `[N, K]` back to the latents `[N, h, w, C]` (returned) and
    /// accumulates parameter gradients into `grads` (the layout's tensors; a frozen classifier's caller
    /// passes scratch).
    public func backward(_ ctx: ComputeContext, dLogits: Tensor, trace: Trace, grads: [String: Tensor]) throws -> Tensor {
        guard let pooled = trace.pooled, dLogits.shape == [pooled.shape[0], config.classes],
              let gw = grads["cls.head.weight"], let gb = grads["cls.head.bias"] else {
            throw ModelError.badInput("shape classifier backward: logits' gradient \(dLogits.shape) does not match the trace, or no head gradient")
        }
        let (n, d) = (pooled.shape[0], pooled.shape[1]), (h, w) = trace.grid
        let dPooled = try Tensor.uninitialized([n, d])
        try ctx.linearBackward(dLogits, x: pooled, weight: parameters["cls.head.weight"]!, dx: dPooled, dWeight: gw, dBias: gb)
        let dFeatures = try Tensor.uninitialized([n, h, w, d]), dfv = dFeatures.floats, dpv = dPooled.floats, scale = 1 / Float(h * w)
        for i in 0..<n { for p in 0..<(h * w) { let row = (i * h * w + p) * d; for j in 0..<d { dfv[row + j] = dpv[i * d + j] * scale } } }
        return try LatentAutoencoder.backward(ctx, layers: config.layers, parameters: parameters, trace: trace.records,
                                              dOutput: dFeatures, grads: grads)
    }

    /// Zero tensors of the layout (gradients, or scratch for a frozen classifier's backward).
    public func zeroGradients() throws -> [String: Tensor] {
        var g: [String: Tensor] = [:]
        for (name, shape) in config.layout { g[name] = try Tensor(zeros: shape) }
        return g
    }

    /// Softmax cross-entropy of `logits` `[N, K]` against `labels` (N class indices; a label < 0 is
    /// skipped): the summed loss (nats), how many rows the largest logit names right, the rows counted,
    /// and ∂(summed loss)/∂logits `[N, K]` (zero on skipped rows).
    public static func crossEntropy(logits: Tensor, labels: [Int]) throws -> (loss: Double, correct: Int, counted: Int, dLogits: Tensor) {
        guard logits.shape.count == 2, logits.shape[0] == labels.count else {
            throw ModelError.badInput("cross-entropy: logits \(logits.shape) for \(labels.count) labels")
        }
        let k = logits.shape[1], lv = logits.floats, d = try Tensor(zeros: logits.shape), dv = d.floats
        var loss = 0.0, correct = 0, counted = 0
        for (i, label) in labels.enumerated() where label >= 0 {
            guard label < k else { throw ModelError.badInput("cross-entropy: label \(label) of \(k) classes") }
            let row = Array(lv[(i * k)..<((i + 1) * k)]), m = row.max()!
            let e = row.map { Foundation.exp($0 - m) }, z = e.reduce(0, +)
            loss += Double(Foundation.log(z) + m - row[label])
            if row.firstIndex(of: m) == label { correct += 1 }
            counted += 1
            for j in 0..<k { dv[i * k + j] = e[j] / z - (j == label ? 1 : 0) }
        }
        return (loss, correct, counted, d)
    }

    /// Metadata key of the config in the classifier's safetensors file.
    public static let configKey = "vgrt.shape_classifier_config"

    /// Writes the parameters (f32 or f16) with the config and `extra` metadata, atomically.
    public func save(asHalf: Bool, extra: [String: String] = [:], to url: URL) throws {
        var meta = extra
        meta[Self.configKey] = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        var w = SafeTensorsWriter(metadata: meta)
        for (name, _) in config.layout { try w.add(name, tensor: parameters[name]!, as: asHalf ? .f16 : .f32) }
        try w.write(to: url)
    }

    /// Reads a classifier written by `save`.
    /// - Throws: `ModelError.badParameter` when the file is not a shape classifier; the file's own
    ///   errors for a file that is not safetensors.
    public static func load(_ url: URL) throws -> LatentShapeClassifier {
        let file = try SafeTensorsFile(contentsOf: url)
        guard let cs = file.metadata[configKey] else {
            throw ModelError.badParameter("\(url.lastPathComponent): not a shape classifier (no \(configKey) in its metadata)")
        }
        let c: ShapeClassifierConfig
        do { c = try JSONDecoder().decode(ShapeClassifierConfig.self, from: Data(cs.utf8)) } catch {
            throw ModelError.invalidConfig("\(url.lastPathComponent): shape classifier config: \(error)")
        }
        try c.validate()
        var p: [String: Tensor] = [:]
        for (name, _) in c.layout {
            let t = try file.tensor(named: name)
            let f = try Tensor(zeros: t.shape)
            try f.copy(from: t)
            p[name] = f
        }
        return try LatentShapeClassifier(config: c, parameters: p)
    }
}

/// Trains a `LatentShapeClassifier` with AdamW on labelled latent frames.
public final class ShapeClassifierTrainer: @unchecked Sendable {
    public let classifier: LatentShapeClassifier
    public let optimizer: OptimizerConfig
    let grads: [String: Tensor]
    let adam: NamedAdamW
    let ctx: ComputeContext
    public private(set) var step = 0

    public init(classifier: LatentShapeClassifier, optimizer: OptimizerConfig, context: ComputeContext) throws {
        self.classifier = classifier; self.optimizer = optimizer; ctx = context
        grads = try classifier.zeroGradients()
        adam = try NamedAdamW(layout: classifier.config.layout)
    }

    /// One AdamW step on the mean cross-entropy of `latents` `[N, h, w, C]` against `labels`; returns
    /// that mean and the share named right. With `adversary`, the step trains on the latents moved by
    /// `adversary.steps` steps of projected gradient ascent on the loss, each of `radius / 2` along the
    /// frame's normalised input gradient, within an L2 ball of `radius` per frame (Madry et al. 2018):
    /// a classifier robust to small moves has input gradients that point to what a shape looks like,
    /// not to patterns that merely flip its verdict (Santurkar et al. 2019), which is what a loss that
    /// reads it through a generator's output needs.
    @discardableResult
    public func step(latents: Tensor, labels: [Int], adversary: (radius: Float, steps: Int)? = nil) throws -> (loss: Float, accuracy: Float) {
        if let a = adversary, a.steps > 0, a.radius > 0 { try perturb(latents, labels: labels, radius: a.radius, steps: a.steps) }
        for g in grads.values { g.fill(0) }
        var trace: LatentShapeClassifier.Trace? = LatentShapeClassifier.Trace()
        let logits = try classifier.logits(ctx, latents: latents, trace: &trace)
        let ce = try LatentShapeClassifier.crossEntropy(logits: logits, labels: labels)
        guard ce.counted > 0 else { throw ModelError.badInput("shape classifier: a batch with no labelled frame") }
        let dv = ce.dLogits.floats, scale = 1 / Float(ce.counted)
        for i in 0..<dv.count { dv[i] *= scale }
        _ = try classifier.backward(ctx, dLogits: ce.dLogits, trace: trace!, grads: grads)
        do { _ = try adam.update(classifier.parameters, grads: grads, step: step, config: optimizer) } catch {
            throw ModelError.badInput("shape classifier: \(error)")
        }
        step += 1
        return (Float(ce.loss) * scale, Float(ce.correct) * scale)
    }

    /// Moves `latents` in place by projected gradient ascent on the cross-entropy (see `step`).
    /// - Throws: `ModelError.badInput` for an empty batch, a negative or non-finite radius or a
    ///   negative step count (before anything moves); the classifier's own errors for misshapen latents.
    public func perturb(_ latents: Tensor, labels: [Int], radius: Float, steps: Int) throws {
        guard latents.shape.count == 4, latents.shape[0] > 0, radius.isFinite, radius >= 0, steps >= 0 else {
            throw ModelError.badInput("adversarial move: latents \(latents.shape) (expected [N > 0, h, w, C]), radius \(radius) (finite, >= 0), steps \(steps) (>= 0)")
        }
        let n = latents.shape[0], per = latents.count / n, x = latents.floats
        let start = Array(x)
        let scratch = try classifier.zeroGradients()
        for _ in 0..<steps {
            var trace: LatentShapeClassifier.Trace? = LatentShapeClassifier.Trace()
            let ce = try LatentShapeClassifier.crossEntropy(logits: try classifier.logits(ctx, latents: latents, trace: &trace), labels: labels)
            let gradient = try classifier.backward(ctx, dLogits: ce.dLogits, trace: trace!, grads: scratch)   // kept alive while read
            let g = gradient.floats
            for i in 0..<n {
                var norm: Float = 0
                for j in 0..<per { norm += g[i * per + j] * g[i * per + j] }
                norm = norm.squareRoot()
                guard norm > 0, norm.isFinite else { continue }
                let k = radius / 2 / norm
                var moved: Float = 0
                for j in 0..<per { x[i * per + j] += k * g[i * per + j]; let d = x[i * per + j] - start[i * per + j]; moved += d * d }
                moved = moved.squareRoot()
                if moved > radius {   // back onto the ball around the frame's own latents
                    let shrink = radius / moved
                    for j in 0..<per { x[i * per + j] = start[i * per + j] + shrink * (x[i * per + j] - start[i * per + j]) }
                }
            }
        }
    }
}

import Foundation
import VGCore
import VGFormat
import VGModel

/// Backward of `LatentAutoencoder`'s forward (next to it in VGModel/LatentAutoencoder.swift).
extension LatentAutoencoder {
    /// Takes `dOutput` (the gradient of the traced forward's output) back through `layers`, whose
    /// forward appended `trace`; accumulates parameter gradients into `grads` and returns the gradient
    /// of the forward's input.
    func backward(_ ctx: ComputeContext, layers: [AutoencoderConfig.Layer], trace: [AutoencoderRecord], dOutput: Tensor,
                  grads: [String: Tensor]) throws -> Tensor {
        try Self.backward(ctx, layers: layers, parameters: parameters, trace: trace, dOutput: dOutput, grads: grads)
    }

    /// Backward of `LatentAutoencoder.run(_:_:parameters:input:trace:)`: takes `dOutput` back through
    /// `layers`, accumulates parameter gradients into `grads` and returns the input's gradient.
    static func backward(_ ctx: ComputeContext, layers: [AutoencoderConfig.Layer], parameters: [String: Tensor], trace: [AutoencoderRecord],
                         dOutput: Tensor, grads: [String: Tensor]) throws -> Tensor {
        guard trace.count == layers.count else {
            throw ModelError.badInput("autoencoder backward: \(trace.count) records for \(layers.count) layers")
        }
        let n = dOutput.shape[0]
        var d = dOutput
        for (layer, rec) in zip(layers, trace).reversed() {
            switch layer {
            case let .conv(name, k, cin, cout, gelu):
                guard let cols = rec.columns, let w = parameters["\(name).weight"], let gw = grads["\(name).weight"],
                      let gb = grads["\(name).bias"] else {
                    throw ModelError.badInput("autoencoder backward: \(name) has no record or gradient")
                }
                let rows = n * rec.height * rec.width
                var dPre = try d.view([rows, cout])
                if gelu {
                    guard let pre = rec.preActivation else { throw ModelError.badInput("autoencoder backward: \(name) kept no pre-activation") }
                    let g = try Tensor.uninitialized([rows, cout])
                    try ctx.geluBackward(dPre, x: pre, dx: g)
                    dPre = g
                }
                let dCols = try Tensor.uninitialized(cols.shape)
                try ctx.linearBackward(dPre, x: cols, weight: w, dx: dCols, dWeight: gw, dBias: gb)
                if k == 3 {
                    let dIn = try Tensor.uninitialized([n, rec.height, rec.width, cin])
                    OutputRefiner.scatterNeighbourhoods(dCols.floats.baseAddress!, channels: cin, frames: n, height: rec.height,
                                                        width: rec.width, into: dIn.floats.baseAddress!)
                    d = dIn
                } else {
                    d = try dCols.view([n, rec.height, rec.width, cin])
                }
            case .toDepth:
                d = try LatentAutoencoder.toSpace(d)     // the adjoint of a permutation is its inverse
            case .toSpace:
                d = try LatentAutoencoder.toDepth(d)
            }
        }
        return d
    }
}

/// Settings of an autoencoder training run (stored with its checkpoint).
public struct AutoencoderTrainingOptions: Codable, Equatable, Sendable {
    /// Weight of the outline term (`EdgeLoss`, per value) next to the plain squared error, e.g. 1.
    public var edgeWeight: Float = 1
    /// Weight of the mean squared latent, which keeps the latents' scale from growing, e.g. 1e-4.
    public var latentPenalty: Float = 1e-4
    /// Standard deviation of the Gaussian noise added to the latents before decoding, so the decoder
    /// learns to draw from latents that are near, not equal to, an encoder's (a diffusion model's
    /// predictions are never exact), e.g. 0.1.
    public var latentNoise: Float = 0.1
    public var optimizer = OptimizerConfig()
    public init() {}
}

/// Trains a `LatentAutoencoder` on batches of frames with AdamW (the optimizer's settings and
/// schedule are `OptimizerConfig`'s; no EMA).
public final class AutoencoderTrainer: @unchecked Sendable {
    public let config: AutoencoderConfig
    public let options: AutoencoderTrainingOptions
    public let model: LatentAutoencoder
    let grads: [String: Tensor]
    let adam: NamedAdamW
    var m: [String: Tensor] { adam.m }
    var v: [String: Tensor] { adam.v }
    public private(set) var step = 0
    /// Seed of the initial weights and of each step's latent noise (drawn from seed and step, so a
    /// restored run draws what an uninterrupted one would).
    public let seed: UInt64
    let ctx: ComputeContext

    public init(config: AutoencoderConfig, options: AutoencoderTrainingOptions, parameters: [String: Tensor]? = nil,
                seed: UInt64, context: ComputeContext) throws {
        self.config = config; self.options = options; self.ctx = context; self.seed = seed
        var rng = SeededRandom(seed: seed)
        var p = try parameters ?? LatentAutoencoder.zeroParameters(config)
        if parameters == nil {
            for (name, shape) in config.layout where name.hasSuffix(".weight") {
                // He-like uniform for GELU layers: variance 1 / fan_in; the output layers smaller.
                let fanIn = Float(shape[1]), gain: Float = name.hasSuffix("dec.out.weight") ? 0.1 : 1
                let bound = gain * (3 / fanIn).squareRoot(), t = p[name]!.floats
                for i in 0..<t.count { t[i] = bound * Float(2 * rng.uniform() - 1) }
            }
        } else {
            p = try p.mapValues { t in let c = try Tensor(zeros: t.shape); try c.copy(from: t); return c }
        }
        model = try LatentAutoencoder(config: config, parameters: p)
        grads = try LatentAutoencoder.zeroParameters(config)
        adam = try NamedAdamW(layout: config.layout)
    }

    /// Per-term losses of one step.
    public struct StepStats: Sendable {
        public var reconstruction: Double, edge: Double, latentMeanSquare: Double, gradNorm: Float, learningRate: Float
    }

    /// The loss of `frames` (`[N, H, W, 3]`) and its gradient into `grads` (zeroed first):
    /// mean (x̂ - x)² + μ Σ(Δe)² / count + λ mean z², with x̂ = D(E(x) + σ n).
    func lossAndGradient(_ frames: Tensor, noise: Tensor?) throws -> StepStats {
        for g in grads.values { g.fill(0) }
        var encTrace: [AutoencoderRecord]? = [], decTrace: [AutoencoderRecord]? = []
        let z = try model.encode(ctx, frames: frames, trace: &encTrace)
        let zIn = try Tensor.uninitialized(z.shape)
        let zv = z.floats, ziv = zIn.floats
        if let noise {
            guard noise.shape == z.shape else { throw ModelError.badInput("latent noise is \(noise.shape), latents \(z.shape)") }
            let nv = noise.floats
            for i in 0..<zv.count { ziv[i] = zv[i] + nv[i] }
        } else {
            for i in 0..<zv.count { ziv[i] = zv[i] }
        }
        let out = try model.decode(ctx, latents: zIn, trace: &decTrace)
        let ov = out.floats, xv = frames.floats, count = Float(ov.count)
        let dOut = try Tensor(zeros: out.shape), dv = dOut.floats
        var rec: Double = 0
        let err = try Tensor.uninitialized(out.shape), ev = err.floats
        for i in 0..<ov.count { let e = ov[i] - xv[i]; ev[i] = e; rec += Double(e * e); dv[i] = 2 * e / count }
        var edge: Double = 0
        if options.edgeWeight > 0 {
            let g = try Tensor.uninitialized(out.shape)
            let el = EdgeLoss(frames: out.shape[0], height: config.height, width: config.width)
            edge = try el.apply(error: ev, scale: options.edgeWeight / count, gradient: g.floats)
            let gv = g.floats
            for i in 0..<dv.count { dv[i] += gv[i] }
        }
        let dz = try model.backward(ctx, layers: config.decoderLayers, trace: decTrace!, dOutput: dOut, grads: grads)
        var zms: Double = 0
        let dzv = dz.floats, zc = Float(zv.count), lam = options.latentPenalty
        for i in 0..<zv.count { zms += Double(zv[i] * zv[i]); dzv[i] += 2 * lam * zv[i] / zc }
        _ = try model.backward(ctx, layers: config.encoderLayers, trace: encTrace!, dOutput: dz, grads: grads)
        return StepStats(reconstruction: rec / Double(count), edge: edge / Double(count), latentMeanSquare: zms / Double(zc),
                         gradNorm: 0, learningRate: 0)
    }

    /// One AdamW step on `frames` (`[N, H, W, 3]` in [-1, 1]).
    @discardableResult
    public func step(_ frames: Tensor) throws -> StepStats {
        var noise: Tensor? = nil
        if options.latentNoise > 0 {
            let t = try Tensor(zeros: [frames.shape[0], config.latentHeight, config.latentWidth, config.latentChannels])
            var rng = SeededRandom(seed: seed ^ (UInt64(step + 1) &* 0x9E37_79B9_7F4A_7C15))
            rng.fillGaussian(t.floats, scale: options.latentNoise)
            noise = t
        }
        var stats = try lossAndGradient(frames, noise: noise)
        let (norm, lr): (Float, Float)
        do { (norm, lr) = try adam.update(model.parameters, grads: grads, step: step, config: options.optimizer) } catch {
            throw ModelError.badInput("autoencoder: \(error)")
        }
        step += 1
        stats.gradNorm = norm; stats.learningRate = lr
        return stats
    }

    /// Metadata key of the autoencoder's config in its safetensors file.
    public static let configKey = LatentCodec.configKey

    /// Writes the parameters (f32 or f16) with the config, atomically.
    public static func save(_ model: LatentAutoencoder, asHalf: Bool, extra: [String: String] = [:], to url: URL) throws {
        var meta = extra
        meta[configKey] = String(decoding: try JSONEncoder().encode(model.config), as: UTF8.self)
        var w = SafeTensorsWriter(metadata: meta)
        for (name, _) in model.config.layout { try w.add(name, tensor: model.parameters[name]!, as: asHalf ? .f16 : .f32) }
        try w.write(to: url)
    }

    static let stepKey = "vgrt.autoencoder_step", seedKey = "vgrt.autoencoder_seed", optionsKey = "vgrt.autoencoder_options"

    /// Writes everything a run needs to go on exactly (f32 weights, Adam's moments, step, seed and
    /// options; `extra` is kept in the metadata, e.g. the data position), atomically.
    public func saveCheckpoint(to url: URL, extra: [String: String] = [:]) throws {
        var meta = extra
        meta[Self.configKey] = String(decoding: try JSONEncoder().encode(config), as: UTF8.self)
        meta[Self.optionsKey] = String(decoding: try JSONEncoder().encode(options), as: UTF8.self)
        meta[Self.stepKey] = String(step); meta[Self.seedKey] = String(seed)
        var w = SafeTensorsWriter(metadata: meta)
        for (name, _) in config.layout {
            try w.add(name, tensor: model.parameters[name]!)
            try w.add("m." + name, tensor: m[name]!); try w.add("v." + name, tensor: v[name]!)
        }
        try w.write(to: url)
    }

    /// A trainer restored from `saveCheckpoint`'s file, and the file's metadata (for the caller's own keys).
    public static func restore(_ url: URL, context: ComputeContext) throws -> (AutoencoderTrainer, [String: String]) {
        let file = try SafeTensorsFile(contentsOf: url)
        let meta = file.metadata
        guard let cs = meta[configKey], let os = meta[optionsKey], let st = meta[stepKey].flatMap({ Int($0) }), st >= 0,
              let sd = meta[seedKey].flatMap({ UInt64($0) }) else {
            throw ModelError.badParameter("\(url.lastPathComponent): not an autoencoder checkpoint (config, options, step or seed missing)")
        }
        let c: AutoencoderConfig, o: AutoencoderTrainingOptions
        do {
            c = try JSONDecoder().decode(AutoencoderConfig.self, from: Data(cs.utf8))
            o = try JSONDecoder().decode(AutoencoderTrainingOptions.self, from: Data(os.utf8))
        } catch { throw ModelError.invalidConfig("\(url.lastPathComponent): \(error)") }
        try c.validate()
        var p: [String: Tensor] = [:]
        for (name, _) in c.layout { p[name] = try file.tensor(named: name) }
        let t = try AutoencoderTrainer(config: c, options: o, parameters: p, seed: sd, context: context)
        for (name, _) in c.layout {
            try t.m[name]!.copy(from: try file.tensor(named: "m." + name)); try t.v[name]!.copy(from: try file.tensor(named: "v." + name))
        }
        t.step = st
        return (t, meta)
    }

    /// Metadata keys of the latent statistics (comma-separated per-channel values) that `LatentCodec` needs.
    public static let latentMeanKey = LatentCodec.meanKey, latentStdKey = LatentCodec.stdKey

    /// Reads an autoencoder file with its latent statistics (written by `vgtrain autoencoder --evaluate --write-stats`).
    public static func loadCodec(_ url: URL) throws -> LatentCodec {
        let file = try SafeTensorsFile(contentsOf: url)
        return try LatentCodec(metadata: file.metadata, fileName: url.lastPathComponent, tensor: { try file.tensor(named: $0) })
    }

    /// Reads an autoencoder written by `save` (f32 or f16).
    public static func load(_ url: URL) throws -> LatentAutoencoder {
        let file = try SafeTensorsFile(contentsOf: url)
        return try LatentAutoencoder(metadata: file.metadata, fileName: url.lastPathComponent, tensor: { try file.tensor(named: $0) })
    }
}

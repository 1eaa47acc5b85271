import Foundation
import VGCore

/// The architecture of a per-frame convolutional autoencoder that maps RGB frames to a latent grid
/// `downsample` times smaller in each direction, so that a diffusion model can work on latents in
/// which an object's outline is a few values rather than a patch of pixels (docs/DESIGN-NOTES.md
/// "A latent autoencoder").
///
/// Shapes: frames `[N, H, W, 3]` in [-1, 1]; latents `[N, H/r, W/r, C]` with r = `downsample`.
public struct AutoencoderConfig: Codable, Equatable, Sendable {
    /// Frame height and width in pixels, e.g. 64 x 64 (multiples of `downsample`).
    public var height: Int, width: Int
    /// Latent channels C, e.g. 8.
    public var latentChannels: Int
    /// Feature channels at full resolution, 1/2, 1/4, ..., e.g. [32, 64, 128]: one entry more than the
    /// number of halvings.
    public var widths: [Int]

    public init(height: Int, width: Int, latentChannels: Int, widths: [Int]) {
        self.height = height; self.width = width; self.latentChannels = latentChannels; self.widths = widths
    }

    /// How many times smaller the latent grid is than the frame along y and x.
    public var downsample: Int { 1 << max(widths.count - 1, 0) }
    public var latentHeight: Int { height / downsample }
    public var latentWidth: Int { width / downsample }

    /// - Throws: `ModelError.invalidConfig` for sizes that do not fit together.
    public func validate() throws {
        guard (1...5).contains(widths.count), widths.allSatisfy({ (1...1024).contains($0) }) else {
            throw ModelError.invalidConfig("autoencoder widths \(widths): 1 to 5 entries in 1...1024")
        }
        guard (1...256).contains(latentChannels) else { throw ModelError.invalidConfig("latent channels \(latentChannels): 1...256") }
        guard height > 0, width > 0, height % downsample == 0, width % downsample == 0, height <= 4096, width <= 4096 else {
            throw ModelError.invalidConfig("autoencoder frame \(height) x \(width) must be positive multiples of \(downsample)")
        }
    }

    /// Why a DiT of `model` cannot denoise this autoencoder's latents (its clip must be the latent
    /// grid), or nil when it can.
    public func latentGridMismatch(_ model: ModelConfig) -> String? {
        guard latentChannels != model.channels || latentHeight != model.height || latentWidth != model.width else { return nil }
        return "the autoencoder's latent grid [\(latentHeight), \(latentWidth), \(latentChannels)] is not the model's clip [\(model.height), \(model.width), \(model.channels)]"
    }

    /// One step of the network: a convolution (3 x 3 or 1 x 1, zero padding, as a linear over
    /// neighbourhoods), or a lossless reshuffle between space and channels (pixel unshuffle / shuffle
    /// by 2: `[h, w, c]` <-> `[h/2, w/2, 4c]`, channel index (dy·2 + dx)·c + ch).
    public enum Layer: Equatable, Sendable {
        case conv(name: String, kernel: Int, inChannels: Int, outChannels: Int, gelu: Bool)
        case toDepth, toSpace
    }

    /// The encoder: conv 3 -> w0, then per halving a 2 x 2 unshuffle and a conv, then a 1 x 1 to C.
    public var encoderLayers: [Layer] {
        var l: [Layer] = [.conv(name: "ae.enc.in", kernel: 3, inChannels: 3, outChannels: widths[0], gelu: true)]
        for i in 1..<max(widths.count, 1) {
            l.append(.toDepth)
            l.append(.conv(name: "ae.enc.down\(i)", kernel: 3, inChannels: 4 * widths[i - 1], outChannels: widths[i], gelu: true))
        }
        l.append(.conv(name: "ae.enc.out", kernel: 1, inChannels: widths[widths.count - 1], outChannels: latentChannels, gelu: false))
        return l
    }

    /// The decoder: conv C -> w_last, a second conv at the latent size, then per doubling a 1 x 1 to
    /// 4 w_{i-1}, a 2 x 2 shuffle and a conv, and a last conv to RGB.
    public var decoderLayers: [Layer] {
        let last = widths[widths.count - 1]
        var l: [Layer] = [.conv(name: "ae.dec.in", kernel: 3, inChannels: latentChannels, outChannels: last, gelu: true),
                          .conv(name: "ae.dec.mid", kernel: 3, inChannels: last, outChannels: last, gelu: true)]
        for i in stride(from: widths.count - 1, to: 0, by: -1) {
            l.append(.conv(name: "ae.dec.up\(i)", kernel: 1, inChannels: widths[i], outChannels: 4 * widths[i - 1], gelu: false))
            l.append(.toSpace)
            l.append(.conv(name: "ae.dec.conv\(i - 1)", kernel: 3, inChannels: widths[i - 1], outChannels: widths[i - 1], gelu: true))
        }
        l.append(.conv(name: "ae.dec.out", kernel: 3, inChannels: widths[0], outChannels: 3, gelu: false))
        return l
    }

    /// Parameter names and shapes: `<name>.weight [out, k·k·in]` (neighbour major, channel minor, as
    /// `OutputRefiner`'s) and `<name>.bias [out]` per convolution, encoder first.
    public var layout: [(name: String, shape: [Int])] {
        var out: [(String, [Int])] = []
        for case let .conv(name, k, cin, cout, _) in encoderLayers + decoderLayers {
            out.append(("\(name).weight", [cout, k * k * cin]))
            out.append(("\(name).bias", [cout]))
        }
        return out
    }
}

/// What one layer of a traced forward kept for the backward pass.
public struct AutoencoderRecord: @unchecked Sendable {
    /// The layer's input as the convolution's linear saw it: neighbourhood columns `[n·h·w, 9·cin]` for
    /// 3 x 3, the input itself `[n·h·w, cin]` for 1 x 1; nil for the reshuffles.
    public var columns: Tensor?
    /// The convolution's output before GELU (nil without GELU or for the reshuffles).
    public var preActivation: Tensor?
    /// The input's height, width and channels.
    public var height: Int, width: Int, channels: Int
}

/// A per-frame convolutional autoencoder (`AutoencoderConfig`) over f32 parameters. The same forward
/// serves training (with a trace for the backward pass) and sampling.
public final class LatentAutoencoder: @unchecked Sendable {
    public let config: AutoencoderConfig
    /// Parameters by name (`config.layout`).
    public let parameters: [String: Tensor]

    /// An autoencoder over `parameters`, which must hold every tensor of the layout in its shape.
    /// - Throws: `ModelError.badParameter` for a missing or misshapen tensor.
    public init(config: AutoencoderConfig, parameters: [String: Tensor]) throws {
        try config.validate()
        for (name, shape) in config.layout {
            guard let t = parameters[name] else { throw ModelError.badParameter("autoencoder: no tensor named \(name)") }
            guard t.shape == shape, t.dtype == .f32 else {
                throw ModelError.badParameter("autoencoder: \(name) is \(t.shape) \(t.dtype), expected \(shape) f32")
            }
        }
        self.config = config
        self.parameters = parameters
    }

    /// Zero-filled parameters of a config's layout.
    public static func zeroParameters(_ config: AutoencoderConfig) throws -> [String: Tensor] {
        var p: [String: Tensor] = [:]
        for (name, shape) in config.layout { p[name] = try Tensor(zeros: shape) }
        return p
    }

    /// Latents `[N, h, w, C]` of frames `[N, H, W, 3]`; with `trace`, each layer's saved inputs are appended.
    public func encode(_ ctx: ComputeContext, frames: Tensor, trace: inout [AutoencoderRecord]?) throws -> Tensor {
        let c = config
        guard frames.shape.count == 4, frames.shape[1] == c.height, frames.shape[2] == c.width, frames.shape[3] == 3 else {
            throw ModelError.badInput("autoencoder: frames are \(frames.shape), expected [N, \(c.height), \(c.width), 3]")
        }
        return try run(ctx, c.encoderLayers, input: frames, trace: &trace)
    }

    /// Frames `[N, H, W, 3]` of latents `[N, h, w, C]`; with `trace`, each layer's saved inputs are appended.
    public func decode(_ ctx: ComputeContext, latents: Tensor, trace: inout [AutoencoderRecord]?) throws -> Tensor {
        let c = config
        guard latents.shape.count == 4, latents.shape[1] == c.latentHeight, latents.shape[2] == c.latentWidth,
              latents.shape[3] == c.latentChannels else {
            throw ModelError.badInput("autoencoder: latents are \(latents.shape), expected [N, \(c.latentHeight), \(c.latentWidth), \(c.latentChannels)]")
        }
        return try run(ctx, c.decoderLayers, input: latents, trace: &trace)
    }

    /// Untraced forms of `encode` and `decode`.
    public func encode(_ ctx: ComputeContext, frames: Tensor) throws -> Tensor {
        var none: [AutoencoderRecord]? = nil
        return try encode(ctx, frames: frames, trace: &none)
    }
    public func decode(_ ctx: ComputeContext, latents: Tensor) throws -> Tensor {
        var none: [AutoencoderRecord]? = nil
        return try decode(ctx, latents: latents, trace: &none)
    }

    func run(_ ctx: ComputeContext, _ layers: [AutoencoderConfig.Layer], input: Tensor, trace: inout [AutoencoderRecord]?) throws -> Tensor {
        try Self.run(ctx, layers, parameters: parameters, input: input, trace: &trace)
    }

    /// Runs a stack of `layers` over `input` `[N, h, w, c]` with `parameters` by name (`<name>.weight`
    /// `[out, k·k·in]`, `<name>.bias` `[out]`); with `trace`, each layer's saved inputs are appended.
    /// Shared by the autoencoder and by training's convolutional probes (the latent shape classifier).
    package static func run(_ ctx: ComputeContext, _ layers: [AutoencoderConfig.Layer], parameters: [String: Tensor], input: Tensor,
                            trace: inout [AutoencoderRecord]?) throws -> Tensor {
        let n = input.shape[0]
        var x = input, h = input.shape[1], w = input.shape[2], ch = input.shape[3]
        for layer in layers {
            switch layer {
            case let .conv(name, k, cin, cout, gelu):
                guard cin == ch, let weight = parameters["\(name).weight"], let bias = parameters["\(name).bias"] else {
                    throw ModelError.badInput("convolution \(name) takes \(cin) channels, got \(ch)")
                }
                let rows = n * h * w
                let cols: Tensor
                if k == 3 {
                    cols = try Tensor.uninitialized([rows, 9 * cin])
                    OutputRefiner.neighbourhoods(x.floats.baseAddress!, channels: cin, frames: n, height: h, width: w,
                                                 into: cols.floats.baseAddress!)
                } else {
                    cols = try x.view([rows, cin])
                }
                let pre = try Tensor.uninitialized([rows, cout])
                try ctx.linear(cols, .f32(weight), bias: bias, into: pre)
                var out = pre
                if gelu {
                    out = try Tensor.uninitialized([rows, cout])
                    try ctx.gelu(pre, into: out)
                }
                trace?.append(AutoencoderRecord(columns: cols, preActivation: gelu ? pre : nil, height: h, width: w, channels: ch))
                x = try out.view([n, h, w, cout]); ch = cout
            case .toDepth:
                trace?.append(AutoencoderRecord(columns: nil, preActivation: nil, height: h, width: w, channels: ch))
                x = try LatentAutoencoder.toDepth(x); h /= 2; w /= 2; ch *= 4
            case .toSpace:
                trace?.append(AutoencoderRecord(columns: nil, preActivation: nil, height: h, width: w, channels: ch))
                x = try LatentAutoencoder.toSpace(x); h *= 2; w *= 2; ch /= 4
            }
        }
        return x
    }

    /// Pixel unshuffle by 2: `[N, h, w, c]` -> `[N, h/2, w/2, 4c]`, out[n, y, x, (dy·2 + dx)·c + ch] = in[n, 2y + dy, 2x + dx, ch].
    public static func toDepth(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 4, x.shape[1] % 2 == 0, x.shape[2] % 2 == 0 else {
            throw ModelError.badInput("pixel unshuffle of \(x.shape): needs [N, even h, even w, c]")
        }
        let (n, h, w, c) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3])
        let y = try Tensor.uninitialized([n, h / 2, w / 2, 4 * c])
        let src = x.floats.baseAddress!, dst = y.floats.baseAddress!
        for f in 0..<n { for yy in 0..<(h / 2) { for xx in 0..<(w / 2) { for dy in 0..<2 { for dx in 0..<2 {
            let s = src + ((f * h + 2 * yy + dy) * w + 2 * xx + dx) * c
            let d = dst + ((f * (h / 2) + yy) * (w / 2) + xx) * 4 * c + (dy * 2 + dx) * c
            d.update(from: s, count: c)
        } } } } }
        return y
    }

    /// Pixel shuffle by 2, the inverse of `toDepth`: `[N, h, w, 4c]` -> `[N, 2h, 2w, c]`.
    public static func toSpace(_ x: Tensor) throws -> Tensor {
        guard x.shape.count == 4, x.shape[3] % 4 == 0 else { throw ModelError.badInput("pixel shuffle of \(x.shape): needs [N, h, w, 4c]") }
        let (n, h, w, c4) = (x.shape[0], x.shape[1], x.shape[2], x.shape[3]), c = c4 / 4
        let y = try Tensor.uninitialized([n, 2 * h, 2 * w, c])
        let src = x.floats.baseAddress!, dst = y.floats.baseAddress!
        for f in 0..<n { for yy in 0..<h { for xx in 0..<w { for dy in 0..<2 { for dx in 0..<2 {
            let s = src + ((f * h + yy) * w + xx) * c4 + (dy * 2 + dx) * c
            let d = dst + ((f * 2 * h + 2 * yy + dy) * 2 * w + 2 * xx + dx) * c
            d.update(from: s, count: c)
        } } } } }
        return y
    }
}

/// A `LatentAutoencoder` with the per-channel statistics that turn its latents into the clip a
/// latent DiT denoises: z' = (z - mean) / std per channel, so that the clean clip has about unit
/// variance like the noise it is mixed with.
public struct LatentCodec: @unchecked Sendable {
    public let autoencoder: LatentAutoencoder
    /// Per-channel mean and standard deviation of the encoder's latents, `[C]` each.
    public let mean: [Float], std: [Float]

    public init(autoencoder: LatentAutoencoder, mean: [Float], std: [Float]) throws {
        let c = autoencoder.config.latentChannels
        guard mean.count == c, std.count == c, mean.allSatisfy(\.isFinite), std.allSatisfy({ $0.isFinite && $0 > 0 }) else {
            throw ModelError.badParameter("latent statistics: \(c) finite means and positive deviations needed (got \(mean.count), \(std.count))")
        }
        self.autoencoder = autoencoder; self.mean = mean; self.std = std
    }

    /// Normalised latents `[F, h, w, C]` of a clip `[F, H, W, 3]` in [-1, 1].
    public func encode(_ ctx: ComputeContext, clip: Tensor) throws -> Tensor {
        let z = try autoencoder.encode(ctx, frames: clip), v = z.floats, c = mean.count
        for i in 0..<v.count { v[i] = (v[i] - mean[i % c]) / std[i % c] }
        return z
    }

    /// Frames decoded together by `decode`: the decoder's im2col buffers grow with the frames in a
    /// call (about 6 MB a frame for ae1), so a whole 16-frame clip at once holds ~100 MB that are
    /// touched once; two frames at a time keep them small and warm in memory.
    public static let decodeChunk = 2

    /// The clip `[F, H, W, 3]` (values about [-1, 1]) of normalised latents `[F, h, w, C]`, decoded
    /// `decodeChunk` frames at a time (each frame is decoded on its own, so the result does not depend on it).
    public func decode(_ ctx: ComputeContext, latents: Tensor) throws -> Tensor {
        let c = mean.count, a = autoencoder.config
        guard latents.shape.count == 4, latents.shape[0] > 0, latents.shape.last == c else {
            throw ModelError.badInput("latents \(latents.shape): [F > 0, h, w, \(c)] expected")
        }
        let frames = latents.shape[0], perLatent = latents.count / frames, perFrame = a.height * a.width * 3
        let out = try Tensor.uninitialized([frames, a.height, a.width, 3])
        let src = latents.floats, dst = out.floats
        var f0 = 0
        while f0 < frames {
            let n = min(Self.decodeChunk, frames - f0)
            let z = try Tensor.uninitialized([n] + Array(latents.shape.dropFirst())), v = z.floats
            for i in 0..<v.count { v[i] = src[f0 * perLatent + i] * std[i % c] + mean[i % c] }
            let px = try autoencoder.decode(ctx, latents: z)   // held here: its storage must outlive the copy
            withExtendedLifetime(px) { (dst.baseAddress! + f0 * perFrame).update(from: px.floats.baseAddress!, count: n * perFrame) }
            f0 += n
        }
        return out
    }
}

extension LatentCodec {
    /// Metadata keys of an autoencoder file (written by `vgtrain autoencoder`): its `AutoencoderConfig`
    /// as JSON, and the latent statistics as comma-separated per-channel values.
    public static let configKey = "vgrt.autoencoder_config"
    public static let meanKey = "vgrt.latent_mean", stdKey = "vgrt.latent_std"

    /// The codec stored in a file's `metadata` and tensors (`tensor` returns one by its layout name,
    /// f32 or widened). `fileName` names the file in errors.
    /// - Throws: `ModelError` naming what is missing or malformed.
    public init(metadata: [String: String], fileName: String, tensor: (String) throws -> Tensor) throws {
        func values(_ key: String) throws -> [Float] {
            guard let s = metadata[key] else {
                throw ModelError.badParameter("\(fileName): no \(key) (run vgtrain autoencoder --evaluate with --write-stats)")
            }
            let parts = s.split(separator: ",", omittingEmptySubsequences: false)
            let v = parts.compactMap { Float($0.trimmingCharacters(in: .whitespaces)) }
            guard v.count == parts.count else { throw ModelError.badParameter("\(fileName): \(key) is not a list of numbers") }
            return v
        }
        try self.init(autoencoder: try LatentAutoencoder(metadata: metadata, fileName: fileName, tensor: tensor),
                      mean: try values(Self.meanKey), std: try values(Self.stdKey))
    }
}

extension LatentAutoencoder {
    /// The autoencoder stored in a file's `metadata` (its config under `LatentCodec.configKey`) and
    /// tensors (`tensor` returns one by its layout name, f32 or widened); `fileName` names the file in errors.
    public convenience init(metadata: [String: String], fileName: String, tensor: (String) throws -> Tensor) throws {
        guard let s = metadata[LatentCodec.configKey] else { throw ModelError.badParameter("\(fileName): no \(LatentCodec.configKey) in the metadata") }
        let c: AutoencoderConfig
        do { c = try JSONDecoder().decode(AutoencoderConfig.self, from: Data(s.utf8)) }
        catch { throw ModelError.invalidConfig("\(fileName): \(LatentCodec.configKey): \(error)") }
        try c.validate()
        var p: [String: Tensor] = [:]
        for (name, _) in c.layout { p[name] = try tensor(name) }
        try self.init(config: c, parameters: p)
    }
}

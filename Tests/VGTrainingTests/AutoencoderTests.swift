import Foundation
import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining

/// The latent autoencoder: reshuffles, the backward pass against central differences, the whole
/// training loss's gradient, that training lowers the loss, and its file round trip.
final class AutoencoderTests: XCTestCase {
    let tiny = AutoencoderConfig(height: 8, width: 8, latentChannels: 2, widths: [3, 4, 5])

    func gaussian(_ shape: [Int], _ seed: UInt64, _ scale: Float = 1) throws -> Tensor {
        let t = try Tensor(zeros: shape)
        var r = SeededRandom(seed: seed); r.fillGaussian(t.floats, scale: scale)
        return t
    }

    func testReshufflesAreInversesAndMoveTheRightValues() throws {
        let x = try gaussian([2, 4, 6, 3], 1)
        let d = try LatentAutoencoder.toDepth(x)
        XCTAssertEqual(d.shape, [2, 2, 3, 12])
        // out[n, y, x, (dy·2 + dx)·c + ch] = in[n, 2y + dy, 2x + dx, ch]
        let xv = x.floats, dv = d.floats
        XCTAssertEqual(dv[((1 * 2 + 1) * 3 + 2) * 12 + (1 * 2 + 0) * 3 + 1], xv[((1 * 4 + 3) * 6 + 4) * 3 + 1])
        XCTAssertEqual(try LatentAutoencoder.toSpace(d).toArray(), x.toArray())
        XCTAssertThrowsError(try LatentAutoencoder.toDepth(try Tensor(zeros: [1, 3, 4, 2])))
        XCTAssertThrowsError(try LatentAutoencoder.toSpace(try Tensor(zeros: [1, 2, 2, 3])))
    }

    func testLayoutShapesAndBadInputs() throws {
        XCTAssertEqual(tiny.downsample, 4)
        XCTAssertEqual(tiny.encoderLayers.count, 6)   // in, (toDepth, down) x 2, out
        XCTAssertEqual(tiny.decoderLayers.count, 9)   // in, mid, (up, toSpace, conv) x 2, out
        XCTAssertThrowsError(try AutoencoderConfig(height: 10, width: 8, latentChannels: 2, widths: [3, 4, 5]).validate())
        XCTAssertThrowsError(try AutoencoderConfig(height: 8, width: 8, latentChannels: 0, widths: [3]).validate())
        XCTAssertThrowsError(try AutoencoderConfig(height: 8, width: 8, latentChannels: 2, widths: []).validate())
        var p = try LatentAutoencoder.zeroParameters(tiny)
        p["ae.dec.out.bias"] = try Tensor(zeros: [4])
        XCTAssertThrowsError(try LatentAutoencoder(config: tiny, parameters: p))
        let ae = try LatentAutoencoder(config: tiny, parameters: try LatentAutoencoder.zeroParameters(tiny))
        let ctx = try ComputeContext()
        XCTAssertThrowsError(try ae.encode(ctx, frames: try Tensor(zeros: [1, 8, 8, 2])))
        XCTAssertThrowsError(try ae.decode(ctx, latents: try Tensor(zeros: [1, 2, 2, 3])))
        XCTAssertEqual(try ae.encode(ctx, frames: try Tensor(zeros: [3, 8, 8, 3])).shape, [3, 2, 2, 2])
        XCTAssertEqual(try ae.decode(ctx, latents: try Tensor(zeros: [3, 2, 2, 2])).shape, [3, 8, 8, 3])
    }

    /// The codec decodes a few frames at a time: the same frames as the autoencoder's decode of the
    /// whole clip after de-normalising, for clip lengths around and off the chunk size; bad latents are refused.
    func testCodecDecodesInChunksLikeTheWholeClip() throws {
        let params = try LatentAutoencoder.zeroParameters(tiny)
        var r = SeededRandom(seed: 21)
        for (_, t) in params.sorted(by: { $0.key < $1.key }) { r.fillGaussian(t.floats, scale: 0.4) }
        let ae = try LatentAutoencoder(config: tiny, parameters: params)
        let codec = try LatentCodec(autoencoder: ae, mean: [0.5, -0.25], std: [2, 0.5])
        let ctx = try ComputeContext(threads: 1)
        for frames in [1, LatentCodec.decodeChunk, LatentCodec.decodeChunk + 1, 5] {
            let z = try gaussian([frames, 2, 2, 2], UInt64(30 + frames))
            let raw = try Tensor(zeros: z.shape)
            for i in 0..<z.count { raw.floats[i] = z.floats[i] * codec.std[i % 2] + codec.mean[i % 2] }
            let whole = try ae.decode(ctx, latents: raw).toArray(), chunked = try codec.decode(ctx, latents: z)
            XCTAssertEqual(chunked.shape, [frames, 8, 8, 3])
            let err = zip(whole, chunked.toArray()).map { abs($0 - $1) }.max() ?? 0
            XCTAssertLessThan(err, 1e-5, "\(frames) frames")
        }
        XCTAssertThrowsError(try codec.decode(ctx, latents: try Tensor(zeros: [2, 2, 2, 3])))
        XCTAssertThrowsError(try codec.decode(ctx, latents: try Tensor(zeros: [2, 2, 3, 2])))
        XCTAssertThrowsError(try codec.decode(ctx, latents: try Tensor(zeros: [4, 2])))
    }

    /// The training loss (squared error + outline term + latent penalty, with fixed latent noise)
    /// against central differences at sampled entries of every parameter.
    func testTrainingLossGradientMatchesCentralDifferences() throws {
        let ctx = try ComputeContext()
        var o = AutoencoderTrainingOptions()
        o.edgeWeight = 0.5; o.latentPenalty = 0.05
        let t = try AutoencoderTrainer(config: tiny, options: o, seed: 5, context: ctx)
        // Make the output layer non-trivial so every gradient path carries signal.
        var r = SeededRandom(seed: 8)
        r.fillGaussian(t.model.parameters["ae.dec.out.weight"]!.floats, scale: 0.3)
        let frames = try gaussian([2, 8, 8, 3], 2, 0.5), noise = try gaussian([2, 2, 2, 2], 3, 0.1)
        _ = try t.lossAndGradient(frames, noise: noise)
        let analytic = t.grads.mapValues { $0.toArray() }
        func loss() throws -> Double {
            let s = try t.lossAndGradient(frames, noise: noise)
            return s.reconstruction + Double(o.edgeWeight) * s.edge + Double(o.latentPenalty) * s.latentMeanSquare
        }
        var rng = SeededRandom(seed: 11)
        let eps: Float = 1e-2
        for (name, _) in tiny.layout {
            let v = t.model.parameters[name]!.floats, g = analytic[name]!
            var worst = 0.0, largest = 0.0
            for _ in 0..<6 {
                let i = Int(rng.next() % UInt64(v.count)), old = v[i]
                v[i] = old + eps; let lp = try loss()
                v[i] = old - eps; let lm = try loss()
                v[i] = old
                let num = (lp - lm) / (2 * Double(eps)), ana = Double(g[i])
                let allowed = 5e-6 + 3e-2 * max(abs(num), abs(ana))   // the loss is a mean: gradients ~1e-4
                worst = max(worst, abs(num - ana) / allowed); largest = max(largest, abs(num))
                XCTAssertLessThanOrEqual(abs(num - ana), allowed, "\(name)[\(i)]: numeric \(num) analytic \(ana)")
            }
            // A check of gradients that are all zero could not fail: every tensor must carry signal.
            XCTAssertGreaterThan(largest, 5e-5, "\(name): the sampled gradients are all near zero")
            print(String(format: "  grad autoencoder %-24@ worst |error| / allowed = %.2f, largest |gradient| %.4f", name as NSString, worst, largest))
        }
    }

    func testTrainingLowersTheLossAndTheFileRoundTrips() throws {
        let ctx = try ComputeContext()
        var o = AutoencoderTrainingOptions()
        o.optimizer.learningRate = 3e-3; o.optimizer.warmupSteps = 5; o.optimizer.totalSteps = 120
        let t = try AutoencoderTrainer(config: tiny, options: o, seed: 1, context: ctx)
        // Two frames of flat shapes: a bright square on dark, and its negative.
        let frames = try Tensor(zeros: [2, 8, 8, 3]), fv = frames.floats
        for f in 0..<2 { for y in 0..<8 { for x in 0..<8 { for c in 0..<3 {
            let inside = (2..<6).contains(y) && (2..<6).contains(x)
            fv[((f * 8 + y) * 8 + x) * 3 + c] = (inside != (f == 1)) ? 0.8 : -0.6
        } } } }
        let first = try t.step(frames).reconstruction
        var last = first
        for _ in 0..<119 { last = try t.step(frames).reconstruction }
        XCTAssertLessThan(last, first * 0.3, "reconstruction error \(first) -> \(last)")
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ae-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try AutoencoderTrainer.save(t.model, asHalf: false, to: url)
        let back = try AutoencoderTrainer.load(url)
        XCTAssertEqual(back.config, tiny)
        XCTAssertEqual(try back.decode(ctx, latents: try back.encode(ctx, frames: frames)).toArray(),
                       try t.model.decode(ctx, latents: try t.model.encode(ctx, frames: frames)).toArray())
        let bad = FileManager.default.temporaryDirectory.appendingPathComponent("ae-bad-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: bad) }
        try Data("not a safetensors file".utf8).write(to: bad)
        XCTAssertThrowsError(try AutoencoderTrainer.load(bad))
    }

    func testRestoredCheckpointContinuesExactly() throws {
        let ctx = try ComputeContext()
        var o = AutoencoderTrainingOptions()
        o.optimizer.learningRate = 1e-3; o.optimizer.warmupSteps = 2; o.optimizer.totalSteps = 10
        let a = try AutoencoderTrainer(config: tiny, options: o, seed: 3, context: ctx)
        let b = try AutoencoderTrainer(config: tiny, options: o, seed: 3, context: ctx)
        let batches = try (0..<6).map { try gaussian([2, 8, 8, 3], 40 + UInt64($0), 0.5) }
        for x in batches { try a.step(x) }
        for x in batches.prefix(3) { try b.step(x) }
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("ae-ckpt-\(UUID().uuidString).safetensors")
        defer { try? FileManager.default.removeItem(at: url) }
        try b.saveCheckpoint(to: url, extra: ["position": "3"])
        let (c, meta) = try AutoencoderTrainer.restore(url, context: ctx)
        XCTAssertEqual(meta["position"], "3")
        XCTAssertEqual(c.step, 3)
        for x in batches.suffix(3) { try c.step(x) }
        for (name, _) in tiny.layout { XCTAssertEqual(a.model.parameters[name]!.toArray(), c.model.parameters[name]!.toArray(), name) }
        // A model file (no optimizer state) is not a checkpoint.
        try AutoencoderTrainer.save(a.model, asHalf: true, to: url)
        XCTAssertThrowsError(try AutoencoderTrainer.restore(url, context: ctx))
    }
}

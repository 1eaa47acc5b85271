import Foundation
import XCTest
import VGCore
import VGFormat
import VGModel
import VGRuntime
import VGText
@testable import VGPack

/// A latent model packs with its autoencoder, loads back with the same decoder, and generates frames
/// at the autoencoder's pixel size; every way of getting the pairing wrong is a named error.
final class LatentPackTests: XCTestCase {
    let ae = AutoencoderConfig(height: 16, width: 16, latentChannels: 4, widths: [4, 6, 8])
    // The DiT works on the 4 x 4 x 4 latent grid (patch 1 x 2 x 2 -> 4 x 2 x 2 tokens).
    var latentConfig: ModelConfig {
        var c = ModelConfig(frames: 4, height: 4, width: 4, patchT: 1, patchH: 2, patchW: 2, modelWidth: 32, depth: 1,
                            heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 300, maxTextTokens: 8, textWidth: 16,
                            textDepth: 1, textHeads: 2)
        c.channels = 4
        return c
    }

    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("vgpack-latent-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// Writes a latent model checkpoint (config `model`) and an autoencoder file (config `ae`, with
    /// `meta` overriding its metadata); returns both URLs and the autoencoder's parameters.
    func write(_ dir: URL, model: ModelConfig, ae: AutoencoderConfig, meta: [String: String?] = [:]) throws -> (URL, URL, [String: Tensor]) {
        let tokenizer = BPETokenizer.train(corpus: ["a red ball moving right", "a blue square on white"], vocabSize: 280)
        var mw = SafeTensorsWriter(metadata: ["vgrt.config": String(decoding: try JSONEncoder().encode(model), as: UTF8.self),
                                              "vgrt.tokenizer": tokenizer.jsonString()])
        let p = try packParams(seed: 5, config: model)
        for n in p.names { try mw.add(n, tensor: try p.tensor(n)) }
        let m = dir.appendingPathComponent("latent-model.safetensors"); try mw.write(to: m)
        var md: [String: String] = [LatentCodec.configKey: String(decoding: try JSONEncoder().encode(ae), as: UTF8.self),
                                    LatentCodec.meanKey: (0..<ae.latentChannels).map { "\(0.25 * Float($0))" }.joined(separator: ","),
                                    LatentCodec.stdKey: (0..<ae.latentChannels).map { "\(0.5 + Float($0))" }.joined(separator: ",")]
        for (k, v) in meta { md[k] = v }
        var aw = SafeTensorsWriter(metadata: md)
        var rng = SeededRandom(seed: 9)
        var params: [String: Tensor] = [:]
        for (name, shape) in ae.layout {
            let t = try Tensor(zeros: shape); rng.fillGaussian(t.floats, scale: 0.3)
            params[name] = t; try aw.add(name, tensor: t)
        }
        let a = dir.appendingPathComponent("ae.safetensors"); try aw.write(to: a)
        return (m, a, params)
    }

    func testLatentModelPacksLoadsAndGeneratesFrames() throws {
        let dir = try tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        let (model, aeURL, params) = try write(dir, model: latentConfig, ae: ae)
        var o = VGPKConverter.Options(); o.quant = .q8; o.autoencoder = aeURL
        let out = dir.appendingPathComponent("latent.vgpk")
        let s = try VGPKConverter.convert(input: model, output: out, options: o)
        XCTAssertEqual(s.tensors, ParameterSet.layout(latentConfig).count + ae.layout.count)
        let r = try VGPKReader(contentsOf: out)
        try r.verify()
        XCTAssertTrue(r.header.metadata.required.contains("autoencoder"))
        XCTAssertEqual(try r.entry("ae.dec.in.weight").type, .f16)
        XCTAssertEqual(try r.entry("ae.dec.in.bias").type, .f32)
        let codec = try XCTUnwrap(try r.latentCodec())
        XCTAssertEqual(codec.autoencoder.config, ae)
        XCTAssertEqual(codec.mean, [0, 0.25, 0.5, 0.75]); XCTAssertEqual(codec.std, [0.5, 1.5, 2.5, 3.5])

        // The packed decoder matches the source's (f16 weights) on the same latents.
        let ctx = try ComputeContext(threads: 1)
        let source = try LatentCodec(autoencoder: try LatentAutoencoder(config: ae, parameters: params), mean: codec.mean, std: codec.std)
        let z = try Tensor(zeros: [2, 4, 4, 4]); var rng = SeededRandom(seed: 1); rng.fillGaussian(z.floats, scale: 1)
        let a = try source.decode(ctx, latents: z).toArray(), b = try codec.decode(ctx, latents: z).toArray()
        XCTAssertEqual(a.count, 2 * 16 * 16 * 3)
        let diff = zip(a, b).map { abs($0 - $1) }.max()!, scale = a.map(abs).max()!
        XCTAssertGreaterThan(scale, 0.01)
        XCTAssertLessThan(diff, 0.01 * scale + 1e-3, "packed decoder differs by \(diff)")

        // The runtime samples latents and returns frames at the autoencoder's size.
        let loaded = try LoadedModel(path: out.path)
        XCTAssertEqual(loaded.frameWidth, 16); XCTAssertEqual(loaded.frameHeight, 16)
        let g = try VideoGenerator(model: loaded)
        var opts = GenerationOptions(); opts.steps = 2; opts.guidance = 1; opts.seed = 3
        var previews = 0
        let video = try g.generate(promptUTF8: Array("a red ball".utf8), options: opts, preview: { _, f in
            previews += 1; XCTAssertEqual(f.width, 16)
        })
        XCTAssertEqual(previews, 2)
        XCTAssertEqual(video.frames.width, 16); XCTAssertEqual(video.frames.height, 16)
        XCTAssertEqual(video.frames.frameCount, 4)
        XCTAssertEqual(Set(video.frames.rgb).count > 8, true, "decoded frames should not be flat")
    }

    /// A file without sampler defaults samples on the grid its model was trained for (the config's
    /// `samplingShift`), not on a fixed shift; a file with defaults keeps its own.
    func testSamplerShiftDefaultsToTheModelsOwn() throws {
        let dir = try tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        var config = latentConfig
        config.samplingShift = 2
        let (model, aeURL, _) = try write(dir, model: config, ae: ae)
        var o = VGPKConverter.Options(); o.autoencoder = aeURL
        let bare = dir.appendingPathComponent("bare.vgpk")
        _ = try VGPKConverter.convert(input: model, output: bare, options: o)
        XCTAssertNil(try VGPKReader(contentsOf: bare).header.metadata.sampler)
        XCTAssertEqual(try LoadedModel(path: bare.path).sampler.shift, 2)
        o.sampler = SamplerDefaults(steps: 7, guidance: 1.5, shift: 4)
        let withDefaults = dir.appendingPathComponent("defaults.vgpk")
        _ = try VGPKConverter.convert(input: model, output: withDefaults, options: o)
        let loaded = try LoadedModel(path: withDefaults.path)
        XCTAssertEqual(loaded.sampler.shift, 4); XCTAssertEqual(loaded.sampler.steps, 7)
    }

    func testLatentPairingErrors() throws {
        let dir = try tempDir(); defer { try? FileManager.default.removeItem(at: dir) }
        func convert(_ model: URL, _ ae: URL?) throws {
            var o = VGPKConverter.Options(); o.autoencoder = ae
            _ = try VGPKConverter.convert(input: model, output: dir.appendingPathComponent("x.vgpk"), options: o)
        }
        func expect(_ kind: VGPKError.Kind, _ words: String, _ body: () throws -> Void) {
            XCTAssertThrowsError(try body()) { e in
                guard let v = e as? VGPKError else { return XCTFail("\(e)") }
                XCTAssertEqual(v.kind, kind, "\(v)"); XCTAssertTrue("\(v)".contains(words), "\(v)")
            }
        }
        let (model, aeURL, _) = try write(dir, model: latentConfig, ae: ae)
        expect(.architectureMismatch, "give its autoencoder") { try convert(model, nil) }
        // A pixel model refuses an autoencoder.
        let pixel = dir.appendingPathComponent("pixel.safetensors")
        var pw = SafeTensorsWriter(metadata: ["vgrt.config": String(decoding: try JSONEncoder().encode(packConfig), as: UTF8.self), "vgrt.tokenizer": "{}"])
        let pp = try packParams(seed: 3); for n in pp.names { try pw.add(n, tensor: try pp.tensor(n)) }
        try pw.write(to: pixel)
        expect(.architectureMismatch, "pixel model") { try convert(pixel, aeURL) }
        // Another latent grid, missing statistics, a non-number, a missing config.
        let sub = dir.appendingPathComponent("b"); try FileManager.default.createDirectory(at: sub, withIntermediateDirectories: true)
        let (_, wide, _) = try write(sub, model: latentConfig, ae: AutoencoderConfig(height: 32, width: 32, latentChannels: 4, widths: [4, 6, 8]))
        expect(.architectureMismatch, "latent grid") { try convert(model, wide) }
        let (_, noStats, _) = try write(sub, model: latentConfig, ae: ae, meta: [LatentCodec.stdKey: nil])
        expect(.badHeader, "vgrt.latent_std") { try convert(model, noStats) }
        let (_, badStats, _) = try write(sub, model: latentConfig, ae: ae, meta: [LatentCodec.meanKey: "0,x,1"])
        expect(.badHeader, "not a list of numbers") { try convert(model, badStats) }
        let (_, noConfig, _) = try write(sub, model: latentConfig, ae: ae, meta: [LatentCodec.configKey: nil])
        expect(.badHeader, "vgrt.autoencoder_config") { try convert(model, noConfig) }

        // A file whose autoencoder section was dropped, or whose section names another grid, does not load.
        var o = VGPKConverter.Options(); o.autoencoder = aeURL
        let good = dir.appendingPathComponent("good.vgpk")
        _ = try VGPKConverter.convert(input: model, output: good, options: o)
        let bytes = [UInt8](try Data(contentsOf: good))
        let dropped = try VGPKReader(bytes: try rebuild(bytes) { $0.metadata.autoencoder = nil; $0.metadata.required = ["architecture"] })
        expect(.architectureMismatch, "no autoencoder section") { _ = try dropped.latentCodec() }
        let regrid = try VGPKReader(bytes: try rebuild(bytes) { $0.metadata.autoencoder?.config.latentChannels = 5 })
        expect(.architectureMismatch, "latent grid") { _ = try regrid.latentCodec() }
        let wrongStats = try VGPKReader(bytes: try rebuild(bytes) { $0.metadata.autoencoder?.latentStd = [1, 0, 1, 1] })
        expect(.architectureMismatch, "positive deviations") { _ = try wrongStats.latentCodec() }
        // An older reader that does not know the section refuses the file instead of showing latents as pixels.
        XCTAssertTrue(VGPK.knownKeys.contains("autoencoder"))
        XCTAssertEqual(try VGPKReader(bytes: Data(bytes)).header.metadata.required, ["architecture", "autoencoder"])
    }
}

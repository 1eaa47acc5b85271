import ArgumentParser
import Foundation
import ShapeWorld
import VGCore
import VGModel
import VGPack
import VGText
import VGTraining

/// `vgtrain tiny-model`: a small untrained model (random weights, a tokenizer trained on ShapeWorld
/// captions) packed as .vgpk — what the C ABI tests and examples run against in milliseconds.
/// It generates noise-like clips; it exists to exercise the runtime, not to look good.
struct TinyModel: ParsableCommand {
    static let configuration = CommandConfiguration(commandName: "tiny-model",
        abstract: "Write a tiny random-weight model (.vgpk) for tests and examples.")
    @Option(name: .shortAndLong, help: "Output .vgpk.") var output: String
    @Option(help: "Weight type of the transformer blocks: q8, q4, f16, f32.") var quant = "q8"
    @Option(help: "Seed of the weights.") var seed: UInt64 = 1
    @Flag(help: "A latent model: the DiT samples 8 x 8 x 4 latents and a random autoencoder (packed with it) decodes them to the same 32 x 32 frames.") var latent = false

    func run() throws {
        guard let type = VGPKType(rawValue: quant) else { throw CLIError("--quant takes q8, q4, f16 or f32") }
        var c = ModelConfig(frames: 8, height: 32, width: 32, patchT: 2, patchH: 8, patchW: 8, modelWidth: 64, depth: 2, heads: 2,
                            mlpRatio: 2, timeFrequencies: 16, vocabSize: 512, maxTextTokens: 32, textWidth: 48, textDepth: 1, textHeads: 2)
        // The latent form keeps the token grid: a 4x smaller clip with 4 channels, patches 4x smaller.
        let ae = AutoencoderConfig(height: c.height, width: c.width, latentChannels: 4, widths: [8, 8, 8])
        if latent { c.height /= 4; c.width /= 4; c.patchH /= 4; c.patchW /= 4; c.channels = ae.latentChannels }
        let stream = ClipStream(config: RenderConfig(frames: 4, height: 16, width: 16, fps: 8), seed: seed)
        let corpus = try (0..<300).map { try stream.record(at: $0).clip.captions.detailed }
        let tokenizer = BPETokenizer.train(corpus: corpus, vocabSize: c.vocabSize)
        let p = try ParameterSet(config: c)
        var rng = SeededRandom(seed: seed)
        for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: n.hasSuffix(".bias") ? 0.01 : 0.1) }
        var meta = VGPKMetadata()
        meta.tokenizer = tokenizer.jsonString()
        meta.sampler = SamplerDefaults(steps: 4, guidance: 2, shift: 3, distilled: false)
        meta.provenance = Provenance(stages: ["random init (test model)"])
        var w = VGPKWriter(metadata: meta)
        try w.addModel(p, config: c, policy: QuantizationPolicy(quant: type))
        if latent {
            let params = try LatentAutoencoder.zeroParameters(ae)
            for (name, t) in params.sorted(by: { $0.key < $1.key }) { rng.fillGaussian(t.floats, scale: name.hasSuffix(".bias") ? 0.01 : 0.2) }
            let codec = try LatentCodec(autoencoder: try LatentAutoencoder(config: ae, parameters: params),
                                        mean: [Float](repeating: 0, count: ae.latentChannels), std: [Float](repeating: 1, count: ae.latentChannels))
            try w.addAutoencoder(codec, policy: QuantizationPolicy(quant: type))
        }
        try w.write(to: URL(fileURLWithPath: output))
        print("wrote \(output): \(c.frames)x\(c.height)x\(c.width)x\(c.channels)\(latent ? " latents of 32x32 frames" : ""), \(p.count) parameters, \(type.rawValue)")
    }
}

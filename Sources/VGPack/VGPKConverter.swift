import Foundation
import VGCore
import VGFormat
import VGModel

/// safetensors -> .vgpk, the work behind `vgpack convert`.
public enum VGPKConverter {
    public struct Options: Sendable {
        /// Type of the transformer blocks' linear weights.
        public var quant: VGPKType = .q8
        /// Per-tensor overrides: name contains pattern -> type (first match wins).
        public var keep: [(pattern: String, type: VGPKType)] = []
        public var zstdLevel: Int32 = 3
        public var sampler: SamplerDefaults?
        public var provenance: Provenance?
        /// A prompt-enhancer checkpoint (safetensors with `vgrt.enhancer_config`) to pack beside the model.
        public var enhancer: URL?
        /// The latent autoencoder of a latent model (a `vgtrain autoencoder` file with its latent
        /// statistics): required for a model whose `channels` is not 3, refused for a pixel model.
        public var autoencoder: URL?
        public init() {}
    }

    /// What a conversion did.
    public struct Summary: Sendable {
        public var tensors: Int
        public var inputBytes: Int
        public var outputBytes: Int
        public var types: [VGPKType: Int]
    }

    /// Converts `input` (a vgrt checkpoint or weights export, with its config in the metadata; or any
    /// safetensors file, whose float tensors are packed without an architecture section).
    public static func convert(input: URL, output: URL, options: Options) throws -> Summary {
        let file = try SafeTensorsFile(contentsOf: input)
        var meta = VGPKMetadata()
        meta.tokenizer = file.metadata["vgrt.tokenizer"]
        meta.sampler = options.sampler
        meta.provenance = options.provenance
        var w = VGPKWriter(metadata: meta)
        w.zstdLevel = options.zstdLevel
        let policy = QuantizationPolicy(quant: options.quant, keep: options.keep)
        var types: [VGPKType: Int] = [:]
        if file.metadata["vgrt.config"] != nil {
            // A model: exactly the architecture's tensors (optimizer state and EMA copies are left out).
            let config = try TrainingCheckpointConfig.read(file)
            let p = try ParameterSet(config: config)
            for name in p.names { try p.set(name, from: try file.tensor(named: name)) }
            try w.addModel(p, config: config, policy: policy)
            for name in p.names { types[policy.type(for: name, shape: try p.tensor(name).shape), default: 0] += 1 }
            if config.channels != 3 || options.autoencoder != nil {
                for (type, n) in try addAutoencoder(options.autoencoder, to: &w, model: config, modelFile: input, policy: policy) { types[type, default: 0] += n }
            }
        } else {
            if let a = options.autoencoder {
                throw VGPKError(.architectureMismatch, file: input.path, "no vgrt.config: an autoencoder (\(a.path)) is packed only beside a model")
            }
            w.metadata.required = []
            for name in file.tensorNames {
                let info = try file.info(name)
                guard [.f32, .f16, .bf16].contains(info.dtype) else { continue }
                let t = try file.tensor(named: name)
                var type = policy.type(for: name, shape: t.shape)
                if (type == .q8 || type == .q4) && t.shape.count != 2 { type = .f16 }
                try w.add(name, t, as: type)
                types[type, default: 0] += 1
            }
        }
        if let enhancer = options.enhancer {
            for (type, n) in try addEnhancer(enhancer, to: &w, policy: policy, modelTokenizer: meta.tokenizer) { types[type, default: 0] += n }
        }
        try w.write(to: output)
        let inSize = (try? FileManager.default.attributesOfItem(atPath: input.path)[.size] as? Int) ?? 0
        let outSize = (try? FileManager.default.attributesOfItem(atPath: output.path)[.size] as? Int) ?? 0
        return Summary(tensors: types.values.reduce(0, +), inputBytes: inSize, outputBytes: outSize, types: types)
    }
}

extension VGPKConverter {
    /// Metadata key of the enhancer's configuration in a safetensors checkpoint.
    public static let enhancerConfigKey = "vgrt.enhancer_config"

    /// Adds the enhancer checkpoint at `url`: exactly its architecture's tensors, each under the prefix
    /// `enhancer.`, typed by `policy`, and its configuration in the `enhancer` metadata section. A
    /// tokenizer in the checkpoint must be the model's (the enhancer writes what the model reads).
    static func addEnhancer(_ url: URL, to w: inout VGPKWriter, policy: QuantizationPolicy, modelTokenizer: String?) throws -> [VGPKType: Int] {
        let file = try SafeTensorsFile(contentsOf: url)
        guard let json = file.metadata[enhancerConfigKey] else {
            throw VGPKError(.badHeader, file: url.path, "not an enhancer checkpoint: no \(enhancerConfigKey) in its metadata")
        }
        let config: EnhancerConfig
        do { config = try EnhancerConfig.decode(json) } catch { throw VGPKError(.badHeader, file: url.path, "\(error)") }
        if let t = file.metadata["vgrt.tokenizer"], let m = modelTokenizer, t != m {
            throw VGPKError(.architectureMismatch, file: url.path, "the enhancer's tokenizer differs from the model's")
        }
        var types: [VGPKType: Int] = [:]
        for (name, shape) in EnhancerConfig.layout(config) {
            let t: Tensor
            do { t = try file.tensor(named: name) } catch { throw VGPKError(.missingTensor, file: url.path, tensor: name, "\(error)") }
            guard t.shape == shape else {
                throw VGPKError(.architectureMismatch, file: url.path, tensor: name, "shape \(t.shape), the enhancer config needs \(shape)")
            }
            let packed = VGPKReader.enhancerPrefix + name
            let type = policy.type(for: packed, shape: shape)
            try w.add(packed, t, as: type)
            types[type, default: 0] += 1
        }
        w.metadata.enhancer = config.jsonString()
        return types
    }
}

extension VGPKConverter {
    /// Adds a latent model's autoencoder: its layout's tensors under their own `ae.*` names, typed by
    /// `policy` (matrices one step more precise than the blocks', as for the patch embedding), and the
    /// `autoencoder` section, which becomes required (a reader without it would show latents as pixels).
    static func addAutoencoder(_ url: URL?, to w: inout VGPKWriter, model: ModelConfig, modelFile: URL, policy: QuantizationPolicy) throws -> [VGPKType: Int] {
        guard let url else {
            throw VGPKError(.architectureMismatch, file: modelFile.path, "the model works on \(model.channels)-channel latents; give its autoencoder (--autoencoder)")
        }
        guard model.channels != 3 else {
            throw VGPKError(.architectureMismatch, file: modelFile.path, "a pixel model (3 channels) takes no autoencoder (\(url.lastPathComponent))")
        }
        let codec: LatentCodec
        do {
            let file = try SafeTensorsFile(contentsOf: url)
            codec = try LatentCodec(metadata: file.metadata, fileName: url.lastPathComponent, tensor: { try file.tensor(named: $0) })
        } catch let e as VGPKError { throw e } catch { throw VGPKError(.badHeader, file: url.path, "not a usable autoencoder: \(error)") }
        if let m = codec.autoencoder.config.latentGridMismatch(model) { throw VGPKError(.architectureMismatch, file: url.path, m) }
        return try w.addAutoencoder(codec, policy: policy)
    }
}

/// Reads the `vgrt.config` metadata entry (the same key VGTraining writes).
public enum TrainingCheckpointConfig {
    /// The validated model config of a checkpoint or weights export.
    /// - Throws: `ModelError` when the entry is missing, malformed or invalid.
    public static func read(_ file: SafeTensorsFile) throws -> ModelConfig {
        guard let s = file.metadata["vgrt.config"] else { throw ModelError.badParameter("\(file.fileName): no vgrt.config") }
        let c: ModelConfig
        do { c = try JSONDecoder().decode(ModelConfig.self, from: Data(s.utf8)) }
        catch { throw ModelError.invalidConfig("\(file.fileName): vgrt.config: \(error)") }
        try c.validate()
        return c
    }
}

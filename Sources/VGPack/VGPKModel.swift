import Foundation
import VGCore
import VGModel

/// Which type each tensor gets when a checkpoint is packed (../shared/ALGORITHMS.md §5):
/// - the bulk — linear weights of the DiT and text blocks, and the text pooling / context
///   projections — takes the requested type;
/// - the sensitive matrices that HunyuanVideo's FP8 recipe also keeps — patch embedding, timestep
///   MLP, adaLN projections, final layer — stay one step more precise (q4 -> q8, q8 -> f16);
/// - the token embedding (a row gather) is q8 under q8 / q4, as LLM runtimes store it;
/// - vectors (biases, norms, adaLN tables) stay f32.
public struct QuantizationPolicy: Sendable {
    /// The type requested for block weights.
    public var quant: VGPKType
    /// Overrides: a tensor whose name contains the pattern gets the type (first match wins).
    public var keep: [(pattern: String, type: VGPKType)]

    public init(quant: VGPKType, keep: [(pattern: String, type: VGPKType)] = []) { self.quant = quant; self.keep = keep }

    /// The stored type of `name` with logical `shape`.
    public func type(for name: String, shape: [Int]) -> VGPKType {
        if let k = keep.first(where: { name.contains($0.pattern) }) { return k.type }
        if shape.count < 2 { return .f32 }
        let bulk = name.hasSuffix(".weight") && (name.contains("blocks.") || name.hasPrefix("text_pool") || name.hasPrefix("context_proj"))
        if bulk { return quant }
        if name == "text.token_embedding.weight" && (quant == .q8 || quant == .q4) { return .q8 }
        switch quant {
        case .f32: return .f32
        case .f16, .q8: return .f16
        case .q4: return .q8
        }
    }
}

extension VGPKReader {
    /// The model architecture stored in the file.
    public func architecture() throws -> ModelConfig {
        guard let c = header.metadata.architecture else { throw VGPKError(.badHeader, file: path, "no architecture section") }
        do { try c.validate() } catch { throw VGPKError(.architectureMismatch, file: path, "\(error)") }
        return c
    }

    /// The model's weights: linear weights in their stored type (q8 / q4 run on the integer kernels),
    /// everything else widened to f32. Every tensor the architecture needs must be present with its shape.
    public func modelWeights(pool: ThreadPool? = nil) throws -> ModelWeights {
        let config = try architecture()
        if let pool { try preload(pool: pool) }
        do {
            return try ModelWeights(config: config, tensor: { name in
                // Embeddings and vectors are widened to f32 at load (gathers and adds, not GEMMs).
                try self.floatTensor(name)
            }, linearWeight: { name in
                let t = try self.tensor(name)
                switch t.dtype {
                case .q8: return .q8(try Q8Matrix(tensor: t))
                case .q4: return .q4(try Q4Matrix(tensor: t))
                case .f32, .f16: return .f32(try self.floatTensor(name))
                }
            })
        } catch let e as ModelError {
            throw VGPKError(.architectureMismatch, file: path, "\(e)")
        }
    }
}

extension VGPKReader {
    /// A latent model's codec (autoencoder and latent statistics), nil for a pixel model. Checks that
    /// a model with latent channels carries one, that its latent grid is the model's clip, and that
    /// every tensor of its layout is present with its shape.
    public func latentCodec() throws -> LatentCodec? {
        let model = try architecture()
        guard let section = header.metadata.autoencoder else {
            if model.channels != 3 {
                throw VGPKError(.architectureMismatch, file: path, "the model works on \(model.channels)-channel latents and the file has no autoencoder section")
            }
            return nil
        }
        let a = section.config
        do { try a.validate() } catch { throw VGPKError(.architectureMismatch, file: path, "autoencoder: \(error)") }
        if let m = a.latentGridMismatch(model) { throw VGPKError(.architectureMismatch, file: path, m) }
        var p: [String: Tensor] = [:]
        for (name, shape) in a.layout {
            let e = try entry(name)
            guard e.shape == shape else { throw VGPKError(.architectureMismatch, file: path, tensor: name, "shape \(e.shape), the autoencoder needs \(shape)") }
            p[name] = try floatTensor(name)
        }
        do {
            return try LatentCodec(autoencoder: try LatentAutoencoder(config: a, parameters: p), mean: section.latentMean, std: section.latentStd)
        } catch { throw VGPKError(.architectureMismatch, file: path, "autoencoder: \(error)") }
    }
}

extension VGPKReader {
    /// Prefix of the prompt enhancer's tensors in a .vgpk file.
    public static let enhancerPrefix = "enhancer."

    /// Whether the file carries a prompt enhancer.
    public var hasEnhancer: Bool { header.metadata.enhancer != nil }

    /// The prompt enhancer's configuration and its tensors as f32 by their checkpoint names (without
    /// the prefix); every tensor its architecture needs must be present with its shape.
    public func enhancerWeights() throws -> (EnhancerConfig, [String: Tensor]) {
        guard let json = header.metadata.enhancer else { throw VGPKError(.badHeader, file: path, "no enhancer section") }
        let config: EnhancerConfig
        do { config = try EnhancerConfig.decode(json) } catch { throw VGPKError(.architectureMismatch, file: path, "\(error)") }
        var out: [String: Tensor] = [:]
        for (name, shape) in EnhancerConfig.layout(config) {
            let full = VGPKReader.enhancerPrefix + name
            let e = try entry(full)
            guard e.shape == shape else {
                throw VGPKError(.architectureMismatch, file: path, tensor: full, "shape \(e.shape), the enhancer config needs \(shape)")
            }
            out[name] = try floatTensor(full)
        }
        return (config, out)
    }
}

extension VGPKWriter {
    /// Adds a latent model's autoencoder: its layout's tensors under their own `ae.*` names (matrices
    /// f16 unless `policy` asks for f32 — they are convolutions run in f32 — vectors f32) and the
    /// `autoencoder` section, which becomes required. Returns how many tensors got each type.
    @discardableResult
    public mutating func addAutoencoder(_ codec: LatentCodec, policy: QuantizationPolicy) throws -> [VGPKType: Int] {
        let a = codec.autoencoder.config
        var types: [VGPKType: Int] = [:]
        for (name, shape) in a.layout {
            var type = policy.type(for: name, shape: shape)
            if type == .q4 || type == .q8 { type = .f16 }
            try add(name, codec.autoencoder.parameters[name]!, as: type)
            types[type, default: 0] += 1
        }
        metadata.autoencoder = VGPKAutoencoder(config: a, latentMean: codec.mean, latentStd: codec.std)
        if !metadata.required.contains("autoencoder") { metadata.required.append("autoencoder") }
        return types
    }

    /// Adds every tensor of `params` with the types of `policy`, and records the architecture.
    public mutating func addModel(_ params: ParameterSet, config: ModelConfig, policy: QuantizationPolicy) throws {
        metadata.architecture = config
        for name in params.names {
            let t = try params.tensor(name)
            try add(name, t, as: policy.type(for: name, shape: t.shape))
        }
    }
}

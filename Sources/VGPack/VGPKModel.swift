import Foundation
import VGCore
import VGModel

/// Which type each tensor gets when a checkpoint is packed (../shared/ALGORITHMS.md §5): the linear
/// weights of the transformer blocks take the requested type; embeddings, norms, biases, the
/// timestep / adaLN path, the patch embedding, the text pooling / context projections and the
/// final layer stay at f32 (or f16 when f16 is requested) — they are small and sensitive.
public struct QuantizationPolicy: Sendable {
    /// The type requested for block weights.
    public var quant: VGPKType
    /// Overrides: a tensor whose name contains the pattern gets the type (first match wins).
    public var keep: [(pattern: String, type: VGPKType)]

    public init(quant: VGPKType, keep: [(pattern: String, type: VGPKType)] = []) { self.quant = quant; self.keep = keep }

    /// The stored type of `name` with logical `shape`.
    public func type(for name: String, shape: [Int]) -> VGPKType {
        if let k = keep.first(where: { name.contains($0.pattern) }) { return k.type }
        let blockLinear = shape.count == 2 && name.hasSuffix(".weight") && name.contains("blocks.") && !name.contains("adaln")
            && !name.contains("norm")
        if blockLinear { return quant }
        if name.hasSuffix(".bias") || name.contains("norm") { return .f32 }
        return quant == .f32 ? .f32 : .f16
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
    public func modelWeights() throws -> ModelWeights {
        let config = try architecture()
        do {
            return try ModelWeights(config: config, tensor: { name in
                let e = try self.entry(name)
                guard e.type == .f32 || e.type == .f16 else {
                    throw VGPKError(.badTensor, file: self.path, tensor: name, "must be f32 or f16, is \(e.type)")
                }
                return try self.floatTensor(name)
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

extension VGPKWriter {
    /// Adds every tensor of `params` with the types of `policy`, and records the architecture.
    public mutating func addModel(_ params: ParameterSet, config: ModelConfig, policy: QuantizationPolicy) throws {
        metadata.architecture = config
        for name in params.names {
            let t = try params.tensor(name)
            try add(name, t, as: policy.type(for: name, shape: t.shape))
        }
    }
}

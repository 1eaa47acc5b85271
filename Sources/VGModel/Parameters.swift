import VGCore

/// Every parameter of a model as named f32 tensors. Names are the checkpoint's tensor names
/// (safetensors / .vgpk), so loading is a lookup, not a translation table.
/// The trainer keeps one set for the weights, one for the gradients, two for Adam's moments.
public final class ParameterSet: @unchecked Sendable {
    /// Names in a fixed order (the order of `ParameterSet.layout`).
    public let names: [String]
    /// The tensors by name.
    public private(set) var tensors: [String: Tensor]
    /// The architecture whose layout this is.
    public let config: ModelConfig

    /// Zero-filled parameters of `config`'s layout.
    public init(config: ModelConfig) throws {
        try config.validate()
        self.config = config
        let layout = ParameterSet.layout(config)
        names = layout.map(\.name)
        var t: [String: Tensor] = [:]
        for (name, shape) in layout { t[name] = try Tensor(zeros: shape) }
        tensors = t
    }

    /// The tensor called `name`.
    /// - Throws: `ModelError.badParameter` when there is none.
    public func tensor(_ name: String) throws -> Tensor {
        guard let t = tensors[name] else { throw ModelError.badParameter("no tensor named \(name)") }
        return t
    }

    /// Replaces the values of `name` (shapes must match exactly).
    public func set(_ name: String, from source: Tensor) throws {
        let t = try tensor(name)
        guard t.shape == source.shape else {
            throw ModelError.badParameter("\(name) is \(source.shape), expected \(t.shape)")
        }
        try t.copy(from: source)
    }

    /// Total number of scalars.
    public var count: Int { names.reduce(0) { $0 + (tensors[$1]?.count ?? 0) } }

    /// Sets every tensor to zero (gradients between steps).
    public func zero() { for t in tensors.values { t.fill(0) } }

    /// The parameter names and shapes of a config, in a fixed order.
    public static func layout(_ c: ModelConfig) -> [(name: String, shape: [Int])] {
        let d = c.modelWidth, dt = c.textWidth, p = c.patchValues, hid = c.mlpRatio * d
        var l: [(String, [Int])] = []
        func linear(_ name: String, out: Int, in inp: Int) { l.append(("\(name).weight", [out, inp])); l.append(("\(name).bias", [out])) }
        func norm(_ name: String, _ n: Int) { l.append(("\(name).weight", [n])); l.append(("\(name).bias", [n])) }
        // Text encoder.
        l.append(("text.token_embedding.weight", [c.vocabSize, dt]))
        l.append(("text.position_embedding", [c.maxTextTokens, dt]))
        for i in 0..<c.textDepth {
            let b = "text.blocks.\(i)"
            norm("\(b).norm1", dt)
            linear("\(b).attn.qkv", out: 3 * dt, in: dt)
            linear("\(b).attn.out", out: dt, in: dt)
            norm("\(b).norm2", dt)
            linear("\(b).mlp.fc1", out: 4 * dt, in: dt)
            linear("\(b).mlp.fc2", out: dt, in: 4 * dt)
        }
        norm("text.norm", dt)
        // Conditioning and embeddings.
        linear("patch_embed", out: d, in: p)
        if c.videoPositionEmbedding { l.append(("pos_embedding", [c.tokens, d])) }
        linear("time_mlp.fc1", out: d, in: 2 * c.timeFrequencies)
        linear("time_mlp.fc2", out: d, in: d)
        linear("text_pool", out: d, in: dt)
        linear("context_proj", out: d, in: dt)
        // adaLN-single (PixArt-α): one projection of the conditioning shared by all blocks, plus a
        // learned per-block offset table; a fraction of per-block adaLN's parameters for the same role.
        linear("adaln", out: c.adaLNSlices * d, in: d)
        // DiT blocks.
        for i in 0..<c.depth {
            let b = "blocks.\(i)"
            l.append(("\(b).adaln_table", [c.adaLNSlices * d]))
            linear("\(b).attn.qkv", out: 3 * d, in: d)
            linear("\(b).attn.out", out: d, in: d)
            norm("\(b).cross_norm", d)
            linear("\(b).cross.q", out: d, in: d)
            linear("\(b).cross.kv", out: 2 * d, in: d)
            linear("\(b).cross.out", out: d, in: d)
            linear("\(b).mlp.fc1", out: hid, in: d)
            linear("\(b).mlp.fc2", out: d, in: hid)
        }
        linear("final.adaln", out: 2 * d, in: d)
        linear("final.linear", out: p, in: d)
        // Output refiner: two 3 x 3 convolutions as linears over 3 x 3 neighbourhoods (im2col order:
        // neighbour (ky, kx) major, channel minor).
        if c.refinerChannels > 0 {
            if c.refinerFeatures > 0 { linear("refiner.features", out: c.featureValues, in: d) }
            linear("refiner.conv1", out: c.refinerChannels, in: 9 * c.refinerInputChannels)
            linear("refiner.conv2", out: 3, in: 9 * c.refinerChannels)
        }
        // Token shape and mask heads (training only; the forward never reads them).
        if c.shapeHeadClasses > 0 { linear("aux.shape_head", out: c.shapeHeadClasses, in: d) }
        if c.maskHeadValues > 0 { linear("aux.mask_head", out: c.maskHeadValues, in: d) }
        return l
    }
}

/// A linear layer `y = x Wᵀ + b`: weight `[out, in]` in any stored type, bias `[out]` in f32.
public struct Linear: @unchecked Sendable {
    public var weight: WeightMatrix
    public var bias: Tensor?
    public init(weight: WeightMatrix, bias: Tensor?) { self.weight = weight; self.bias = bias }
}

/// LayerNorm's affine part: weight (gamma) and bias (beta), both `[n]`.
public struct NormAffine: @unchecked Sendable {
    public var weight: Tensor
    public var bias: Tensor
}

/// The tensors of a model arranged by layer, over shared storage: built from a `ParameterSet`
/// (f32, for training and the reference forward) or from a packed file (quantised linears).
/// The backward pass builds one over the gradient set with the same code.
public struct ModelWeights: @unchecked Sendable {
    public struct TextBlock: Sendable {
        public var norm1: NormAffine, qkv: Linear, out: Linear, norm2: NormAffine, fc1: Linear, fc2: Linear
    }
    public struct Block: Sendable {
        /// Per-block offsets added to the shared adaLN output: shift1, scale1, gate1, shift2, scale2, gate2
        /// (and the cross-attention's gate when the config has one).
        public var adalnTable: Tensor   // [6D] or [7D]
        public var qkv: Linear, attnOut: Linear, crossNorm: NormAffine
        public var crossQ: Linear, crossKV: Linear, crossOut: Linear, fc1: Linear, fc2: Linear
    }
    public let config: ModelConfig
    public var tokenEmbedding: Tensor     // [V, Dt]
    public var positionEmbedding: Tensor  // [Lmax, Dt]
    public var textBlocks: [TextBlock]
    public var textNorm: NormAffine
    public var patchEmbed: Linear, timeFC1: Linear, timeFC2: Linear, textPool: Linear, contextProj: Linear
    /// Learned absolute positions of the video tokens (nil when the config has none).   [T, D]
    public var videoPositionEmbedding: Tensor?
    /// The shared adaLN projection SiLU(cond) -> 6D (7D with the cross-attention gate).
    public var adaln: Linear
    public var blocks: [Block]
    public var finalAdaLN: Linear, finalLinear: Linear
    /// The output refiner's two convolutions (nil when the config has none).
    public var refinerConv1: Linear?, refinerConv2: Linear?
    /// The per-pixel features the final tokens hand the refiner (nil when the config has none).
    public var refinerFeatures: Linear?

    /// Builds the layer view of `params` with every linear weight as f32 (no copies).
    public init(_ params: ParameterSet, config: ModelConfig) throws {
        try self.init(config: config, tensor: { try params.tensor($0) }, linearWeight: { .f32(try params.tensor($0)) })
    }

    /// Builds the layer view from two lookups: plain tensors, and linear weights (which may be quantised).
    /// Shapes are checked against the config's layout.
    public init(config: ModelConfig, tensor: (String) throws -> Tensor, linearWeight: (String) throws -> WeightMatrix) throws {
        try config.validate()
        self.config = config
        let shapes = Dictionary(uniqueKeysWithValues: ParameterSet.layout(config).map { ($0.name, $0.shape) })
        func t(_ name: String) throws -> Tensor {
            let x = try tensor(name)
            guard x.shape == shapes[name], x.dtype == .f32 else {
                throw ModelError.badParameter("\(name) is \(x.shape) \(x.dtype), expected \(shapes[name] ?? []) f32")
            }
            return x
        }
        func lin(_ name: String) throws -> Linear {
            let w = try linearWeight("\(name).weight")
            let want = shapes["\(name).weight"] ?? []
            guard [w.outFeatures, w.inFeatures] == want else {
                throw ModelError.badParameter("\(name).weight is [\(w.outFeatures), \(w.inFeatures)], expected \(want)")
            }
            return Linear(weight: w, bias: try t("\(name).bias"))
        }
        func norm(_ name: String) throws -> NormAffine { NormAffine(weight: try t("\(name).weight"), bias: try t("\(name).bias")) }
        tokenEmbedding = try t("text.token_embedding.weight")
        positionEmbedding = try t("text.position_embedding")
        textBlocks = try (0..<config.textDepth).map { i in
            let b = "text.blocks.\(i)"
            return TextBlock(norm1: try norm("\(b).norm1"), qkv: try lin("\(b).attn.qkv"), out: try lin("\(b).attn.out"),
                             norm2: try norm("\(b).norm2"), fc1: try lin("\(b).mlp.fc1"), fc2: try lin("\(b).mlp.fc2"))
        }
        textNorm = try norm("text.norm")
        videoPositionEmbedding = config.videoPositionEmbedding ? try t("pos_embedding") : nil
        patchEmbed = try lin("patch_embed"); timeFC1 = try lin("time_mlp.fc1"); timeFC2 = try lin("time_mlp.fc2")
        textPool = try lin("text_pool"); contextProj = try lin("context_proj"); adaln = try lin("adaln")
        blocks = try (0..<config.depth).map { i in
            let b = "blocks.\(i)"
            return Block(adalnTable: try t("\(b).adaln_table"), qkv: try lin("\(b).attn.qkv"), attnOut: try lin("\(b).attn.out"),
                         crossNorm: try norm("\(b).cross_norm"), crossQ: try lin("\(b).cross.q"), crossKV: try lin("\(b).cross.kv"),
                         crossOut: try lin("\(b).cross.out"), fc1: try lin("\(b).mlp.fc1"), fc2: try lin("\(b).mlp.fc2"))
        }
        finalAdaLN = try lin("final.adaln"); finalLinear = try lin("final.linear")
        if config.refinerChannels > 0 { refinerConv1 = try lin("refiner.conv1"); refinerConv2 = try lin("refiner.conv2") }
        if config.refinerFeatures > 0 { refinerFeatures = try lin("refiner.features") }
    }
}

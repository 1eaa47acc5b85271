import VGCore

/// Buffers of one forward pass, allocated once per (config, mode) and reused: the hot loop
/// allocates nothing. With `saveForBackward`, every block keeps its own buffers (the backward pass
/// reads them); otherwise all blocks share one set. Text-length buffers are sized for
/// `maxTextTokens` and viewed at the actual length.
public final class ModelActivations: @unchecked Sendable {
    /// One DiT block's tensors (T video tokens, D width, R MLP width, L text tokens).
    public final class Block: @unchecked Sendable {
        public let input: Tensor      // [T, D]   block input h
        public let mod: Tensor        // [6D | 7D] shared adaLN output + this block's table: shift1, scale1, gate1, shift2, scale2, gate2 (, gateCross)
        public let shift1, scale1, gate1, shift2, scale2, gate2: Tensor   // [D] each, copies of mod's slices
        public let gateCross: Tensor  // [D]      the cross-attention's gate (unused without `crossAttentionGate`)
        /// The slices `mod` is split into, in order (built once: the forward allocates nothing).
        public let modSlices: [Tensor]
        public let norm1: Tensor      // [T, D]   LN(h) modulated
        public let qkv: Tensor        // [T, 3D]  q and k after RoPE
        public let attn: Tensor       // [T, D]   self-attention output (before attn.out)
        public let attnProj: Tensor   // [T, D]   attn.out(attn)
        public let afterAttn: Tensor  // [T, D]   h + gate1 * attnProj
        public let crossIn: Tensor    // [T, D]   cross_norm(afterAttn)
        public let crossQ: Tensor     // [T, D]
        let crossKVStore: AlignedBuffer // [Lmax, 2D]
        public let crossAttn: Tensor  // [T, D]
        public let crossProj: Tensor  // [T, D]   cross.out(crossAttn) (with `crossAttentionGate`)
        public let afterCross: Tensor // [T, D]   afterAttn + [gateCross *] cross.out(crossAttn)
        public let norm2: Tensor      // [T, D]   LN(afterCross) modulated
        public let fc1: Tensor        // [T, R]   before GELU
        public let gelu: Tensor       // [T, R]
        public let mlpOut: Tensor     // [T, D]
        init(_ c: ModelConfig) throws {
            let t = c.tokens, d = c.modelWidth, r = c.mlpRatio * d
            input = try Tensor(zeros: [t, d]); mod = try Tensor(zeros: [c.adaLNSlices * d]); gateCross = try Tensor(zeros: [d])
            crossProj = try Tensor(zeros: [c.crossAttentionGate ? t : 1, d]); norm1 = try Tensor(zeros: [t, d])
            shift1 = try Tensor(zeros: [d]); scale1 = try Tensor(zeros: [d]); gate1 = try Tensor(zeros: [d])
            shift2 = try Tensor(zeros: [d]); scale2 = try Tensor(zeros: [d]); gate2 = try Tensor(zeros: [d])
            qkv = try Tensor(zeros: [t, 3 * d]); attn = try Tensor(zeros: [t, d]); attnProj = try Tensor(zeros: [t, d])
            afterAttn = try Tensor(zeros: [t, d]); crossIn = try Tensor(zeros: [t, d]); crossQ = try Tensor(zeros: [t, d])
            crossKVStore = try AlignedBuffer(byteCount: c.maxTextTokens * 2 * d * 4)
            crossAttn = try Tensor(zeros: [t, d]); afterCross = try Tensor(zeros: [t, d]); norm2 = try Tensor(zeros: [t, d])
            fc1 = try Tensor(zeros: [t, r]); gelu = try Tensor(zeros: [t, r]); mlpOut = try Tensor(zeros: [t, d])
            modSlices = [shift1, scale1, gate1, shift2, scale2, gate2] + (c.crossAttentionGate ? [gateCross] : [])
        }
        /// cross.kv(context) `[L, 2D]`.
        public func crossKV(_ l: Int, _ d: Int) throws -> Tensor { try Tensor(viewing: crossKVStore, shape: [l, 2 * d]) }
    }

    /// One text-encoder block's tensors, sized for Lmax.
    public final class TextBlock: @unchecked Sendable {
        package let input, norm1, qkv, attn, afterAttn, norm2, fc1, gelu: AlignedBuffer   // [Lmax, Dt] (qkv 3Dt, fc1 and gelu 4Dt)
        init(_ c: ModelConfig) throws {
            let n = c.maxTextTokens * c.textWidth * 4
            input = try AlignedBuffer(byteCount: n); norm1 = try AlignedBuffer(byteCount: n)
            qkv = try AlignedBuffer(byteCount: 3 * n); attn = try AlignedBuffer(byteCount: n)
            afterAttn = try AlignedBuffer(byteCount: n); norm2 = try AlignedBuffer(byteCount: n)
            fc1 = try AlignedBuffer(byteCount: 4 * n); gelu = try AlignedBuffer(byteCount: 4 * n)
        }
    }

    public let config: ModelConfig
    public let saveForBackward: Bool
    public let blocks: [Block]
    public let textBlocks: [TextBlock]

    // Conditioning (all [D] unless noted).
    public let timeFreq: Tensor       // [2 * timeFrequencies] sinusoidal embedding of s
    public let timeHidden: Tensor     // time_mlp.fc1 output (before SiLU)
    public let timeAct: Tensor        // SiLU(timeHidden)
    public let cond: Tensor           // time_mlp.fc2(timeAct) + pooledCond
    public let condAct: Tensor        // SiLU(cond), the input of every adaLN
    public let sharedMod: Tensor      // [6D | 7D] adaln(condAct), shared by the blocks
    // Video path.
    public let patches: Tensor        // [T, P] patchified noisy clip
    public let finalInput: Tensor     // [T, D]
    public let finalMod: Tensor       // [2D]  final adaLN output: shift, scale
    public let finalShift, finalScale: Tensor  // [D] each
    public let finalNorm: Tensor      // [T, D]
    public let output: Tensor         // [T, P] predicted clean patches (after the refiner, when there is one)
    /// The output refiner's buffers (nil without one); N = F·H·W pixels, C refiner channels.
    public let refiner: RefinerActivations?
    // Text path, sized for Lmax.
    let textOutStore: AlignedBuffer   // [Lmax, Dt] text encoder output (after text.norm)
    let textFinalInStore: AlignedBuffer // [Lmax, Dt] input of text.norm
    let contextStore: AlignedBuffer   // [Lmax, D] context_proj(text output)
    public let pooled: Tensor         // [Dt] mean of the text output over tokens
    public let pooledCond: Tensor     // [D]  text_pool(pooled)
    /// Tokens of the last encoded prompt.
    public internal(set) var textTokens: [Int32] = []
    public var textLength: Int { textTokens.count }

    public init(config: ModelConfig, saveForBackward: Bool) throws {
        try config.validate()
        self.config = config
        self.saveForBackward = saveForBackward
        blocks = try (0..<(saveForBackward ? config.depth : 1)).map { _ in try Block(config) }
        textBlocks = try (0..<(saveForBackward ? config.textDepth : 1)).map { _ in try TextBlock(config) }
        let d = config.modelWidth, t = config.tokens
        timeFreq = try Tensor(zeros: [2 * config.timeFrequencies])
        timeHidden = try Tensor(zeros: [d]); timeAct = try Tensor(zeros: [d]); cond = try Tensor(zeros: [d]); condAct = try Tensor(zeros: [d])
        sharedMod = try Tensor(zeros: [config.adaLNSlices * d])
        patches = try Tensor(zeros: [t, config.patchValues]); finalInput = try Tensor(zeros: [t, d]); finalMod = try Tensor(zeros: [2 * d])
        finalShift = try Tensor(zeros: [d]); finalScale = try Tensor(zeros: [d])
        finalNorm = try Tensor(zeros: [t, d]); output = try Tensor(zeros: [t, config.patchValues])
        textOutStore = try AlignedBuffer(byteCount: config.maxTextTokens * config.textWidth * 4)
        textFinalInStore = try AlignedBuffer(byteCount: config.maxTextTokens * config.textWidth * 4)
        contextStore = try AlignedBuffer(byteCount: config.maxTextTokens * d * 4)
        pooled = try Tensor(zeros: [config.textWidth]); pooledCond = try Tensor(zeros: [d])
        refiner = config.refinerChannels > 0 ? try RefinerActivations(config) : nil
    }

    /// The activations of DiT block `i` (block 0's when they are not saved).
    public func block(_ i: Int) -> Block { blocks[saveForBackward ? i : 0] }
    public func textBlock(_ i: Int) -> TextBlock { textBlocks[saveForBackward ? i : 0] }
    /// Text encoder output `[L, Dt]` and context tokens `[L, D]` of the last prompt.
    public func textOutput() throws -> Tensor { try Tensor(viewing: textOutStore, shape: [textLength, config.textWidth]) }
    public func textFinalInput() throws -> Tensor { try Tensor(viewing: textFinalInStore, shape: [textLength, config.textWidth]) }
    public func context() throws -> Tensor { try Tensor(viewing: contextStore, shape: [textLength, config.modelWidth]) }
}

/// The output refiner's tensors of one forward (N = F·H·W pixels, C channels, K features,
/// Cin = 8 + K input channels).
public final class RefinerActivations: @unchecked Sendable {
    public let base: Tensor      // [N, 3]    the DiT's prediction x0_hat as pixels
    public let features: Tensor? // [T, PK]   refiner features per token (K > 0 only)
    public let featurePixels: Tensor?  // [N, K]  the same per pixel
    public let input: Tensor     // [N, Cin]  [x0_hat, x_s, s, 1 - s, features] per pixel
    public let cols1: Tensor     // [N, 9Cin] 3 x 3 neighbourhoods of input
    public let hidden: Tensor    // [N, C]    conv1 output (before GELU)
    public let act: Tensor       // [N, C]    GELU(hidden)
    public let cols2: Tensor     // [N, 9C]   3 x 3 neighbourhoods of act
    public let delta: Tensor     // [N, 3]    conv2 output, then x0_hat + it: the refined prediction
    init(_ c: ModelConfig) throws {
        let n = c.frames * c.height * c.width, ch = c.refinerChannels, cin = c.refinerInputChannels
        base = try Tensor(zeros: [n, 3]); input = try Tensor(zeros: [n, cin]); cols1 = try Tensor(zeros: [n, 9 * cin])
        features = c.refinerFeatures > 0 ? try Tensor(zeros: [c.tokens, c.featureValues]) : nil
        featurePixels = c.refinerFeatures > 0 ? try Tensor(zeros: [n, c.refinerFeatures]) : nil
        hidden = try Tensor(zeros: [n, ch]); act = try Tensor(zeros: [n, ch])
        cols2 = try Tensor(zeros: [n, 9 * ch]); delta = try Tensor(zeros: [n, 3])
    }
}

/// The architecture of a text-to-video model: a text encoder and a diffusion transformer (DiT)
/// trained with flow matching in pixel space. Stored with every checkpoint (JSON in the metadata),
/// so a file says what it contains.
///
/// Shape legend used across VGModel:
///   F, H, W  frames, height, width of a clip (pixels, RGB in [-1, 1]; or a latent grid)
///   Ch  values per position: 3 for RGB (`channels`), C for latents
///   pt, ph, pw  patch size along t, y, x;  T = (F/pt)(H/ph)(W/pw) video tokens
///   P = pt·ph·pw·Ch values per patch;  D model width;  L text tokens;  Dt text width
public struct ModelConfig: Codable, Equatable, Sendable {
    /// Frames of a clip, e.g. 16.
    public var frames: Int
    /// Height and width in pixels, e.g. 64 x 64.
    public var height: Int, width: Int
    /// Patch size along (t, y, x), e.g. (2, 8, 8): 512 tokens of 384 values for 16 x 64 x 64.
    public var patchT: Int, patchH: Int, patchW: Int
    /// DiT width D, e.g. 192.
    public var modelWidth: Int
    /// DiT blocks, e.g. 4.
    public var depth: Int
    /// Attention heads (D must divide into heads of even size), e.g. 4.
    public var heads: Int
    /// MLP hidden size as a multiple of D, e.g. 4.
    public var mlpRatio: Int
    /// Sinusoidal frequencies of the timestep embedding, e.g. 128 (its size is twice this).
    public var timeFrequencies: Int

    /// Text vocabulary size (the tokenizer's), e.g. 1024.
    public var vocabSize: Int
    /// Longest token sequence the text encoder takes, e.g. 128 (the default since phase 13 of the base;
    /// the longest detailed caption of the stream is 96 tokens).
    public var maxTextTokens: Int
    /// Text encoder width Dt, e.g. 192.
    public var textWidth: Int
    /// Text encoder blocks and heads, e.g. 2 and 4.
    public var textDepth: Int, textHeads: Int

    /// Flow-matching sampling defaults: shifted grid s' = k s / (1 + (k - 1) s), e.g. k = 3.
    public var samplingShift: Float
    /// Smallest noise level used to turn an x-prediction into a velocity, e.g. 0.05 (JiT clamps likewise).
    public var minNoiseLevel: Float
    /// A learned absolute position embedding `pos_embedding [T, D]` added to the video tokens after the
    /// patch embedding. RoPE alone tells a token only where the others are relative to it, so from
    /// pure noise no token knows that it is "at the bottom-left" (docs/DESIGN-NOTES.md). New configs
    /// have it; configs stored before it existed decode as false and keep their exact forward.
    public var videoPositionEmbedding: Bool
    /// The cross-attention's addition to the residual stream goes through an adaLN gate like the
    /// self-attention's and the MLP's (a seventh slice of the adaLN output, zero at the start), so the
    /// noise level decides how much the prompt's words count. Without it the cross-attention is added
    /// ungated (PixArt-α's layout) and its share stayed at 0.4-5 % of the residual stream in the base
    /// runs (docs/PIPELINE.md, "Why phases 9-12"). New configs have it (the base since phase 13);
    /// configs stored before it existed decode as false.
    public var crossAttentionGate: Bool
    /// Channels C of the output refiner, 0 for none (the default, and what configs stored before it
    /// existed decode as). With C > 0 the DiT's predicted clip goes through a small convolutional
    /// network at full resolution before it is returned: per frame, a 3 x 3 convolution of
    /// [x0_hat, x_s, s, 1 - s] (8 channels) to C, GELU, and a 3 x 3 convolution back to 3 that is
    /// added to x0_hat (`OutputRefiner`, docs/DESIGN-NOTES.md "An output refiner"). It sees every
    /// pixel and its neighbours, where the DiT writes a 2 x 8 x 8 patch through one D-wide token.
    public var refinerChannels: Int
    /// Feature channels K that the DiT hands the output refiner per pixel, 0 for none (the default,
    /// and what configs stored before it existed decode as). With K > 0 (and a refiner), a linear map
    /// `refiner.features` turns each final token into K values for every pixel of its patch, and the
    /// refiner's first convolution reads them beside [x0_hat, x_s, s, 1 - s]: a per-pixel nonlinear
    /// decoder of the token, where the final linear alone is one linear map per patch
    /// (docs/DESIGN-NOTES.md "Refiner features").
    public var refinerFeatures: Int
    /// Values per position of the clip the DiT denoises: 3 (RGB pixels, the default, and what configs
    /// stored before the field existed decode as), or a latent autoencoder's C channels when the model
    /// works on latents (`LatentAutoencoder`; then `height` and `width` are the latent grid's, and the
    /// autoencoder turns frames into that clip and back; docs/DESIGN-NOTES.md "A latent autoencoder").
    public var channels: Int = 3
    /// Classes K of the token shape head, 0 for none (the default, and what configs stored before it
    /// existed decode as). A training-only auxiliary: with K > 0 the parameter set holds a linear map
    /// `aux.shape_head` from the output of block `shapeHeadBlock` ([T, D]) to K logits per token, and
    /// the trainer asks it, with a cross-entropy loss, which shape each object token shows (labels
    /// from the rendered scene). The forward never reads it; exports for the runtime drop it
    /// (docs/DESIGN-NOTES.md "A token shape head").
    public var shapeHeadClasses: Int = 0
    /// The block whose output the token shape head reads, in 0..<depth.
    public var shapeHeadBlock: Int = 0
    /// Values M of the token mask head, 0 for none (the default). A training-only auxiliary like the
    /// shape head: a linear map `aux.mask_head` from the last block's output ([T, D]) to M logits per
    /// token, one per pixel the token covers (patchT x patchH x patchW, times r x r for a latent
    /// model of an r-times downsampling autoencoder), trained to give the clean clip's object mask
    /// there (docs/DESIGN-NOTES.md "A token mask head"). The forward never reads it.
    public var maskHeadValues: Int = 0

    public init(frames: Int = 16, height: Int = 64, width: Int = 64, patchT: Int = 2, patchH: Int = 8, patchW: Int = 8,
                modelWidth: Int = 192, depth: Int = 4, heads: Int = 4, mlpRatio: Int = 4, timeFrequencies: Int = 128,
                vocabSize: Int = 1024, maxTextTokens: Int = 128, textWidth: Int = 192, textDepth: Int = 2, textHeads: Int = 4,
                samplingShift: Float = 3, minNoiseLevel: Float = 0.05, videoPositionEmbedding: Bool = true,
                crossAttentionGate: Bool = true, refinerChannels: Int = 0, refinerFeatures: Int = 0) {
        self.frames = frames; self.height = height; self.width = width
        self.patchT = patchT; self.patchH = patchH; self.patchW = patchW
        self.modelWidth = modelWidth; self.depth = depth; self.heads = heads; self.mlpRatio = mlpRatio
        self.timeFrequencies = timeFrequencies
        self.vocabSize = vocabSize; self.maxTextTokens = maxTextTokens; self.textWidth = textWidth
        self.textDepth = textDepth; self.textHeads = textHeads
        self.samplingShift = samplingShift; self.minNoiseLevel = minNoiseLevel
        self.videoPositionEmbedding = videoPositionEmbedding
        self.crossAttentionGate = crossAttentionGate
        self.refinerChannels = refinerChannels
        self.refinerFeatures = refinerFeatures
    }

    enum CodingKeys: String, CodingKey {
        case frames, height, width, patchT, patchH, patchW, modelWidth, depth, heads, mlpRatio, timeFrequencies
        case vocabSize, maxTextTokens, textWidth, textDepth, textHeads, samplingShift, minNoiseLevel, videoPositionEmbedding
        case crossAttentionGate, refinerChannels, refinerFeatures, channels, shapeHeadClasses, shapeHeadBlock, maskHeadValues
    }

    /// Decodes configs written before `videoPositionEmbedding` or `crossAttentionGate` existed too
    /// (as false: their models have neither).
    public init(from decoder: Decoder) throws {
        let k = try decoder.container(keyedBy: CodingKeys.self)
        frames = try k.decode(Int.self, forKey: .frames); height = try k.decode(Int.self, forKey: .height)
        width = try k.decode(Int.self, forKey: .width)
        patchT = try k.decode(Int.self, forKey: .patchT); patchH = try k.decode(Int.self, forKey: .patchH)
        patchW = try k.decode(Int.self, forKey: .patchW)
        modelWidth = try k.decode(Int.self, forKey: .modelWidth); depth = try k.decode(Int.self, forKey: .depth)
        heads = try k.decode(Int.self, forKey: .heads); mlpRatio = try k.decode(Int.self, forKey: .mlpRatio)
        timeFrequencies = try k.decode(Int.self, forKey: .timeFrequencies)
        vocabSize = try k.decode(Int.self, forKey: .vocabSize); maxTextTokens = try k.decode(Int.self, forKey: .maxTextTokens)
        textWidth = try k.decode(Int.self, forKey: .textWidth); textDepth = try k.decode(Int.self, forKey: .textDepth)
        textHeads = try k.decode(Int.self, forKey: .textHeads)
        samplingShift = try k.decode(Float.self, forKey: .samplingShift); minNoiseLevel = try k.decode(Float.self, forKey: .minNoiseLevel)
        videoPositionEmbedding = try k.decodeIfPresent(Bool.self, forKey: .videoPositionEmbedding) ?? false
        crossAttentionGate = try k.decodeIfPresent(Bool.self, forKey: .crossAttentionGate) ?? false
        refinerChannels = try k.decodeIfPresent(Int.self, forKey: .refinerChannels) ?? 0
        refinerFeatures = try k.decodeIfPresent(Int.self, forKey: .refinerFeatures) ?? 0
        channels = try k.decodeIfPresent(Int.self, forKey: .channels) ?? 3
        shapeHeadClasses = try k.decodeIfPresent(Int.self, forKey: .shapeHeadClasses) ?? 0
        shapeHeadBlock = try k.decodeIfPresent(Int.self, forKey: .shapeHeadBlock) ?? 0
        maskHeadValues = try k.decodeIfPresent(Int.self, forKey: .maskHeadValues) ?? 0
    }

    /// Encodes every field; `refinerChannels`, `refinerFeatures` and the auxiliary heads only when they are not 0 and
    /// `channels` only when it is not 3, so a config without them is written exactly as before the
    /// fields existed.
    public func encode(to encoder: Encoder) throws {
        var k = encoder.container(keyedBy: CodingKeys.self)
        try k.encode(frames, forKey: .frames); try k.encode(height, forKey: .height); try k.encode(width, forKey: .width)
        try k.encode(patchT, forKey: .patchT); try k.encode(patchH, forKey: .patchH); try k.encode(patchW, forKey: .patchW)
        try k.encode(modelWidth, forKey: .modelWidth); try k.encode(depth, forKey: .depth); try k.encode(heads, forKey: .heads)
        try k.encode(mlpRatio, forKey: .mlpRatio); try k.encode(timeFrequencies, forKey: .timeFrequencies)
        try k.encode(vocabSize, forKey: .vocabSize); try k.encode(maxTextTokens, forKey: .maxTextTokens)
        try k.encode(textWidth, forKey: .textWidth); try k.encode(textDepth, forKey: .textDepth); try k.encode(textHeads, forKey: .textHeads)
        try k.encode(samplingShift, forKey: .samplingShift); try k.encode(minNoiseLevel, forKey: .minNoiseLevel)
        try k.encode(videoPositionEmbedding, forKey: .videoPositionEmbedding); try k.encode(crossAttentionGate, forKey: .crossAttentionGate)
        if refinerChannels != 0 { try k.encode(refinerChannels, forKey: .refinerChannels) }
        if refinerFeatures != 0 { try k.encode(refinerFeatures, forKey: .refinerFeatures) }
        if channels != 3 { try k.encode(channels, forKey: .channels) }
        if shapeHeadClasses != 0 {
            try k.encode(shapeHeadClasses, forKey: .shapeHeadClasses); try k.encode(shapeHeadBlock, forKey: .shapeHeadBlock)
        }
        if maskHeadValues != 0 { try k.encode(maskHeadValues, forKey: .maskHeadValues) }
    }

    /// Token grid (t, y, x) and count T.
    public var grid: (t: Int, y: Int, x: Int) { (frames / patchT, height / patchH, width / patchW) }
    public var tokens: Int { grid.t * grid.y * grid.x }
    /// Slices of D in each block's adaLN output: shift1, scale1, gate1, shift2, scale2, gate2, and the
    /// cross-attention's gate when it has one (6 or 7).
    public var adaLNSlices: Int { crossAttentionGate ? 7 : 6 }
    /// Values per patch P.
    public var patchValues: Int { patchT * patchH * patchW * channels }
    /// Refiner feature values per token: K for every pixel of a patch, in (dt, dy, dx, k) order.
    public var featureValues: Int { patchT * patchH * patchW * refinerFeatures }
    /// Channels of the refiner's first convolution's input: x0_hat (3), x_s (3), s, 1 - s, and the
    /// K refiner features.
    public var refinerInputChannels: Int { OutputRefiner.inputChannels + refinerFeatures }
    /// Head size of the DiT and of the text encoder.
    public var headDim: Int { modelWidth / heads }
    public var textHeadDim: Int { textWidth / textHeads }

    /// Checks every field and their relations; a config read from a file goes through this.
    public func validate() throws {
        func need(_ ok: Bool, _ why: String) throws { if !ok { throw ModelError.invalidConfig(why) } }
        try need([frames, height, width, patchT, patchH, patchW, modelWidth, depth, heads, mlpRatio, timeFrequencies,
                  vocabSize, maxTextTokens, textWidth, textDepth, textHeads].allSatisfy { $0 > 0 }, "every size must be positive")
        try need([frames, height, width, modelWidth, textWidth, vocabSize, maxTextTokens].allSatisfy { $0 <= 1 << 16 },
                 "a size is above 65536")
        try need(depth <= 256 && textDepth <= 256 && mlpRatio <= 16 && timeFrequencies <= 4096, "depth, mlpRatio or timeFrequencies too large")
        try need(frames % patchT == 0 && height % patchH == 0 && width % patchW == 0,
                 "clip \(frames)x\(height)x\(width) is not a multiple of the patch \(patchT)x\(patchH)x\(patchW)")
        try need(modelWidth % heads == 0 && headDim % 2 == 0, "model width \(modelWidth) must split into \(heads) heads of even size")
        try need(textWidth % textHeads == 0 && textHeadDim % 2 == 0, "text width \(textWidth) must split into \(textHeads) heads of even size")
        try need(tokens <= 1 << 16, "\(tokens) video tokens is too many")
        try need(samplingShift.isFinite && samplingShift > 0, "sampling shift must be positive")
        try need(minNoiseLevel.isFinite && minNoiseLevel > 0 && minNoiseLevel < 1, "minNoiseLevel must be in (0, 1)")
        try need((0...256).contains(refinerChannels), "refinerChannels must be in 0...256")
        try need((0...64).contains(refinerFeatures), "refinerFeatures must be in 0...64")
        try need(refinerFeatures == 0 || refinerChannels > 0, "refinerFeatures needs an output refiner (refinerChannels > 0)")
        try need((1...256).contains(channels), "channels must be in 1...256")
        try need(channels == 3 || refinerChannels == 0, "the output refiner works on RGB clips (channels 3)")
        try need((0...64).contains(shapeHeadClasses), "shapeHeadClasses must be in 0...64")
        try need(shapeHeadClasses == 0 ? shapeHeadBlock == 0 : (0..<depth).contains(shapeHeadBlock),
                 "shapeHeadBlock must name a block (0..<\(depth)) when there is a shape head, else be 0")
        try need(maskHeadValues == 0 || (maskHeadValues <= 1 << 16 && maskHeadValues % (patchT * patchH * patchW) == 0),
                 "maskHeadValues must be 0 or a multiple of the patch's \(patchT * patchH * patchW) positions, at most 65536")
    }
}

/// Errors of the model code.
public enum ModelError: Error, Equatable, CustomStringConvertible, Sendable {
    /// The configuration is inconsistent (the message says which field).
    case invalidConfig(String)
    /// A parameter tensor is missing or has the wrong shape, e.g. "blocks.3.attn.qkv.weight".
    case badParameter(String)
    /// An input (tokens, clip, noise level) does not fit the model.
    case badInput(String)
    /// The computation was cancelled by the caller.
    case cancelled

    public var description: String {
        switch self {
        case .invalidConfig(let m): return "invalid model config: \(m)"
        case .badParameter(let m): return "bad parameter: \(m)"
        case .badInput(let m): return "bad input: \(m)"
        case .cancelled: return "cancelled"
        }
    }
}

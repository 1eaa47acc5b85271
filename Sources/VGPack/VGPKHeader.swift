import VGCore
import VGModel

/// The .vgpk container (docs/FORMAT.md is the specification):
///
///     [0, 8)        magic  "VGPK\r\n\u{1a}\n"
///     [8, 12)       u32    major version (1)        — a reader rejects another major
///     [12, 16)      u32    minor version (0)        — additions only; older readers still read it
///     [16, 24)      u64    header length H
///     [24, 32)      u64    xxHash64 of the header bytes
///     [32, 32 + H)  header: UTF-8 JSON (`VGPKHeader`)
///     data          from the first 64-byte boundary at or after 32 + H: chunks, each at a 64-byte
///                   aligned offset, zstd frames or raw bytes
///
/// Everything is little-endian. Chunk offsets are relative to the start of the data section.
public enum VGPK {
    public static let magic: [UInt8] = [0x56, 0x47, 0x50, 0x4B, 0x0D, 0x0A, 0x1A, 0x0A]
    public static let majorVersion: UInt32 = 1
    public static let minorVersion: UInt32 = 0
    /// Size of the fixed preamble before the header.
    public static let preambleSize = 32
    /// Alignment of every chunk.
    public static let alignment = 64
    /// Largest header a reader accepts (a model's header is a few hundred KiB at most).
    public static let maxHeaderSize = 64 << 20
    /// Raw bytes per chunk (the unit of parallel decompression), 1 MiB.
    public static let chunkSize = 1 << 20
    /// Metadata keys this reader understands; a file may list others as required only in a newer version.
    public static let knownKeys: Set<String> = ["architecture", "tokenizer", "sampler", "enhancer", "provenance", "autoencoder"]
}

/// Storage type of a tensor in a .vgpk file; the byte layouts are `DType`'s.
public enum VGPKType: String, Codable, Sendable, CaseIterable {
    case f32, f16, q8, q4
    var dtype: DType { DType(rawValue: rawValue)! }
}

/// One independently stored piece of a tensor's bytes.
public struct VGPKChunk: Codable, Equatable, Sendable {
    /// Offset from the start of the data section (a multiple of 64) and stored size.
    public var offset: UInt64
    public var storedSize: UInt64
    /// Size after decompression.
    public var rawSize: UInt64
    /// "zstd" or "raw".
    public var codec: String
    /// xxHash64 of the stored bytes.
    public var checksum: String
}

/// One tensor: name (the checkpoint's), type, logical shape, and its chunks in order.
public struct VGPKTensor: Codable, Equatable, Sendable {
    public var name: String
    public var type: VGPKType
    /// Logical shape; q8 / q4 tensors are matrices [rows, K] with K padded to 32 in storage.
    public var shape: [Int]
    public var chunks: [VGPKChunk]
}

/// Sampler defaults a model ships with (a distilled student needs few steps and no guidance).
public struct SamplerDefaults: Codable, Equatable, Sendable {
    public var steps: Int
    public var guidance: Float
    public var shift: Float
    public var distilled: Bool
    public init(steps: Int = 50, guidance: Float = 5, shift: Float = 3, distilled: Bool = false) {
        self.steps = steps; self.guidance = guidance; self.shift = shift; self.distilled = distilled
    }
}

/// Where a model came from: the stages that made it, the source commit, evaluation scores.
public struct Provenance: Codable, Equatable, Sendable {
    public var stages: [String] = []
    public var sourceCommit: String?
    public var scores: [String: Double] = [:]
    public var notes: String?
    public init(stages: [String] = [], sourceCommit: String? = nil, scores: [String: Double] = [:], notes: String? = nil) {
        self.stages = stages; self.sourceCommit = sourceCommit; self.scores = scores; self.notes = notes
    }
}

/// Typed metadata. Optional sections a reader does not know are ignored; `required` lists the
/// sections a reader must understand to use the file (unknown ones there are an error).
public struct VGPKMetadata: Codable, Equatable, Sendable {
    public var required: [String] = ["architecture"]
    public var architecture: ModelConfig?
    /// The tokenizer, serialised as its own JSON document.
    public var tokenizer: String?
    public var sampler: SamplerDefaults?
    /// The prompt enhancer's configuration, serialised as its own JSON document.
    public var enhancer: String?
    public var provenance: Provenance?
    /// A latent model's autoencoder (architecture and latent statistics); its tensors are the `ae.*` ones.
    public var autoencoder: VGPKAutoencoder?
    public init() {}
}

/// The `autoencoder` section of a latent model (`ModelConfig.channels` != 3): the DiT samples
/// normalised latents `[F, h, w, C]`, which become frames through x = decoder(z · std + mean).
public struct VGPKAutoencoder: Codable, Equatable, Sendable {
    public var config: AutoencoderConfig
    /// Per-channel latent mean and standard deviation, `[C]` each.
    public var latentMean: [Float]
    public var latentStd: [Float]
    public init(config: AutoencoderConfig, latentMean: [Float], latentStd: [Float]) {
        self.config = config; self.latentMean = latentMean; self.latentStd = latentStd
    }
}

/// The JSON header.
public struct VGPKHeader: Codable, Equatable, Sendable {
    public var metadata: VGPKMetadata
    public var tensors: [VGPKTensor]
}

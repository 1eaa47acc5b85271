import Foundation
import Synchronization
import VGCore
import VGModel
import VGPack
import VGText
import VGVideo

/// Errors of the runtime, each mapping to one status of the C ABI.
public enum RuntimeError: Error, Equatable, CustomStringConvertible, Sendable {
    case invalidArgument(String), io(String), badModel(String), unsupported(String), outOfMemory(String)
    case aborted, invalidUTF8(String), limit(String), encode(String), internalError(String)

    public var description: String {
        switch self {
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .io(let m): return m
        case .badModel(let m): return m
        case .unsupported(let m): return "unsupported: \(m)"
        case .outOfMemory(let m): return "out of memory: \(m)"
        case .aborted: return "aborted"
        case .invalidUTF8(let m): return "invalid UTF-8: \(m)"
        case .limit(let m): return "beyond the model's limits: \(m)"
        case .encode(let m): return "video encoding failed: \(m)"
        case .internalError(let m): return "internal error: \(m)"
        }
    }

    /// Maps any error of the layers below to a runtime error.
    public static func wrap(_ e: Error) -> RuntimeError {
        switch e {
        case let r as RuntimeError: return r
        case let v as VGPKError: return v.kind == .io ? .io("\(v)") : .badModel("\(v)")
        case ModelError.cancelled: return .aborted
        case let m as ModelError: return .invalidArgument("\(m)")
        case let t as TokenizerError:
            if case .invalidUTF8 = t { return .invalidUTF8("\(t)") }
            return .invalidArgument("\(t)")
        case VGError.allocationFailed(let b): return .outOfMemory("\(b) bytes")
        case let v as VGError: return .invalidArgument("\(v)")
        case let v as VideoError:
            if case .io = v { return .io("\(v)") }
            if case .invalidInput = v { return .invalidArgument("\(v)") }
            return .encode("\(v)")
        default: return .internalError("\(e)")
        }
    }
}

/// A packed model loaded for generation: weights (quantised linears run on the integer kernels),
/// tokenizer and sampler defaults. Read-only; contexts in several threads may share it.
public final class LoadedModel: @unchecked Sendable {
    public let dit: VideoDiT
    public let tokenizer: BPETokenizer
    public let sampler: SamplerDefaults
    /// A latent model's autoencoder and latent statistics (the DiT samples latents, the decoder turns
    /// them into frames); nil for a pixel model.
    public let codec: LatentCodec?
    public var config: ModelConfig { dit.config }
    /// Height and width of the frames the model makes, in pixels (the autoencoder's for a latent model).
    public var frameHeight: Int { codec?.autoencoder.config.height ?? config.height }
    public var frameWidth: Int { codec?.autoencoder.config.width ?? config.width }

    /// Loads and verifies a .vgpk file.
    /// - Parameters: threads decompress chunks in parallel; memoryBudget (bytes, 0 = none) refuses larger models.
    public init(path: String, threads: Int = 1, mapped: Bool = false, memoryBudget: UInt64 = 0) throws {
        do {
            let reader = try VGPKReader(contentsOf: URL(fileURLWithPath: path), mapped: mapped)
            let need = reader.header.tensors.reduce(UInt64(0)) { $0 + $1.chunks.reduce(UInt64(0)) { $0 + $1.rawSize } }
            if memoryBudget > 0 && need > memoryBudget {
                throw RuntimeError.limit("\(path): the model needs \(need) bytes, the budget is \(memoryBudget)")
            }
            guard let tj = reader.header.metadata.tokenizer else { throw RuntimeError.badModel("\(path): no tokenizer in the model") }
            tokenizer = try BPETokenizer(jsonString: tj)
            let pool = threads > 1 ? try ThreadPool(threads: threads) : nil
            dit = try VideoDiT(weights: try reader.modelWeights(pool: pool))
            codec = try reader.latentCodec()
            // A file without sampler defaults samples on the grid its model was trained for.
            sampler = reader.header.metadata.sampler ?? SamplerDefaults(shift: dit.config.samplingShift)
        } catch { throw RuntimeError.wrap(error) }
    }
}

/// Options of one generation.
public struct GenerationOptions: Sendable {
    public var seed: UInt64 = 0
    /// Euler steps; nil = the model's default.
    public var steps: Int?
    /// Guidance weight; nil = the model's default.
    public var guidance: Float?
    /// Frames to return; nil = all the model makes.
    public var frames: Int?
    public var fps: Int = 8
    public init() {}
}

/// A generated clip: RGB24 frames.
public struct GeneratedVideo: Sendable {
    public var frames: VideoFrames
}

/// Generates videos from prompts with one loaded model: the Swift API of libvgrt (the C ABI in
/// Include/vgrt.h wraps the same object). One generation at a time per generator; make one per
/// thread (they may share a `LoadedModel`).
public final class VideoGenerator: @unchecked Sendable {
    public let model: LoadedModel
    public let context: ComputeContext
    let stopFlag = Atomic<Bool>(false)

    /// - Parameters: threads of the compute context (1...256).
    public init(model: LoadedModel, threads: Int = 1) throws {
        self.model = model
        do { context = try ComputeContext(threads: threads) } catch { throw RuntimeError.wrap(error) }
    }

    /// Loads the model at `path` and makes a generator for it.
    public convenience init(modelAt path: String, threads: Int = 1) throws {
        try self.init(model: try LoadedModel(path: path, threads: threads), threads: threads)
    }

    /// Asks a running `generate` to stop (thread-safe); it throws `RuntimeError.aborted` within one block.
    public func cancel() { stopFlag.store(true, ordering: .releasing) }

    /// Generates a clip for a prompt given as UTF-8 bytes (validated).
    /// - Parameters:
    ///   - progress: after each step (step, total, elapsed seconds); return false to stop.
    ///   - preview: after each step, the current clean-clip prediction as RGB24 frames.
    public func generate(promptUTF8 bytes: [UInt8], options: GenerationOptions,
                         progress: ((Int, Int, Double) -> Bool)? = nil,
                         preview: ((Int, VideoFrames) -> Void)? = nil) throws -> GeneratedVideo {
        stopFlag.store(false, ordering: .relaxed)
        let c = model.config
        let steps = options.steps ?? model.sampler.steps
        let guidance = options.guidance ?? model.sampler.guidance
        let frames = options.frames ?? c.frames
        guard (1...1000).contains(steps) else { throw RuntimeError.invalidArgument("steps \(steps) outside 1...1000") }
        guard guidance.isFinite, (0...100).contains(guidance) else { throw RuntimeError.invalidArgument("guidance \(guidance) outside 0...100") }
        guard (1...c.frames).contains(frames) else { throw RuntimeError.limit("\(frames) frames; this model makes 1...\(c.frames)") }
        guard (1...240).contains(options.fps) else { throw RuntimeError.invalidArgument("fps \(options.fps) outside 1...240") }
        guard bytes.count <= 1 << 20 else { throw RuntimeError.invalidArgument("prompt of \(bytes.count) bytes; the limit is 1 MiB") }
        do {
            let tokens = try model.tokenizer.encode(utf8: bytes, maxLength: c.maxTextTokens, addBos: true, addEos: true)
            let empty: [Int32] = [BPETokenizer.bosID, BPETokenizer.eosID]
            let sampler = try FlowSampler(model: model.dit, context: context, prompt: tokens, empty: empty,
                                          options: .init(steps: steps, guidance: guidance, shift: model.sampler.shift, seed: options.seed),
                                          shouldStop: { [self] in self.stopFlag.load(ordering: .acquiring) })
            let start = Date()
            var it = sampler.makeIterator()
            var last: Tensor?
            while let step = it.next() {
                last = step.clip
                if let preview { preview(step.index, try rgb(step.predicted, frames: c.frames, fps: options.fps)) }
                if let progress, !progress(step.index, step.total, Date().timeIntervalSince(start)) { throw RuntimeError.aborted }
                if stopFlag.load(ordering: .acquiring) { throw RuntimeError.aborted }
            }
            if let e = it.error { throw e }
            guard let clip = last else { throw RuntimeError.internalError("the sampler produced no step") }
            return GeneratedVideo(frames: try rgb(clip, frames: frames, fps: options.fps))
        } catch { throw RuntimeError.wrap(error) }
    }

    /// Generates a clip for a Swift string prompt.
    public func generate(prompt: String, options: GenerationOptions = GenerationOptions(),
                         progress: ((Int, Int, Double) -> Bool)? = nil) throws -> GeneratedVideo {
        try generate(promptUTF8: Array(prompt.utf8), options: options, progress: progress)
    }

    /// The async form: cancelling the Task cancels the generation (checked between model blocks).
    public func generate(prompt: String, options: GenerationOptions = GenerationOptions()) async throws -> GeneratedVideo {
        try await withTaskCancellationHandler {
            try generate(prompt: prompt, options: options)
        } onCancel: { [self] in cancel() }
    }

    /// Rewrites a short prompt into the detailed form: needs a model with a prompt enhancer, which no
    /// shipped model has yet, so this throws `.unsupported`.
    public func enhance(prompt: String) throws -> String {
        throw RuntimeError.unsupported("this model has no prompt enhancer")
    }

    /// The sampler's clip (`[F, H, W, 3]` in [-1, 1], or a latent model's `[F, h, w, C]`, decoded
    /// first) -> RGB24 bytes of the first `frames` frames.
    func rgb(_ clip: Tensor, frames: Int, fps: Int) throws -> VideoFrames {
        let px = try model.codec.map { try $0.decode(context, latents: clip) } ?? clip
        guard px.shape.count == 4, px.shape[3] == 3 else { throw RuntimeError.internalError("the clip is \(px.shape), not [F, H, W, 3]") }
        let h = px.shape[1], w = px.shape[2], n = frames * h * w * 3
        let v = px.floats
        var out = [UInt8](repeating: 0, count: n)
        for i in 0..<n {
            let x = (v[i] + 1) * 127.5
            out[i] = UInt8(max(0, min(255, x.rounded())))
        }
        return VideoFrames(width: w, height: h, fps: fps, rgb: out)
    }
}

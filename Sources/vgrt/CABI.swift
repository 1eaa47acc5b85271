import CVGRT
import Foundation
import VGRuntime
import VGVideo

// The C ABI of Include/vgrt.h over VGRuntime. Every entry checks its arguments, catches every error
// and answers with a vg_status; nothing here traps or prints.

final class ModelBox {
    let model: LoadedModel
    init(_ m: LoadedModel) { model = m }
}

final class ContextBox {
    let modelBox: ModelBox
    let generator: VideoGenerator
    let params: vg_context_params
    var lastError: [CChar] = [0]
    init(_ m: ModelBox, _ g: VideoGenerator, _ p: vg_context_params) { modelBox = m; generator = g; params = p }

    func fail(_ status: vg_status, _ message: String) -> vg_status {
        lastError = Array(message.utf8CString)
        if let log = params.log { message.withCString { log(VG_LOG_ERROR, $0, params.user_data) } }
        return status
    }
}

final class VideoBox {
    let video: GeneratedVideo
    let bytes: UnsafeMutableBufferPointer<UInt8>
    var lastError: [CChar] = [0]
    init(_ v: GeneratedVideo) {
        video = v
        bytes = .allocate(capacity: max(1, v.frames.rgb.count))
        _ = bytes.initialize(from: v.frames.rgb)
    }
    deinit { bytes.deallocate() }
}

func box<T: AnyObject>(_ o: T) -> OpaquePointer { OpaquePointer(Unmanaged.passRetained(o).toOpaque()) }
func unbox<T: AnyObject>(_ p: OpaquePointer?, _: T.Type) -> T? {
    guard let p else { return nil }
    return Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).takeUnretainedValue()
}
func release<T: AnyObject>(_ p: OpaquePointer?, _: T.Type) {
    guard let p else { return }
    Unmanaged<T>.fromOpaque(UnsafeRawPointer(p)).release()
}

func status(_ e: RuntimeError) -> vg_status {
    switch e {
    case .invalidArgument: return VG_ERR_INVALID_ARGUMENT
    case .io: return VG_ERR_IO
    case .badModel: return VG_ERR_BAD_MODEL
    case .unsupported: return VG_ERR_UNSUPPORTED
    case .outOfMemory: return VG_ERR_OUT_OF_MEMORY
    case .aborted: return VG_ERR_ABORTED
    case .invalidUTF8: return VG_ERR_INVALID_UTF8
    case .limit: return VG_ERR_LIMIT
    case .encode: return VG_ERR_ENCODE
    case .internalError: return VG_ERR_INTERNAL
    }
}

/// Copies a message into a caller's buffer (truncated, always NUL-terminated when size > 0).
func copyMessage(_ m: String, _ buf: UnsafeMutablePointer<CChar>?, _ size: Int) {
    guard let buf, size > 0 else { return }
    let bytes = Array(m.utf8.prefix(size - 1))
    for (i, b) in bytes.enumerated() { buf[i] = CChar(bitPattern: b) }
    buf[bytes.count] = 0
}

// MARK: model

@_cdecl("vg_model_load")
public func vg_model_load(_ path: UnsafePointer<CChar>?, _ params: UnsafePointer<vg_model_params>?, _ out: UnsafeMutablePointer<OpaquePointer?>?,
                          _ errorBuf: UnsafeMutablePointer<CChar>?, _ errorSize: Int) -> vg_status {
    out?.pointee = nil
    func fail(_ s: vg_status, _ m: String) -> vg_status { copyMessage(m, errorBuf, errorSize); return s }
    guard let out else { return fail(VG_ERR_INVALID_ARGUMENT, "vg_model_load: out is NULL") }
    guard let path else { return fail(VG_ERR_INVALID_ARGUMENT, "vg_model_load: path is NULL") }
    guard let p = String(validatingCString: path) else { return fail(VG_ERR_INVALID_UTF8, "vg_model_load: the path is not valid UTF-8") }
    let mp = params?.pointee ?? vg_model_default_params()
    guard (1...256).contains(mp.n_threads) else { return fail(VG_ERR_INVALID_ARGUMENT, "vg_model_load: n_threads \(mp.n_threads) outside 1...256") }
    do {
        let m = try LoadedModel(path: p, threads: Int(mp.n_threads), mapped: mp.use_mmap, memoryBudget: mp.memory_budget)
        out.pointee = box(ModelBox(m))
        return VG_OK
    } catch let e as RuntimeError {
        return fail(status(e), "\(e)")
    } catch {
        return fail(VG_ERR_INTERNAL, "\(error)")
    }
}

@_cdecl("vg_model_free")
public func vg_model_free(_ model: OpaquePointer?) { release(model, ModelBox.self) }

@_cdecl("vg_model_frames") public func vg_model_frames(_ m: OpaquePointer?) -> Int32 { Int32(unbox(m, ModelBox.self)?.model.config.frames ?? 0) }
@_cdecl("vg_model_width") public func vg_model_width(_ m: OpaquePointer?) -> Int32 { Int32(unbox(m, ModelBox.self)?.model.frameWidth ?? 0) }
@_cdecl("vg_model_height") public func vg_model_height(_ m: OpaquePointer?) -> Int32 { Int32(unbox(m, ModelBox.self)?.model.frameHeight ?? 0) }
@_cdecl("vg_model_default_steps") public func vg_model_default_steps(_ m: OpaquePointer?) -> Int32 { Int32(unbox(m, ModelBox.self)?.model.sampler.steps ?? 0) }

// MARK: context

@_cdecl("vg_context_new")
public func vg_context_new(_ model: OpaquePointer?, _ params: UnsafePointer<vg_context_params>?, _ out: UnsafeMutablePointer<OpaquePointer?>?) -> vg_status {
    out?.pointee = nil
    guard let out, let mb = unbox(model, ModelBox.self) else { return VG_ERR_INVALID_ARGUMENT }
    let cp = params?.pointee ?? vg_context_default_params()
    guard (1...256).contains(cp.n_threads) else { return VG_ERR_INVALID_ARGUMENT }
    do {
        out.pointee = box(ContextBox(mb, try VideoGenerator(model: mb.model, threads: Int(cp.n_threads)), cp))
        return VG_OK
    } catch let e as RuntimeError { return status(e) } catch { return VG_ERR_INTERNAL }
}

@_cdecl("vg_context_free")
public func vg_context_free(_ ctx: OpaquePointer?) { release(ctx, ContextBox.self) }

/// The message buffer lives in the context; valid until the next call on it.
@_cdecl("vg_last_error")
public func vg_last_error(_ ctx: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let c = unbox(ctx, ContextBox.self) else { return emptyCString }
    return c.lastError.withUnsafeBufferPointer { $0.baseAddress }
}

nonisolated(unsafe) let emptyCString: UnsafePointer<CChar> = {
    let p = UnsafeMutablePointer<CChar>.allocate(capacity: 1); p.pointee = 0; return UnsafePointer(p)
}()

@_cdecl("vg_cancel")
public func vg_cancel(_ ctx: OpaquePointer?) { unbox(ctx, ContextBox.self)?.generator.cancel() }

// MARK: generation

@_cdecl("vg_generate")
public func vg_generate(_ ctx: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ params: UnsafePointer<vg_generate_params>?,
                        _ out: UnsafeMutablePointer<OpaquePointer?>?) -> vg_status {
    out?.pointee = nil
    guard let c = unbox(ctx, ContextBox.self) else { return VG_ERR_INVALID_ARGUMENT }
    c.lastError = [0]
    guard let out else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: out is NULL") }
    guard let prompt else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: prompt is NULL") }
    let gp = params?.pointee ?? vg_generate_default_params()
    let cfg = c.modelBox.model.config, fw = c.modelBox.model.frameWidth, fh = c.modelBox.model.frameHeight
    // Limits first: nothing is allocated for a request the model cannot serve.
    if gp.width != 0 && Int(gp.width) != fw || gp.height != 0 && Int(gp.height) != fh {
        return c.fail(VG_ERR_LIMIT, "vg_generate: \(gp.width)x\(gp.height) requested; this model makes \(fw)x\(fh)")
    }
    guard gp.frames >= 0, Int(gp.frames) <= cfg.frames else {
        return c.fail(VG_ERR_LIMIT, "vg_generate: \(gp.frames) frames requested; this model makes 1...\(cfg.frames)")
    }
    guard gp.steps >= 0, gp.steps <= 1000 else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: steps \(gp.steps) outside 0...1000") }
    guard (1...240).contains(gp.fps) else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: fps \(gp.fps) outside 1...240") }
    guard gp.guidance.isNaN == false, gp.guidance <= 100 else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: guidance \(gp.guidance)") }
    let length = strnlen(prompt, (1 << 20) + 1)
    guard length <= 1 << 20 else { return c.fail(VG_ERR_INVALID_ARGUMENT, "vg_generate: the prompt is longer than 1 MiB") }
    let bytes = Array(UnsafeRawBufferPointer(start: prompt, count: length))
    var o = GenerationOptions()
    o.seed = gp.seed
    o.steps = gp.steps == 0 ? nil : Int(gp.steps)
    o.guidance = gp.guidance < 0 ? nil : gp.guidance
    o.frames = gp.frames == 0 ? nil : Int(gp.frames)
    o.fps = Int(gp.fps)
    let cp = c.params
    do {
        let video = try c.generator.generate(promptUTF8: bytes, options: o, progress: cp.progress.map { fn in
            { step, total, elapsed in fn(Int32(step), Int32(total), elapsed, cp.user_data) }
        }, preview: cp.preview.map { fn in
            { step, frames in frames.rgb.withUnsafeBufferPointer { fn(Int32(step), $0.baseAddress, Int32(frames.frameCount), Int32(frames.width), Int32(frames.height), cp.user_data) } }
        })
        out.pointee = box(VideoBox(video))
        return VG_OK
    } catch let e as RuntimeError {
        return c.fail(status(e), "\(e)")
    } catch {
        return c.fail(VG_ERR_INTERNAL, "\(error)")
    }
}

@_cdecl("vg_enhance_prompt")
public func vg_enhance_prompt(_ ctx: OpaquePointer?, _ prompt: UnsafePointer<CChar>?, _ buf: UnsafeMutablePointer<CChar>?, _ size: Int) -> Int64 {
    guard let c = unbox(ctx, ContextBox.self) else { return -Int64(VG_ERR_INVALID_ARGUMENT.rawValue) }
    guard let prompt else { return -Int64(c.fail(VG_ERR_INVALID_ARGUMENT, "vg_enhance_prompt: prompt is NULL").rawValue) }
    guard buf != nil || size == 0 else { return -Int64(c.fail(VG_ERR_INVALID_ARGUMENT, "vg_enhance_prompt: buf is NULL but buf_size is \(size)").rawValue) }
    guard let text = String(validatingCString: prompt) else { return -Int64(c.fail(VG_ERR_INVALID_UTF8, "vg_enhance_prompt: the prompt is not valid UTF-8").rawValue) }
    do {
        let result = try c.generator.enhance(prompt: text)
        copyMessage(result, buf, size)
        return Int64(result.utf8.count)
    } catch let e as RuntimeError {
        return -Int64(c.fail(status(e), "\(e)").rawValue)
    } catch {
        return -Int64(c.fail(VG_ERR_INTERNAL, "\(error)").rawValue)
    }
}

// MARK: videos

@_cdecl("vg_video_frame_count") public func vg_video_frame_count(_ v: OpaquePointer?) -> Int32 { Int32(unbox(v, VideoBox.self)?.video.frames.frameCount ?? 0) }
@_cdecl("vg_video_width") public func vg_video_width(_ v: OpaquePointer?) -> Int32 { Int32(unbox(v, VideoBox.self)?.video.frames.width ?? 0) }
@_cdecl("vg_video_height") public func vg_video_height(_ v: OpaquePointer?) -> Int32 { Int32(unbox(v, VideoBox.self)?.video.frames.height ?? 0) }
@_cdecl("vg_video_fps") public func vg_video_fps(_ v: OpaquePointer?) -> Int32 { Int32(unbox(v, VideoBox.self)?.video.frames.fps ?? 0) }
@_cdecl("vg_video_data") public func vg_video_data(_ v: OpaquePointer?) -> UnsafePointer<UInt8>? { unbox(v, VideoBox.self).map { UnsafePointer($0.bytes.baseAddress!) } }
@_cdecl("vg_video_data_size") public func vg_video_data_size(_ v: OpaquePointer?) -> Int { unbox(v, VideoBox.self)?.video.frames.rgb.count ?? 0 }

@_cdecl("vg_video_save")
public func vg_video_save(_ v: OpaquePointer?, _ path: UnsafePointer<CChar>?, _ options: UnsafePointer<vg_save_options>?) -> vg_status {
    guard let b = unbox(v, VideoBox.self) else { return VG_ERR_INVALID_ARGUMENT }
    func fail(_ s: vg_status, _ m: String) -> vg_status { b.lastError = Array(m.utf8CString); return s }
    b.lastError = [0]
    guard let path else { return fail(VG_ERR_INVALID_ARGUMENT, "vg_video_save: path is NULL") }
    guard let p = String(validatingCString: path) else { return fail(VG_ERR_INVALID_UTF8, "vg_video_save: the path is not valid UTF-8") }
    let o = options?.pointee ?? vg_save_default_options()
    let format: VideoFileFormat?
    switch o.format {
    case VG_FORMAT_AUTO: format = nil
    case VG_FORMAT_MP4: format = .mp4
    case VG_FORMAT_GIF: format = .gif
    case VG_FORMAT_PNG: format = .png
    case VG_FORMAT_Y4M: format = .y4m
    default: return fail(VG_ERR_INVALID_ARGUMENT, "vg_video_save: unknown format \(o.format.rawValue)")
    }
    do {
        try b.video.save(to: p, format: format, scale: Int(o.scale))
        return VG_OK
    } catch let e as RuntimeError {
        return fail(status(e), "\(e)")
    } catch {
        return fail(VG_ERR_INTERNAL, "\(error)")
    }
}

@_cdecl("vg_video_last_error")
public func vg_video_last_error(_ v: OpaquePointer?) -> UnsafePointer<CChar>? {
    guard let b = unbox(v, VideoBox.self) else { return emptyCString }
    return b.lastError.withUnsafeBufferPointer { $0.baseAddress }
}

@_cdecl("vg_video_free")
public func vg_video_free(_ v: OpaquePointer?) { release(v, VideoBox.self) }

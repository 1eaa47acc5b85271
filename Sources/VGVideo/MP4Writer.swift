#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import CFFmpeg

/// Streams RGB24 frames into an mp4 (or, with codec `.gif`, an animated GIF) file, one frame at a time (for a runtime that produces frames
/// progressively). The file appears at `path` only when `finish()` succeeds: until then it is a
/// temporary file beside it, removed if the writer is dropped unfinished.
///
/// yuv420p needs even sizes: an odd width or height is padded by repeating the last column / row.
public final class MP4Writer {
    /// Frame size as given to `append` (before padding).
    public let width: Int, height: Int
    /// Frames per second.
    public let fps: Int
    /// The encoder in use: "libx264" or "mpeg4".
    public let codecName: String
    /// Frames appended so far.
    public private(set) var frameCount = 0

    let path: String, tmp: String
    let encWidth: Int, encHeight: Int
    var fmt: UnsafeMutablePointer<AVFormatContext>?
    var ctx: UnsafeMutablePointer<AVCodecContext>?
    var stream: UnsafeMutablePointer<AVStream>?
    var yuv: UnsafeMutablePointer<AVFrame>?
    var rgbFrame: UnsafeMutablePointer<AVFrame>?
    var sws: OpaquePointer?
    var pkt: UnsafeMutablePointer<AVPacket>?
    var done = false

    /// Opens the encoder and the temporary output file.
    public init(path: String, width: Int, height: Int, fps: Int, codec: VideoCodecChoice = .auto, crf: Int = 18) throws {
        AV.silenced
        guard width >= 1, height >= 1, width <= 8192, height <= 8192, fps >= 1, fps <= 1000 else {
            throw VideoError.invalidInput("mp4 of \(width) x \(height) at \(fps) fps is out of range")
        }
        self.path = path
        self.tmp = AtomicFile.temporaryPath(for: path)
        self.width = width
        self.height = height
        self.fps = fps
        encWidth = width + (width & 1)
        encHeight = height + (height & 1)
        let encoder = try VideoIO.findEncoder(codec)
        codecName = String(cString: encoder.pointee.name)
        do { try open(encoder: encoder, crf: crf) } catch {
            close()
            unlink(tmp)
            throw error
        }
    }

    deinit {
        close()
        if !done { unlink(tmp) }
    }

    private var isGIF: Bool { codecName == "gif" }
    /// The encoder's input format: yuv420p for mp4, RGB 3-3-2 for GIF.
    private var encoderFormat: AVPixelFormat { isGIF ? AV_PIX_FMT_RGB8 : AV_PIX_FMT_YUV420P }

    private func open(encoder: UnsafePointer<AVCodec>, crf: Int) throws {
        try VideoError.check(avformat_alloc_output_context2(&fmt, nil, isGIF ? "gif" : "mp4", tmp), "avformat_alloc_output_context2")
        guard let fmt else { throw VideoError.ffmpeg(call: "avformat_alloc_output_context2", message: "no context") }
        guard let st = avformat_new_stream(fmt, nil) else { throw VideoError.ffmpeg(call: "avformat_new_stream", message: "out of memory") }
        stream = st
        ctx = avcodec_alloc_context3(encoder)
        guard let ctx else { throw VideoError.ffmpeg(call: "avcodec_alloc_context3", message: "out of memory") }
        ctx.pointee.width = Int32(encWidth)
        ctx.pointee.height = Int32(encHeight)
        ctx.pointee.pix_fmt = encoderFormat
        ctx.pointee.time_base = AVRational(num: 1, den: Int32(fps))
        ctx.pointee.framerate = AVRational(num: Int32(fps), den: 1)
        ctx.pointee.gop_size = 12
        ctx.pointee.max_b_frames = 0
        if codecName == "libx264" {
            av_opt_set(ctx.pointee.priv_data, "preset", "medium", 0)
            av_opt_set(ctx.pointee.priv_data, "crf", "\(max(0, min(51, crf)))", 0)
        } else if !isGIF {
            // MPEG-4 Part 2: fixed quantiser 3 (high quality).
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * 3
        }
        if (fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 {
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        try VideoError.check(avcodec_open2(ctx, encoder, nil), "avcodec_open2")
        try VideoError.check(avcodec_parameters_from_context(st.pointee.codecpar, ctx), "avcodec_parameters_from_context")
        st.pointee.time_base = ctx.pointee.time_base
        st.pointee.avg_frame_rate = ctx.pointee.framerate
        try VideoError.check(avio_open(&fmt.pointee.pb, tmp, AVIO_FLAG_WRITE), "avio_open")
        try VideoError.check(avformat_write_header(fmt, nil), "avformat_write_header")
        yuv = try AV.allocFrame(format: encoderFormat, width: encWidth, height: encHeight)
        rgbFrame = try AV.allocFrame(format: AV_PIX_FMT_RGB24, width: encWidth, height: encHeight)
        sws = sws_getContext(Int32(encWidth), Int32(encHeight), AV_PIX_FMT_RGB24, Int32(encWidth), Int32(encHeight),
                             encoderFormat, Int32(SWS_BICUBIC), nil, nil, nil)
        guard sws != nil else { throw VideoError.ffmpeg(call: "sws_getContext", message: "unsupported conversion") }
        pkt = av_packet_alloc()
        guard pkt != nil else { throw VideoError.ffmpeg(call: "av_packet_alloc", message: "out of memory") }
    }

    /// Frees every libav* object (idempotent).
    private func close() {
        if let f = fmt {
            if f.pointee.pb != nil { avio_closep(&f.pointee.pb) }
            avformat_free_context(f)
            fmt = nil
        }
        if ctx != nil { avcodec_free_context(&ctx) }
        if let f = yuv { AV.freeFrame(f); yuv = nil }
        if let f = rgbFrame { AV.freeFrame(f); rgbFrame = nil }
        if let s = sws { sws_freeContext(s); sws = nil }
        if pkt != nil { av_packet_free(&pkt) }
    }

    /// Encodes one frame of packed RGB24, `width * height * 3` bytes. // [H, W, 3]
    public func append(rgb: [UInt8]) throws {
        guard !done, let ctx, let yuv, let rgbFrame, let sws else { throw VideoError.invalidInput("the writer is finished") }
        guard rgb.count == width * height * 3 else {
            throw VideoError.invalidInput("a frame of \(width) x \(height) RGB24 is \(width * height * 3) bytes, got \(rgb.count)")
        }
        let padded = VideoIO.padEven(VideoFrames(width: width, height: height, fps: fps, rgb: rgb)).rgb
        padded.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { AV.fillRGB(rgbFrame, from: base, width: encWidth, height: encHeight) }
        }
        try VideoError.check(av_frame_make_writable(yuv), "av_frame_make_writable")
        let rows = AV.withPlanes(rgbFrame) { sd, ss in
            AV.withPlanes(yuv) { dd, ds in
                sd.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                    sws_scale(sws, src, ss, 0, Int32(encHeight), dd, ds)
                }
            }
        }
        guard rows == Int32(encHeight) else { throw VideoError.ffmpeg(call: "sws_scale", message: "converted \(rows) rows") }
        yuv.pointee.pts = Int64(frameCount)
        try VideoError.check(avcodec_send_frame(ctx, yuv), "avcodec_send_frame")
        try drain()
        frameCount += 1
    }

    /// Flushes the encoder, writes the trailer and renames the file into place.
    public func finish() throws {
        guard !done, let ctx, let fmt else { throw VideoError.invalidInput("the writer is finished") }
        guard frameCount > 0 else { throw VideoError.invalidInput("no frames were appended") }
        try VideoError.check(avcodec_send_frame(ctx, nil), "avcodec_send_frame(flush)")
        try drain()
        try VideoError.check(av_write_trailer(fmt), "av_write_trailer")
        close()
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            done = true
            throw VideoError.io("rename to \(path): \(String(cString: strerror(e)))")
        }
        done = true
    }

    private func drain() throws {
        guard let ctx, let fmt, let stream, let pkt else { return }
        while true {
            let r = avcodec_receive_packet(ctx, pkt)
            if r == vg_averror_eagain() || r == vg_averror_eof() { return }
            try VideoError.check(r, "avcodec_receive_packet")
            av_packet_rescale_ts(pkt, ctx.pointee.time_base, stream.pointee.time_base)
            pkt.pointee.stream_index = stream.pointee.index
            try VideoError.check(av_interleaved_write_frame(fmt, pkt), "av_interleaved_write_frame")
        }
    }
}

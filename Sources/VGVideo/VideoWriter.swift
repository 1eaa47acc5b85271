import CFFmpeg

/// Which video codec to write mp4 with.
public enum VideoCodecChoice: String, Sendable, CaseIterable {
    /// H.264 (libx264) when available, else MPEG-4 Part 2.
    case auto
    /// H.264 through libx264, yuv420p.
    case h264
    /// MPEG-4 Part 2 (FFmpeg's own encoder), yuv420p.
    case mpeg4
}

/// Video files out and in: mp4 (H.264 / MPEG-4), Y4M and PNG writers, and a decoding reader.
public enum VideoIO {
    /// Writes frames to an mp4 file atomically and returns the encoder's name (`libx264` or `mpeg4`).
    ///
    /// yuv420p needs even sizes: an odd width or height is padded by repeating the last column / row.
    /// `crf` is x264's constant rate factor (lower is better quality; 18 is visually lossless).
    @discardableResult
    public static func writeMP4(_ v: VideoFrames, to path: String, codec: VideoCodecChoice = .auto,
                                crf: Int = 18) throws -> String {
        AV.silenced
        try v.validate()
        let padded = padEven(v)
        let encoder = try findEncoder(codec)
        try AtomicFile.write(to: path) { tmp in try encodeMP4(padded, path: tmp, encoder: encoder, crf: crf) }
        return String(cString: encoder.pointee.name)
    }

    /// The encoder for a choice, or `encoderUnavailable`.
    static func findEncoder(_ c: VideoCodecChoice) throws -> UnsafePointer<AVCodec> {
        switch c {
        case .h264:
            if let e = avcodec_find_encoder_by_name("libx264") { return e }
        case .mpeg4:
            if let e = avcodec_find_encoder(AV_CODEC_ID_MPEG4) { return e }
        case .auto:
            if let e = avcodec_find_encoder_by_name("libx264") ?? avcodec_find_encoder(AV_CODEC_ID_MPEG4) { return e }
        }
        throw VideoError.encoderUnavailable("no \(c.rawValue) encoder in this libavcodec")
    }

    static func padEven(_ v: VideoFrames) -> VideoFrames {
        let w2 = v.width + (v.width & 1), h2 = v.height + (v.height & 1)
        if w2 == v.width, h2 == v.height { return v }
        var out = [UInt8](repeating: 0, count: v.frameCount * w2 * h2 * 3)
        for f in 0..<v.frameCount {
            for y in 0..<h2 {
                let sy = min(y, v.height - 1)
                for x in 0..<w2 {
                    let sx = min(x, v.width - 1)
                    let s = ((f * v.height + sy) * v.width + sx) * 3, d = ((f * h2 + y) * w2 + x) * 3
                    out[d] = v.rgb[s]; out[d + 1] = v.rgb[s + 1]; out[d + 2] = v.rgb[s + 2]
                }
            }
        }
        return VideoFrames(width: w2, height: h2, fps: v.fps, rgb: out)
    }

    static func encodeMP4(_ v: VideoFrames, path: String, encoder: UnsafePointer<AVCodec>, crf: Int) throws {
        var fmtOpt: UnsafeMutablePointer<AVFormatContext>?
        try VideoError.check(avformat_alloc_output_context2(&fmtOpt, nil, "mp4", path), "avformat_alloc_output_context2")
        guard let fmt = fmtOpt else { throw VideoError.ffmpeg(call: "avformat_alloc_output_context2", message: "no context") }
        defer {
            if fmt.pointee.pb != nil { avio_closep(&fmt.pointee.pb) }
            avformat_free_context(fmt)
        }
        guard let stream = avformat_new_stream(fmt, nil) else {
            throw VideoError.ffmpeg(call: "avformat_new_stream", message: "out of memory")
        }
        var ctxOpt = avcodec_alloc_context3(encoder)
        guard let ctx = ctxOpt else { throw VideoError.ffmpeg(call: "avcodec_alloc_context3", message: "out of memory") }
        defer { avcodec_free_context(&ctxOpt) }
        ctx.pointee.width = Int32(v.width)
        ctx.pointee.height = Int32(v.height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_YUV420P
        ctx.pointee.time_base = AVRational(num: 1, den: Int32(v.fps))
        ctx.pointee.framerate = AVRational(num: Int32(v.fps), den: 1)
        ctx.pointee.gop_size = 12
        ctx.pointee.max_b_frames = 0
        let isX264 = String(cString: encoder.pointee.name) == "libx264"
        if isX264 {
            av_opt_set(ctx.pointee.priv_data, "preset", "medium", 0)
            av_opt_set(ctx.pointee.priv_data, "crf", "\(max(0, min(51, crf)))", 0)
        } else {
            // MPEG-4 Part 2: fixed quantiser 3 (high quality).
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_QSCALE)
            ctx.pointee.global_quality = Int32(FF_QP2LAMBDA) * 3
        }
        if (fmt.pointee.oformat.pointee.flags & AVFMT_GLOBALHEADER) != 0 {
            ctx.pointee.flags |= Int32(AV_CODEC_FLAG_GLOBAL_HEADER)
        }
        try VideoError.check(avcodec_open2(ctx, encoder, nil), "avcodec_open2")
        try VideoError.check(avcodec_parameters_from_context(stream.pointee.codecpar, ctx), "avcodec_parameters_from_context")
        stream.pointee.time_base = ctx.pointee.time_base
        stream.pointee.avg_frame_rate = ctx.pointee.framerate
        try VideoError.check(avio_open(&fmt.pointee.pb, path, AVIO_FLAG_WRITE), "avio_open")
        try VideoError.check(avformat_write_header(fmt, nil), "avformat_write_header")

        let frame = try AV.allocFrame(format: AV_PIX_FMT_YUV420P, width: v.width, height: v.height)
        defer { AV.freeFrame(frame) }
        let rgbFrame = try AV.allocFrame(format: AV_PIX_FMT_RGB24, width: v.width, height: v.height)
        defer { AV.freeFrame(rgbFrame) }
        guard let sws = sws_getContext(Int32(v.width), Int32(v.height), AV_PIX_FMT_RGB24,
                                       Int32(v.width), Int32(v.height), AV_PIX_FMT_YUV420P,
                                       Int32(SWS_BICUBIC), nil, nil, nil) else {
            throw VideoError.ffmpeg(call: "sws_getContext", message: "unsupported conversion")
        }
        defer { sws_freeContext(sws) }
        guard var pktOpt = Optional(av_packet_alloc()), let pkt = pktOpt else {
            throw VideoError.ffmpeg(call: "av_packet_alloc", message: "out of memory")
        }
        defer { av_packet_free(&pktOpt) }

        func drain() throws {
            while true {
                let r = avcodec_receive_packet(ctx, pkt)
                if r == vg_averror_eagain() || r == vg_averror_eof() { return }
                try VideoError.check(r, "avcodec_receive_packet")
                av_packet_rescale_ts(pkt, ctx.pointee.time_base, stream.pointee.time_base)
                pkt.pointee.stream_index = stream.pointee.index
                try VideoError.check(av_interleaved_write_frame(fmt, pkt), "av_interleaved_write_frame")
            }
        }
        let plane = v.width * v.height * 3
        for i in 0..<v.frameCount {
            try VideoError.check(av_frame_make_writable(frame), "av_frame_make_writable")
            v.rgb.withUnsafeBufferPointer { b in
                if let base = b.baseAddress { AV.fillRGB(rgbFrame, from: base + i * plane, width: v.width, height: v.height) }
            }
            let r = AV.withPlanes(rgbFrame) { sd, ss in
                AV.withPlanes(frame) { dd, ds in
                    sd.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                        sws_scale(sws, src, ss, 0, Int32(v.height), dd, ds)
                    }
                }
            }
            guard r == Int32(v.height) else { throw VideoError.ffmpeg(call: "sws_scale", message: "converted \(r) rows") }
            frame.pointee.pts = Int64(i)
            try VideoError.check(avcodec_send_frame(ctx, frame), "avcodec_send_frame")
            try drain()
        }
        try VideoError.check(avcodec_send_frame(ctx, nil), "avcodec_send_frame(flush)")
        try drain()
        try VideoError.check(av_write_trailer(fmt), "av_write_trailer")
    }
}

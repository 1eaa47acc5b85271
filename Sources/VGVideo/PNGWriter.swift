import CFFmpeg

extension VideoIO {
    /// Encodes one RGB24 image `[H, W, 3]` as PNG bytes with libavcodec's png encoder.
    public static func pngData(rgb: [UInt8], width: Int, height: Int) throws -> [UInt8] {
        AV.silenced
        let v = VideoFrames(width: width, height: height, fps: 1, rgb: rgb)
        try v.validate()
        guard v.frameCount == 1 else { throw VideoError.invalidInput("a PNG holds one frame, got \(v.frameCount)") }
        guard let enc = avcodec_find_encoder(AV_CODEC_ID_PNG) else { throw VideoError.encoderUnavailable("png") }
        var ctxOpt = avcodec_alloc_context3(enc)
        guard let ctx = ctxOpt else { throw VideoError.ffmpeg(call: "avcodec_alloc_context3", message: "out of memory") }
        defer { avcodec_free_context(&ctxOpt) }
        ctx.pointee.width = Int32(width)
        ctx.pointee.height = Int32(height)
        ctx.pointee.pix_fmt = AV_PIX_FMT_RGB24
        ctx.pointee.time_base = AVRational(num: 1, den: 1)
        try VideoError.check(avcodec_open2(ctx, enc, nil), "avcodec_open2(png)")
        let frame = try AV.allocFrame(format: AV_PIX_FMT_RGB24, width: width, height: height)
        defer { AV.freeFrame(frame) }
        rgb.withUnsafeBufferPointer { b in
            if let base = b.baseAddress { AV.fillRGB(frame, from: base, width: width, height: height) }
        }
        frame.pointee.pts = 0
        guard var pktOpt = Optional(av_packet_alloc()), let pkt = pktOpt else {
            throw VideoError.ffmpeg(call: "av_packet_alloc", message: "out of memory")
        }
        defer { av_packet_free(&pktOpt) }
        try VideoError.check(avcodec_send_frame(ctx, frame), "avcodec_send_frame(png)")
        try VideoError.check(avcodec_send_frame(ctx, nil), "avcodec_send_frame(png flush)")
        var out: [UInt8] = []
        while true {
            let r = avcodec_receive_packet(ctx, pkt)
            if r == vg_averror_eagain() || r == vg_averror_eof() { break }
            try VideoError.check(r, "avcodec_receive_packet(png)")
            if let d = pkt.pointee.data { out += UnsafeBufferPointer(start: d, count: Int(pkt.pointee.size)) }
            av_packet_unref(pkt)
        }
        guard !out.isEmpty else { throw VideoError.ffmpeg(call: "png encoder", message: "no packet") }
        return out
    }

    /// Writes one RGB24 image `[H, W, 3]` to a PNG file atomically.
    public static func writePNG(rgb: [UInt8], width: Int, height: Int, to path: String) throws {
        try AtomicFile.write(try pngData(rgb: rgb, width: width, height: height), to: path)
    }
}

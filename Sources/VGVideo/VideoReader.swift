import CFFmpeg

extension VideoIO {
    /// The most frames decoded from one file before sampling (longer files are sampled from their
    /// first `maxDecodedFrames` frames, or fewer when `maxDecodedBytes` is reached first), which
    /// bounds memory for long inputs.
    public static let maxDecodedFrames = 20_000
    /// The most bytes of converted frames kept before sampling (1 GiB); decoding stops there.
    public static let maxDecodedBytes = 1 << 30

    /// Reads a video file: decodes it with libavformat / libavcodec, converts and resizes every frame
    /// to `width x height` RGB24 with libswscale (bilinear / area), and samples `frames` frames evenly
    /// (frame `round(i * (n - 1) / (frames - 1))` of the `n` decoded). A file with fewer frames than
    /// asked repeats frames. Throws `unreadable` for a missing, corrupt or frameless file.
    public static func read(path: String, width: Int, height: Int, frames: Int) throws -> VideoFrames {
        AV.silenced
        guard width >= 1, height >= 1, width <= 8192, height <= 8192, frames >= 1, frames <= 100_000 else {
            throw VideoError.invalidInput("read size \(width) x \(height) x \(frames) out of range")
        }
        guard frames * width * height * 3 <= maxDecodedBytes else {
            throw VideoError.invalidInput("\(frames) frames of \(width) x \(height) exceed \(maxDecodedBytes) bytes")
        }
        var fmtOpt: UnsafeMutablePointer<AVFormatContext>?
        let openCode = avformat_open_input(&fmtOpt, path, nil, nil)
        guard openCode >= 0, let fmt = fmtOpt else {
            throw VideoError.unreadable(path: path, reason: avErrorString(openCode))
        }
        defer { avformat_close_input(&fmtOpt) }
        let infoCode = avformat_find_stream_info(fmt, nil)
        guard infoCode >= 0 else { throw VideoError.unreadable(path: path, reason: avErrorString(infoCode)) }
        var decoder: UnsafePointer<AVCodec>?
        let si = av_find_best_stream(fmt, AVMEDIA_TYPE_VIDEO, -1, -1, &decoder, 0)
        guard si >= 0, let dec = decoder, let streams = fmt.pointee.streams, let stream = streams[Int(si)] else {
            throw VideoError.unreadable(path: path, reason: "no decodable video stream")
        }
        var ctxOpt = avcodec_alloc_context3(dec)
        guard let ctx = ctxOpt else { throw VideoError.ffmpeg(call: "avcodec_alloc_context3", message: "out of memory") }
        defer { avcodec_free_context(&ctxOpt) }
        try VideoError.check(avcodec_parameters_to_context(ctx, stream.pointee.codecpar), "avcodec_parameters_to_context")
        let openDec = avcodec_open2(ctx, dec, nil)
        guard openDec >= 0 else { throw VideoError.unreadable(path: path, reason: "decoder: \(avErrorString(openDec))") }

        guard var pktOpt = Optional(av_packet_alloc()), let pkt = pktOpt else {
            throw VideoError.ffmpeg(call: "av_packet_alloc", message: "out of memory")
        }
        defer { av_packet_free(&pktOpt) }
        guard var frOpt = Optional(av_frame_alloc()), let frame = frOpt else {
            throw VideoError.ffmpeg(call: "av_frame_alloc", message: "out of memory")
        }
        defer { av_frame_free(&frOpt) }
        let out = try AV.allocFrame(format: AV_PIX_FMT_RGB24, width: width, height: height)
        defer { AV.freeFrame(out) }

        var sws: OpaquePointer?
        defer { if let s = sws { sws_freeContext(s) } }
        var decoded: [UInt8] = []
        var count = 0
        let plane = width * height * 3
        let frameCap = max(1, min(maxDecodedFrames, maxDecodedBytes / plane))

        func convert() throws {
            let sw = frame.pointee.width, sh = frame.pointee.height
            guard sw > 0, sh > 0, let fmtPix = Optional(AVPixelFormat(rawValue: frame.pointee.format)) else { return }
            sws = sws_getCachedContext(sws, sw, sh, fmtPix, Int32(width), Int32(height), AV_PIX_FMT_RGB24,
                                       Int32(SWS_AREA), nil, nil, nil)
            guard let s = sws else { throw VideoError.unreadable(path: path, reason: "cannot convert pixel format") }
            let rows = AV.withPlanes(frame) { sd, ss in
                AV.withPlanes(out) { dd, ds in
                    sd.withMemoryRebound(to: UnsafePointer<UInt8>?.self, capacity: 8) { src in
                        sws_scale(s, src, ss, 0, sh, dd, ds)
                    }
                }
            }
            guard rows == Int32(height) else { throw VideoError.unreadable(path: path, reason: "scaling failed") }
            let start = decoded.count
            decoded += [UInt8](repeating: 0, count: plane)
            AV.withPlanes(out) { dd, ds in
                guard let src = dd[0] else { return }
                let stride = Int(ds[0])
                decoded.withUnsafeMutableBufferPointer { b in
                    guard let base = b.baseAddress else { return }
                    for y in 0..<height { (base + start + y * width * 3).update(from: src + y * stride, count: width * 3) }
                }
            }
            count += 1
        }
        func receive() throws -> Bool {
            while count < frameCap {
                let r = avcodec_receive_frame(ctx, frame)
                if r == vg_averror_eagain() { return true }
                if r == vg_averror_eof() { return false }
                guard r >= 0 else { throw VideoError.unreadable(path: path, reason: "decode: \(avErrorString(r))") }
                try convert()
                av_frame_unref(frame)
            }
            return false
        }
        var more = true
        while more, count < frameCap {
            let r = av_read_frame(fmt, pkt)
            if r < 0 { break }
            if pkt.pointee.stream_index == si {
                let s = avcodec_send_packet(ctx, pkt)
                av_packet_unref(pkt)
                // A corrupt packet is skipped; decoding goes on with the next.
                if s < 0 && s != vg_averror_eagain() { continue }
                more = try receive()
            } else {
                av_packet_unref(pkt)
            }
        }
        if count < frameCap {
            _ = avcodec_send_packet(ctx, nil)
            _ = try receive()
        }
        guard count > 0 else { throw VideoError.unreadable(path: path, reason: "no frames decoded") }
        var sampled = [UInt8](repeating: 0, count: frames * plane)
        for i in 0..<frames {
            let src = frames == 1 ? 0 : Int((Double(i) * Double(count - 1) / Double(frames - 1)).rounded())
            sampled.replaceSubrange(i * plane..<(i + 1) * plane, with: decoded[src * plane..<(src + 1) * plane])
        }
        let rate = stream.pointee.avg_frame_rate
        let fps = rate.den > 0 && rate.num > 0 ? max(1, Int((Double(rate.num) / Double(rate.den)).rounded())) : 8
        return VideoFrames(width: width, height: height, fps: fps, rgb: sampled)
    }
}

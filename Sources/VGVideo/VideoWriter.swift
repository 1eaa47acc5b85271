import CFFmpeg

/// Which video codec to write mp4 with.
public enum VideoCodecChoice: String, Sendable, CaseIterable {
    /// H.264 (libx264) when available, else MPEG-4 Part 2.
    case auto
    /// H.264 through libx264, yuv420p.
    case h264
    /// MPEG-4 Part 2 (FFmpeg's own encoder), yuv420p.
    case mpeg4
    /// Animated GIF (FFmpeg's gif encoder in a gif container), RGB 3-3-2 palette.
    case gif
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
        try v.validate()
        let w = try MP4Writer(path: path, width: v.width, height: v.height, fps: v.fps, codec: codec, crf: crf)
        let plane = v.width * v.height * 3
        for i in 0..<v.frameCount { try w.append(rgb: Array(v.rgb[i * plane..<(i + 1) * plane])) }
        try w.finish()
        return w.codecName
    }

    /// Writes frames to an animated GIF atomically (libavcodec's gif encoder; colours reduced to
    /// the RGB 3-3-2 palette by libswscale, with its default dithering).
    public static func writeGIF(_ v: VideoFrames, to path: String) throws {
        try v.validate()
        let w = try MP4Writer(path: path, width: v.width, height: v.height, fps: v.fps, codec: .gif)
        let plane = v.width * v.height * 3
        for i in 0..<v.frameCount { try w.append(rgb: Array(v.rgb[i * plane..<(i + 1) * plane])) }
        try w.finish()
    }

    /// The encoder for a choice, or `encoderUnavailable`.
    static func findEncoder(_ c: VideoCodecChoice) throws -> UnsafePointer<AVCodec> {
        switch c {
        case .gif:
            if let e = avcodec_find_encoder(AV_CODEC_ID_GIF) { return e }
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
}

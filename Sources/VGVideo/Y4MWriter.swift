/// YUV4MPEG2 (Y4M) output: uncompressed 4:4:4, BT.601 limited range, readable by ffmpeg and players.
extension VideoIO {
    /// Encodes frames as a Y4M byte stream (header, then `FRAME` + Y, U, V planes per frame).
    public static func y4mData(_ v: VideoFrames) throws -> [UInt8] {
        try v.validate()
        let (w, h) = (v.width, v.height)
        var out = Array("YUV4MPEG2 W\(w) H\(h) F\(v.fps):1 Ip A1:1 C444\n".utf8)
        out.reserveCapacity(out.count + v.frameCount * (6 + w * h * 3))
        var y = [UInt8](repeating: 0, count: w * h), u = y, vv = y
        for f in 0..<v.frameCount {
            let base = f * w * h * 3
            for p in 0..<(w * h) {
                let r = Float(v.rgb[base + p * 3]) / 255, g = Float(v.rgb[base + p * 3 + 1]) / 255
                let b = Float(v.rgb[base + p * 3 + 2]) / 255
                y[p] = clampByte(16 + 65.481 * r + 128.553 * g + 24.966 * b)
                u[p] = clampByte(128 - 37.797 * r - 74.203 * g + 112.0 * b)
                vv[p] = clampByte(128 + 112.0 * r - 93.786 * g - 18.214 * b)
            }
            out += Array("FRAME\n".utf8)
            out += y
            out += u
            out += vv
        }
        return out
    }

    /// Writes frames to a `.y4m` file atomically.
    public static func writeY4M(_ v: VideoFrames, to path: String) throws {
        try AtomicFile.write(try y4mData(v), to: path)
    }

    @inline(__always) static func clampByte(_ x: Float) -> UInt8 { UInt8(min(max(x + 0.5, 0), 255)) }
}

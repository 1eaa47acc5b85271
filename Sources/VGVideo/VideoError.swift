import CFFmpeg

/// Errors of video input and output. The library never prints and never traps: every failure of
/// FFmpeg or the file system comes back as one of these.
public enum VideoError: Error, Equatable, CustomStringConvertible {
    /// Frames that do not match their stated geometry, or an unusable size / rate.
    case invalidInput(String)
    /// No encoder for the requested format is available in this libavcodec.
    case encoderUnavailable(String)
    /// The file could not be opened or has no decodable video stream.
    case unreadable(path: String, reason: String)
    /// A libav* call failed.
    case ffmpeg(call: String, message: String)
    /// A file-system operation failed.
    case io(String)

    public var description: String {
        switch self {
        case .invalidInput(let m): return "invalid video input: \(m)"
        case .encoderUnavailable(let m): return "encoder unavailable: \(m)"
        case .unreadable(let p, let r): return "cannot read video \(p): \(r)"
        case .ffmpeg(let c, let m): return "\(c) failed: \(m)"
        case .io(let m): return "I/O error: \(m)"
        }
    }

    /// Wraps a negative libav* return code.
    static func check(_ code: Int32, _ call: String) throws {
        if code < 0 { throw VideoError.ffmpeg(call: call, message: avErrorString(code)) }
    }
}

/// FFmpeg's message for an error code.
func avErrorString(_ code: Int32) -> String {
    var buf = [CChar](repeating: 0, count: 256)
    _ = av_strerror(code, &buf, buf.count)
    let bytes = buf.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
    return String(decoding: bytes, as: UTF8.self) + " (\(code))"
}

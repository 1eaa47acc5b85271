import CFFmpeg

/// Small bridges over FFmpeg structs whose fixed-size C arrays import as Swift tuples.
enum AV {
    /// FFmpeg and libx264 log to stderr through av_log by default; a library must not print, so the
    /// first use of VGVideo lowers the process-wide av_log level to errors-never (AV_LOG_QUIET).
    /// Failures still come back as typed `VideoError`s with FFmpeg's message.
    static let silenced: Void = { av_log_set_level(AV_LOG_QUIET) }()

    /// Calls `body` with the frame's 8 plane pointers and 8 line sizes as C arrays.
    static func withPlanes<T>(_ frame: UnsafeMutablePointer<AVFrame>,
                              _ body: (UnsafeMutablePointer<UnsafeMutablePointer<UInt8>?>, UnsafeMutablePointer<Int32>) throws -> T) rethrows -> T {
        try withUnsafeMutablePointer(to: &frame.pointee.data) { dp in
            try dp.withMemoryRebound(to: UnsafeMutablePointer<UInt8>?.self, capacity: 8) { data in
                try withUnsafeMutablePointer(to: &frame.pointee.linesize) { lp in
                    try lp.withMemoryRebound(to: Int32.self, capacity: 8) { ls in try body(data, ls) }
                }
            }
        }
    }

    /// Allocates a frame with its own buffers.
    static func allocFrame(format: AVPixelFormat, width: Int, height: Int) throws -> UnsafeMutablePointer<AVFrame> {
        guard let f = av_frame_alloc() else { throw VideoError.ffmpeg(call: "av_frame_alloc", message: "out of memory") }
        f.pointee.format = format.rawValue
        f.pointee.width = Int32(width)
        f.pointee.height = Int32(height)
        let r = av_frame_get_buffer(f, 0)
        if r < 0 {
            var p: UnsafeMutablePointer<AVFrame>? = f
            av_frame_free(&p)
            throw VideoError.ffmpeg(call: "av_frame_get_buffer", message: avErrorString(r))
        }
        return f
    }

    static func freeFrame(_ f: UnsafeMutablePointer<AVFrame>) {
        var p: UnsafeMutablePointer<AVFrame>? = f
        av_frame_free(&p)
    }

    /// Copies packed RGB24 rows (`width * 3` bytes each) into a frame, respecting its line size.
    static func fillRGB(_ frame: UnsafeMutablePointer<AVFrame>, from rgb: UnsafePointer<UInt8>, width: Int, height: Int) {
        withPlanes(frame) { data, ls in
            guard let dst = data[0] else { return }
            let stride = Int(ls[0])
            for y in 0..<height { (dst + y * stride).update(from: rgb + y * width * 3, count: width * 3) }
        }
    }
}

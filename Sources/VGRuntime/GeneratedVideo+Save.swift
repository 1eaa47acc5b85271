import Foundation
import VGVideo

/// Containers a generated video can be written to.
public enum VideoFileFormat: String, Sendable, CaseIterable {
    case mp4, gif, png, y4m

    /// The format a path's extension names, or nil.
    public init?(path: String) {
        switch URL(fileURLWithPath: path).pathExtension.lowercased() {
        case "mp4", "m4v": self = .mp4
        case "gif": self = .gif
        case "png": self = .png
        case "y4m": self = .y4m
        default: return nil
        }
    }
}

extension GeneratedVideo {
    /// Writes the video; each file appears under its final name only when complete.
    /// - Parameters:
    ///   - format: nil = from the extension.
    ///   - scale: integer nearest-neighbour upscaling, 1...16.
    ///   PNG writes one file per frame: "x.png" gives x-0000.png, x-0001.png, ...
    public func save(to path: String, format: VideoFileFormat? = nil, scale: Int = 1) throws {
        guard !path.isEmpty else { throw RuntimeError.invalidArgument("empty path") }
        guard (1...16).contains(scale) else { throw RuntimeError.invalidArgument("scale \(scale) outside 1...16") }
        guard let f = format ?? VideoFileFormat(path: path) else {
            throw RuntimeError.invalidArgument("cannot tell the format of \(path) (use .mp4, .gif, .png, .y4m)")
        }
        let v = scale == 1 ? frames : upscaled(scale)
        do {
            switch f {
            case .mp4: try VideoIO.writeMP4(v, to: path)
            case .y4m: try VideoIO.writeY4M(v, to: path)
            case .gif: try VideoIO.writeGIF(v, to: path)
            case .png:
                let base = (path as NSString).deletingPathExtension
                let n = v.width * v.height * 3
                for i in 0..<v.frameCount {
                    try VideoIO.writePNG(rgb: Array(v.rgb[(i * n)..<((i + 1) * n)]), width: v.width, height: v.height,
                                         to: base + String(format: "-%04d.png", i))
                }
            }
        } catch { throw RuntimeError.wrap(error) }
    }

    func upscaled(_ s: Int) -> VideoFrames {
        let w = frames.width, h = frames.height, n = frames.frameCount
        var out = [UInt8](repeating: 0, count: n * w * s * h * s * 3)
        for f in 0..<n { for y in 0..<(h * s) { for x in 0..<(w * s) {
            let src = ((f * h + y / s) * w + x / s) * 3, dst = ((f * h * s + y) * w * s + x) * 3
            out[dst] = frames.rgb[src]; out[dst + 1] = frames.rgb[src + 1]; out[dst + 2] = frames.rgb[src + 2]
        } } }
        return VideoFrames(width: w * s, height: h * s, fps: frames.fps, rgb: out)
    }
}

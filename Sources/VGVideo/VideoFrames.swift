/// Frames of 8-bit RGB (RGB24): the in-memory video that VGVideo writes and reads.
public struct VideoFrames: Sendable, Equatable {
    /// Frame width in pixels.
    public var width: Int
    /// Frame height in pixels.
    public var height: Int
    /// Frames per second.
    public var fps: Int
    /// Pixel bytes, R G B per pixel. // [F, H, W, 3]
    public var rgb: [UInt8]

    /// Number of frames (`rgb.count / (H * W * 3)`).
    public var frameCount: Int { width > 0 && height > 0 ? rgb.count / (width * height * 3) : 0 }

    public init(width: Int, height: Int, fps: Int, rgb: [UInt8]) {
        self.width = width
        self.height = height
        self.fps = fps
        self.rgb = rgb
    }

    /// Throws `invalidInput` unless sizes are positive, bounded and `rgb` holds whole frames.
    public func validate() throws {
        guard width >= 1, height >= 1, width <= 8192, height <= 8192 else {
            throw VideoError.invalidInput("frame size \(width) x \(height) outside 1...8192")
        }
        guard fps >= 1, fps <= 1000 else { throw VideoError.invalidInput("fps \(fps) outside 1...1000") }
        let plane = width * height * 3
        guard !rgb.isEmpty, rgb.count % plane == 0 else {
            throw VideoError.invalidInput("\(rgb.count) bytes is not a whole number of \(width) x \(height) RGB frames")
        }
    }

    /// One frame's bytes. // [H, W, 3]
    public func frame(_ i: Int) -> ArraySlice<UInt8> {
        let plane = width * height * 3
        return rgb[i * plane..<(i + 1) * plane]
    }
}

/// The captions of one clip at the three levels ShapeWorld writes.
public struct CaptionSet: Codable, Hashable, Sendable {
    /// Every attribute, in full sentences (what SFT trains on).
    public var detailed: String
    /// What a person types: lower case, typos, dropped attributes.
    public var terse: String
    /// Web-style alt text: boilerplate, missing and sometimes wrong attributes (pretraining mix).
    public var web: String
    public init(detailed: String, terse: String, web: String) {
        self.detailed = detailed
        self.terse = terse
        self.web = web
    }
    /// One caption used at every level (for real videos from a manifest).
    public init(all caption: String) { self.init(detailed: caption, terse: caption, web: caption) }
}

/// A video clip as the models see it: frames as Float32 in [0, 1], with its spec and captions.
///
/// Layout: `frames` is `[F, H, W, 3]`, row-major, channel last.
public struct Clip: Sendable {
    /// Pixel values in [0, 1]. // [F, H, W, 3]
    public var frames: [Float]
    /// F, H, W and fps.
    public var config: RenderConfig
    /// The scene, when the clip was rendered (nil for real videos).
    public var spec: SceneSpec?
    /// Captions at three levels.
    public var captions: CaptionSet
    /// The seed the clip was made with (0 for real videos).
    public var seed: UInt64

    public init(frames: [Float], config: RenderConfig, spec: SceneSpec?, captions: CaptionSet, seed: UInt64) {
        self.frames = frames
        self.config = config
        self.spec = spec
        self.captions = captions
        self.seed = seed
    }

    /// Number of floats a clip of this geometry holds.
    public static func elementCount(_ c: RenderConfig) -> Int { c.frames * c.height * c.width * 3 }

    /// The frames as 8-bit RGB24 (rounded, clamped). // [F, H, W, 3]
    public func rgb24() -> [UInt8] { Clip.rgb24(frames) }

    /// Converts [0, 1] floats to 8-bit values (rounded, clamped; NaN becomes 0).
    public static func rgb24(_ values: [Float]) -> [UInt8] {
        var out = [UInt8](repeating: 0, count: values.count)
        values.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count {
                    let x = src[i]
                    // NaN (a diverged model) becomes 0; `!(x > 0)` is true for NaN and for x <= 0.
                    dst[i] = !(x > 0) ? 0 : (x >= 1 ? 255 : UInt8(x * 255 + 0.5))
                }
            }
        }
        return out
    }

    /// Converts 8-bit values to [0, 1] floats.
    public static func floats(_ bytes: [UInt8]) -> [Float] {
        var out = [Float](repeating: 0, count: bytes.count)
        bytes.withUnsafeBufferPointer { src in
            out.withUnsafeMutableBufferPointer { dst in
                for i in 0..<src.count { dst[i] = Float(src[i]) * (1.0 / 255.0) }
            }
        }
        return out
    }
}

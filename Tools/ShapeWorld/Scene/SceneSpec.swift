/// The scene description: what a clip shows. Every attribute has a closed vocabulary so that
/// captions can be generated from it and ShapeBench can check a video against it.
///
/// Units: positions are fractions of the frame (x right, y down, both in [0, 1]); sizes and motion
/// lengths are in "min-dim units", fractions of `min(H, W)`, so a circle stays round at any aspect.

/// The shape of one object.
public enum ShapeKind: String, Codable, CaseIterable, Sendable {
    case circle, square, triangle, ring, star

    /// Round shapes look the same at every rotation, so they are never given the `rotate` motion.
    public var isRound: Bool { self == .circle || self == .ring }
}

/// A named object colour (8 of them), chosen far apart in RGB and far from every background.
public enum ColorName: String, Codable, CaseIterable, Sendable {
    case red, green, blue, yellow, orange, purple, cyan, pink

    /// Linear RGB in [0, 1].
    public var rgb: SIMD3<Float> {
        switch self {
        case .red: return SIMD3(0.90, 0.12, 0.12)
        case .green: return SIMD3(0.15, 0.72, 0.20)
        case .blue: return SIMD3(0.15, 0.30, 0.95)
        case .yellow: return SIMD3(0.96, 0.86, 0.10)
        case .orange: return SIMD3(1.00, 0.55, 0.05)
        case .purple: return SIMD3(0.58, 0.20, 0.80)
        case .cyan: return SIMD3(0.10, 0.82, 0.86)
        case .pink: return SIMD3(1.00, 0.45, 0.72)
        }
    }
}

/// The size class of an object: its circumradius in min-dim units.
public enum SizeClass: String, Codable, CaseIterable, Sendable {
    case small, medium, large

    /// Circumradius as a fraction of `min(H, W)` (5.1 / 7.7 / 10.9 px at 64 x 64).
    public var radius: Float {
        switch self {
        case .small: return 0.08
        case .medium: return 0.12
        case .large: return 0.17
        }
    }
}

/// How an object moves during the clip.
public enum Motion: String, Codable, CaseIterable, Sendable {
    case `static`, left, right, up, down
    case upLeft = "up-left", upRight = "up-right", downLeft = "down-left", downRight = "down-right"
    case bounce, orbit, grow, shrink, rotate

    /// The unit direction of a straight motion (y down), nil for the others.
    public var direction: SIMD2<Float>? {
        let d: Float = 0.70710678
        switch self {
        case .left: return SIMD2(-1, 0)
        case .right: return SIMD2(1, 0)
        case .up: return SIMD2(0, -1)
        case .down: return SIMD2(0, 1)
        case .upLeft: return SIMD2(-d, -d)
        case .upRight: return SIMD2(d, -d)
        case .downLeft: return SIMD2(-d, d)
        case .downRight: return SIMD2(d, d)
        default: return nil
        }
    }

    /// The 8 straight motions.
    public static let straight: [Motion] = [.left, .right, .up, .down, .upLeft, .upRight, .downLeft, .downRight]
}

/// How fast an object moves; `static` objects ignore it.
public enum Speed: String, Codable, CaseIterable, Sendable { case slow, fast }

/// A named background colour.
public enum BackgroundColor: String, Codable, CaseIterable, Sendable {
    case white, black, gray, beige

    /// Linear RGB in [0, 1].
    public var rgb: SIMD3<Float> {
        switch self {
        case .white: return SIMD3(0.95, 0.95, 0.95)
        case .black: return SIMD3(0.05, 0.05, 0.05)
        case .gray: return SIMD3(0.50, 0.50, 0.50)
        case .beige: return SIMD3(0.92, 0.86, 0.70)
        }
    }
}

/// How the background is painted: flat, a vertical gradient (lighter at the top), or a soft texture.
public enum BackgroundStyle: String, Codable, CaseIterable, Sendable { case solid, gradient, texture }

/// The background of a scene.
public struct Background: Codable, Hashable, Sendable {
    /// Its colour (at mid height for a gradient).
    public var color: BackgroundColor
    /// Its style.
    public var style: BackgroundStyle
    public init(color: BackgroundColor, style: BackgroundStyle = .solid) {
        self.color = color
        self.style = style
    }
}

/// One object of a scene.
public struct ObjectSpec: Codable, Hashable, Sendable {
    /// Its shape, e.g. `.star`.
    public var shape: ShapeKind
    /// Its colour, e.g. `.red`.
    public var color: ColorName
    /// Its size class, e.g. `.medium`.
    public var size: SizeClass
    /// Its motion, e.g. `.upLeft`.
    public var motion: Motion
    /// Its speed, e.g. `.fast` (ignored for `.static`).
    public var speed: Speed
    /// Start centre, fraction of the frame width (0 left, 1 right), e.g. 0.3.
    public var x: Float
    /// Start centre, fraction of the frame height (0 top, 1 bottom), e.g. 0.6.
    public var y: Float
    /// Start rotation in degrees, clockwise on screen, e.g. 15 (ignored by round shapes).
    public var rotation: Float

    public init(shape: ShapeKind, color: ColorName, size: SizeClass = .medium, motion: Motion = .static,
                speed: Speed = .slow, x: Float = 0.5, y: Float = 0.5, rotation: Float = 0) {
        self.shape = shape
        self.color = color
        self.size = size
        self.motion = motion
        self.speed = speed
        self.x = x
        self.y = y
        self.rotation = rotation
    }
}

/// A whole scene: 1-3 objects over a background. Objects are drawn in order (later ones on top).
public struct SceneSpec: Codable, Hashable, Sendable {
    /// The objects, 1 to 3 of them.
    public var objects: [ObjectSpec]
    /// The background.
    public var background: Background
    public init(objects: [ObjectSpec], background: Background) {
        self.objects = objects
        self.background = background
    }

    /// The largest number of objects in a scene.
    public static let maxObjects = 3

    /// Checks the ranges a renderer relies on; throws `ShapeWorldError.invalidSpec` otherwise.
    public func validate() throws {
        guard (1...Self.maxObjects).contains(objects.count) else {
            throw ShapeWorldError.invalidSpec("a scene has 1 to \(Self.maxObjects) objects, got \(objects.count)")
        }
        for (i, o) in objects.enumerated() {
            guard o.x.isFinite, o.y.isFinite, o.rotation.isFinite, (-1...2).contains(o.x), (-1...2).contains(o.y) else {
                throw ShapeWorldError.invalidSpec("object \(i): position must be finite and near [0, 1]")
            }
        }
    }
}

/// The frame geometry of a rendered clip.
public struct RenderConfig: Codable, Hashable, Sendable {
    /// Frames per clip, e.g. 16.
    public var frames: Int
    /// Frame height in pixels, e.g. 64.
    public var height: Int
    /// Frame width in pixels, e.g. 64.
    public var width: Int
    /// Playback rate in frames per second, e.g. 8.
    public var fps: Int
    public init(frames: Int = 16, height: Int = 64, width: Int = 64, fps: Int = 8) {
        self.frames = frames
        self.height = height
        self.width = width
        self.fps = fps
    }

    /// The frame's sides in min-dim units (the unit of object positions and sizes): (1, 1) for a
    /// square frame, (width / height, 1) for a wide one.
    public var extent: SIMD2<Float> {
        let m = Float(min(height, width))
        return SIMD2(Float(width) / m, Float(height) / m)
    }

    /// The largest F * H * W a clip may have (2^27: 1.5 GiB of Float32 RGB).
    public static let maxPixels = 1 << 27

    /// The default: 16 x 64 x 64 at 8 fps.
    public static let standard = RenderConfig()

    /// Throws `ShapeWorldError.invalidConfig` for sizes a renderer cannot honour.
    public func validate() throws {
        guard frames >= 1, frames <= 4096, height >= 8, width >= 8, height <= 4096, width <= 4096,
              fps >= 1, fps <= 240 else {
            throw ShapeWorldError.invalidConfig("need 1-4096 frames, 8-4096 pixels a side, 1-240 fps; got \(frames) x \(height) x \(width) at \(fps)")
        }
        guard frames * height * width <= Self.maxPixels else {
            throw ShapeWorldError.invalidConfig("\(frames) x \(height) x \(width) exceeds \(Self.maxPixels) pixels per clip")
        }
    }
}

/// Errors of ShapeWorld.
public enum ShapeWorldError: Error, Equatable, CustomStringConvertible {
    /// A scene spec that cannot be rendered.
    case invalidSpec(String)
    /// A frame geometry that cannot be rendered.
    case invalidConfig(String)
    /// A caption from which no scene could be read.
    case unparsableCaption(String)
    /// A shard file that is missing, truncated or corrupt.
    case badShard(String)
    /// A manifest that cannot be read at all (single bad lines are skipped, not thrown).
    case badManifest(String)
    /// Input or output failed.
    case io(String)

    public var description: String {
        switch self {
        case .invalidSpec(let m): return "invalid scene spec: \(m)"
        case .invalidConfig(let m): return "invalid render config: \(m)"
        case .unparsableCaption(let m): return "cannot read a scene from the caption: \(m)"
        case .badShard(let m): return "bad shard: \(m)"
        case .badManifest(let m): return "bad manifest: \(m)"
        case .io(let m): return "I/O error: \(m)"
        }
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Where an object is at one instant: centre and circumradius in min-dim units, rotation in radians.
public struct ObjectState: Sendable, Equatable {
    /// Centre x in min-dim units (0 at the left edge).
    public var cx: Float
    /// Centre y in min-dim units (0 at the top edge).
    public var cy: Float
    /// Circumradius in min-dim units.
    public var radius: Float
    /// Rotation in radians, clockwise on screen.
    public var rotation: Float
}

/// The motion constants, shared by the renderer, the captions and the judge.
public enum MotionConstants {
    /// Travel of a straight motion over the clip (min-dim units): slow, fast.
    public static let travel: (slow: Float, fast: Float) = (0.25, 0.5)
    /// Amplitude of the vertical oscillation of `bounce` (min-dim units).
    public static let bounceAmplitude: Float = 0.12
    /// Oscillation cycles of `bounce` over the clip: slow, fast.
    public static let bounceCycles: (slow: Float, fast: Float) = (1, 2)
    /// Radius of `orbit` (min-dim units).
    public static let orbitRadius: Float = 0.15
    /// Angle swept by `orbit` over the clip (radians, clockwise): slow half a turn, fast a full turn.
    public static let orbitSweep: (slow: Float, fast: Float) = (Float.pi, 2 * Float.pi)
    /// Size ratio last / first frame of `grow` (inverse for `shrink`): slow, fast.
    public static let scaleRatio: (slow: Float, fast: Float) = (1.5, 2.2)
    /// Rotation over the clip of `rotate` (radians, clockwise): slow 90 degrees, fast 180.
    public static let spin: (slow: Float, fast: Float) = (Float.pi / 2, Float.pi)
}

extension ObjectSpec {
    /// The state at clip time `t` in [0, 1] (first frame 0, last frame 1) in a frame whose sides are
    /// `extent` min-dim units (1 x 1 for a square frame).
    public func state(at t: Float, extent: SIMD2<Float>) -> ObjectState {
        let fast = speed == .fast
        var c = SIMD2(x * extent.x, y * extent.y)
        var r = size.radius
        var rot = rotation * Float.pi / 180
        switch motion {
        case .static:
            break
        case .left, .right, .up, .down, .upLeft, .upRight, .downLeft, .downRight:
            let l = fast ? MotionConstants.travel.fast : MotionConstants.travel.slow
            c += (motion.direction ?? .zero) * (l * t)
        case .bounce:
            let n = fast ? MotionConstants.bounceCycles.fast : MotionConstants.bounceCycles.slow
            c.y -= MotionConstants.bounceAmplitude * sinf(2 * Float.pi * n * t)
        case .orbit:
            let sweep = fast ? MotionConstants.orbitSweep.fast : MotionConstants.orbitSweep.slow
            let rr = MotionConstants.orbitRadius
            // Start at the left of the orbit's centre; increasing angle is clockwise on screen (y down).
            let a0 = Float.pi, a = a0 + sweep * t
            c += SIMD2(rr * (cosf(a) - cosf(a0)), rr * (sinf(a) - sinf(a0)))
        case .grow, .shrink:
            let ratio = fast ? MotionConstants.scaleRatio.fast : MotionConstants.scaleRatio.slow
            let e = motion == .grow ? (t - 0.5) : (0.5 - t)
            r *= powf(ratio, e)
        case .rotate:
            rot += (fast ? MotionConstants.spin.fast : MotionConstants.spin.slow) * t
        }
        return ObjectState(cx: c.x, cy: c.y, radius: r, rotation: rot)
    }
}

/// Clip time of frame `f` of `frames`: 0 for the first, 1 for the last.
@inline(__always)
public func clipTime(frame f: Int, of frames: Int) -> Float {
    frames <= 1 ? 0 : Float(f) / Float(frames - 1)
}

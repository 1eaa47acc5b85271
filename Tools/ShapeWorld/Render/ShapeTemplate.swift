#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

extension ShapeKind {
    /// Inner / outer radius of a ring.
    public static let ringInnerRatio: Float = 0.55
    /// Inner / outer radius of the 5-pointed star.
    public static let starInnerRatio: Float = 0.45

    /// Area divided by circumradius squared, so a measured area gives a radius per shape.
    public var areaFactor: Float {
        switch self {
        case .circle: return Float.pi
        case .ring: return Float.pi * (1 - Self.ringInnerRatio * Self.ringInnerRatio)
        case .square: return 2
        case .triangle: return 3 * Float(3).squareRoot() / 4
        case .star: return 5 * Self.starInnerRatio * sinf(Float.pi / 5)
        }
    }

    /// The rotational symmetry order of the outline (0 for round shapes).
    public var symmetry: Int {
        switch self {
        case .circle, .ring: return 0
        case .triangle: return 3
        case .square: return 4
        case .star: return 5
        }
    }

    /// Screen angle (radians, y down) of the first vertex at rotation 0.
    public var baseVertexAngle: Float {
        switch self {
        case .square: return Float.pi / 4
        default: return -Float.pi / 2
        }
    }

    /// Polygon vertices on a unit circumradius at rotation 0 (empty for round shapes).
    var unitVertices: [SIMD2<Float>] {
        switch self {
        case .circle, .ring: return []
        case .triangle, .square:
            let n = symmetry
            return (0..<n).map { j in
                let a = baseVertexAngle + 2 * Float.pi * Float(j) / Float(n)
                return SIMD2(cosf(a), sinf(a))
            }
        case .star:
            return (0..<10).map { j in
                let a = baseVertexAngle + Float.pi * Float(j) / 5
                let r: Float = j % 2 == 0 ? 1 : Self.starInnerRatio
                return SIMD2(r * cosf(a), r * sinf(a))
            }
        }
    }
}

/// A shape placed with a radius and rotation, in pixel units, ready to answer signed distances.
///
/// Used by the renderer (coverage = clamp(0.5 - distance, 0, 1): a one-pixel box filter across the
/// edge) and by ShapeBench, which fits the ideal shape to what it sees.
public struct ShapeTemplate: Sendable {
    /// The shape this template draws.
    public let shape: ShapeKind
    /// Circumradius in pixels.
    public let radius: Float
    /// Rotated vertices in pixels, relative to the centre.
    @usableFromInline let vx: [Float]
    @usableFromInline let vy: [Float]

    public init(shape: ShapeKind, radius: Float, rotation: Float) {
        self.shape = shape
        self.radius = radius
        let c = cosf(rotation), s = sinf(rotation)
        var xs: [Float] = [], ys: [Float] = []
        for v in shape.unitVertices {
            // Clockwise on screen with y down is the usual rotation matrix.
            xs.append(radius * (c * v.x - s * v.y))
            ys.append(radius * (s * v.x + c * v.y))
        }
        vx = xs
        vy = ys
    }

    /// Signed distance in pixels from a point (relative to the centre) to the outline; negative inside.
    @inlinable
    public func distance(_ px: Float, _ py: Float) -> Float {
        switch shape {
        case .circle:
            return (px * px + py * py).squareRoot() - radius
        case .ring:
            let mid = radius * (1 + ShapeKind.ringInnerRatio) / 2
            let half = radius * (1 - ShapeKind.ringInnerRatio) / 2
            return abs((px * px + py * py).squareRoot() - mid) - half
        default:
            return polygonDistance(px, py)
        }
    }

    /// Coverage of the pixel whose centre is at (px, py): a one-pixel-wide linear edge ramp.
    @inlinable
    public func coverage(_ px: Float, _ py: Float) -> Float {
        // Beyond the circumcircle plus half a pixel nothing is covered: skip the distance.
        let reach = radius + 0.5
        if px * px + py * py >= reach * reach { return 0 }
        return min(max(0.5 - distance(px, py), 0), 1)
    }

    /// Exact signed distance to a simple polygon (after Inigo Quilez's sdPolygon).
    @inlinable
    func polygonDistance(_ px: Float, _ py: Float) -> Float {
        let n = vx.count
        var d = (px - vx[0]) * (px - vx[0]) + (py - vy[0]) * (py - vy[0])
        var s: Float = 1
        var j = n - 1
        for i in 0..<n {
            let ex = vx[j] - vx[i], ey = vy[j] - vy[i]
            let wx = px - vx[i], wy = py - vy[i]
            let h = min(max((wx * ex + wy * ey) / (ex * ex + ey * ey), 0), 1)
            let bx = wx - ex * h, by = wy - ey * h
            d = min(d, bx * bx + by * by)
            let c1 = py >= vy[i], c2 = py < vy[j], c3 = ex * wy > ey * wx
            if (c1 && c2 && c3) || (!c1 && !c2 && !c3) { s = -s }
            j = i
        }
        return s * d.squareRoot()
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ShapeWorld

/// One object as seen in one frame: its soft mask (alpha in a box), centre, area, colour and moments.
struct Observation {
    var frame: Int
    /// Box origin and size of `alpha` in pixels.
    var x0: Int, y0: Int, bw: Int, bh: Int
    /// Coverage estimate in [0, 1]. // [bh, bw]
    var alpha: [Float]
    /// Centroid in pixels (pixel centres at +0.5).
    var cx: Float, cy: Float
    /// Sum of alpha (pixels).
    var area: Float
    /// Estimated object colour.
    var color: SIMD3<Float>
    /// |colour - background|.
    var contrast: Float
    /// Complex moments sum(alpha * (dx + i dy)^k) for k = 3, 4, 5 as (re, im).
    var moments: [SIMD2<Float>]
    /// Mean of the 8 largest alpha steps between neighbours (1 = a one-pixel edge).
    var sharpness: Float
    /// Filled in by the shape fit.
    var fit: ShapeFit? = nil

    @inline(__always) func a(_ x: Int, _ y: Int) -> Float {
        let lx = x - x0, ly = y - y0
        return lx >= 0 && ly >= 0 && lx < bw && ly < bh ? alpha[ly * bw + lx] : 0
    }
}

/// The best ideal shape for an observation.
struct ShapeFit {
    var shape: ShapeKind
    /// Soft IoU with the ideal shape (1 = perfect).
    var iou: Float
    /// Circumradius in pixels implied by the area.
    var radius: Float
    /// Rotation in radians.
    var rotation: Float
    /// IoU of every shape class, in `ShapeKind.allCases` order.
    var all: [Float]
}

enum Segmenter {
    /// A pixel this far (RGB distance) from the background is foreground.
    static let strong: Float = 0.2
    /// Components with fewer strong pixels are ignored (noise specks).
    static let minPixels = 8

    /// Finds the objects of frame `fi`.
    static func observe(_ v: FrameView, frame fi: Int, background bg: BackgroundModel) -> [Observation] {
        let (h, w) = (v.h, v.w)
        var dist = [Float](repeating: 0, count: h * w)
        for y in 0..<h {
            let b = bg.color(frame: fi, row: y)
            for x in 0..<w { dist[y * w + x] = length(v.pixel(fi, y, x) - b) }
        }
        var label = [Int32](repeating: -1, count: h * w)
        var comps: [[Int]] = []
        var stack: [Int] = []
        for start in 0..<(h * w) where dist[start] > strong && label[start] < 0 {
            let id = Int32(comps.count)
            var members: [Int] = []
            stack.append(start)
            label[start] = id
            while let p = stack.popLast() {
                members.append(p)
                let py = p / w, px = p % w
                for dy in -1...1 { for dx in -1...1 where dx != 0 || dy != 0 {
                    let ny = py + dy, nx = px + dx
                    guard ny >= 0, ny < h, nx >= 0, nx < w else { continue }
                    let q = ny * w + nx
                    if dist[q] > strong && label[q] < 0 { label[q] = id; stack.append(q) }
                } }
            }
            comps.append(members)
        }
        var out: [Observation] = []
        for (ci, members) in comps.enumerated() where members.count >= minPixels {
            // Object colour: mean of the pixels farthest from the background (the interior).
            var ds = members.map { dist[$0] }
            let top = quantile(&ds, 0.9)
            var col = SIMD3<Float>.zero, n: Float = 0
            var minX = w, maxX = 0, minY = h, maxY = 0
            for p in members {
                let py = p / w, px = p % w
                minX = min(minX, px); maxX = max(maxX, px); minY = min(minY, py); maxY = max(maxY, py)
                if dist[p] >= 0.85 * top { col += v.pixel(fi, py, px); n += 1 }
            }
            col /= max(n, 1)
            let x0 = max(0, minX - 2), y0 = max(0, minY - 2)
            let x1 = min(w - 1, maxX + 2), y1 = min(h - 1, maxY + 2)
            let bw = x1 - x0 + 1, bh = y1 - y0 + 1
            var alpha = [Float](repeating: 0, count: bw * bh)
            var area: Float = 0, sx: Float = 0, sy: Float = 0
            var contrastSum: Float = 0
            for y in y0...y1 {
                let b = bg.color(frame: fi, row: y)
                let oc = col - b
                let den = max((oc * oc).sum(), 1e-4)
                contrastSum += den.squareRoot()
                for x in x0...x1 {
                    let l = label[y * w + x]
                    if l >= 0 && Int(l) != ci { continue }
                    var a = ((v.pixel(fi, y, x) - b) * oc).sum() / den
                    a = min(max(a, 0), 1)
                    if l < 0 && a < 0.1 { a = 0 }
                    alpha[(y - y0) * bw + (x - x0)] = a
                    area += a
                    sx += a * (Float(x) + 0.5)
                    sy += a * (Float(y) + 0.5)
                }
            }
            guard area > 0 else { continue }
            let cx = sx / area, cy = sy / area
            var moments = [SIMD2<Float>](repeating: .zero, count: 3)
            var steps: [Float] = []
            for y in 0..<bh {
                for x in 0..<bw {
                    let a = alpha[y * bw + x]
                    if x + 1 < bw { steps.append(abs(alpha[y * bw + x + 1] - a)) }
                    if y + 1 < bh { steps.append(abs(alpha[(y + 1) * bw + x] - a)) }
                    guard a > 0 else { continue }
                    let dx = Float(x0 + x) + 0.5 - cx, dy = Float(y0 + y) + 0.5 - cy
                    // (dx + i dy)^k for k = 3, 4, 5.
                    let z2 = SIMD2(dx * dx - dy * dy, 2 * dx * dy)
                    let z3 = SIMD2(z2.x * dx - z2.y * dy, z2.x * dy + z2.y * dx)
                    let z4 = SIMD2(z3.x * dx - z3.y * dy, z3.x * dy + z3.y * dx)
                    let z5 = SIMD2(z4.x * dx - z4.y * dy, z4.x * dy + z4.y * dx)
                    moments[0] += a * z3
                    moments[1] += a * z4
                    moments[2] += a * z5
                }
            }
            steps.sort(by: >)
            let k = min(8, steps.count)
            let sharp = k > 0 ? steps[0..<k].reduce(0, +) / Float(k) : 0
            out.append(Observation(frame: fi, x0: x0, y0: y0, bw: bw, bh: bh, alpha: alpha, cx: cx, cy: cy,
                                   area: area, color: col, contrast: contrastSum / Float(bh), moments: moments,
                                   sharpness: sharp))
        }
        return out
    }

    /// Fits every ideal shape to an observation (radius from the area, rotation from the k-fold
    /// moment, two candidate phases) and keeps the best by soft IoU.
    static func fit(_ o: Observation) -> ShapeFit {
        var best = ShapeFit(shape: .circle, iou: -1, radius: 0, rotation: 0, all: [])
        var all: [Float] = []
        for shape in ShapeKind.allCases {
            let r = (o.area / shape.areaFactor).squareRoot()
            var candidates: [Float] = [0]
            let k = shape.symmetry
            if k > 0 {
                let m = o.moments[k - 3]
                let theta = atan2f(m.y, m.x) / Float(k) - shape.baseVertexAngle
                candidates = [theta, theta + Float.pi / Float(k)]
            }
            var bestShape: (Float, Float) = (-1, 0)
            for rot in candidates {
                let iou = softIoU(o, ShapeTemplate(shape: shape, radius: r, rotation: rot))
                if iou > bestShape.0 { bestShape = (iou, rot) }
            }
            all.append(bestShape.0)
            if bestShape.0 > best.iou {
                best = ShapeFit(shape: shape, iou: bestShape.0, radius: r, rotation: bestShape.1, all: [])
            }
        }
        best.all = all
        // The moment phase is coarse for small shapes (a 5 px star): refine the winner's rotation by
        // a grid search over one symmetry period, then a finer step around the best.
        let k = best.shape.symmetry
        if k > 0 {
            let period = 2 * Float.pi / Float(k)
            var step = period / 12
            var center = best.rotation
            for pass in 0..<2 {
                let n = pass == 0 ? 12 : 4
                for j in 0..<n {
                    let rot = pass == 0 ? center + Float(j) * step : center + Float(j - n / 2) * step / 4 + step / 8
                    let iou = softIoU(o, ShapeTemplate(shape: best.shape, radius: best.radius, rotation: rot))
                    if iou > best.iou { best.iou = iou; best.rotation = rot }
                }
                center = best.rotation
                step = pass == 0 ? step : step / 4
            }
            if let i = ShapeKind.allCases.firstIndex(of: best.shape) { best.all[i] = best.iou }
        }
        return best
    }

    /// sum(min(alpha, beta)) / sum(max(alpha, beta)) over the union of the two boxes.
    static func softIoU(_ o: Observation, _ t: ShapeTemplate) -> Float {
        let r = t.radius + 1
        let x0 = min(o.x0, Int(floorf(o.cx - r))), x1 = max(o.x0 + o.bw - 1, Int(ceilf(o.cx + r)))
        let y0 = min(o.y0, Int(floorf(o.cy - r))), y1 = max(o.y0 + o.bh - 1, Int(ceilf(o.cy + r)))
        var inter: Float = 0, uni: Float = 0
        for y in y0...y1 {
            let py = Float(y) + 0.5 - o.cy
            for x in x0...x1 {
                let a = o.a(x, y)
                let b = t.coverage(Float(x) + 0.5 - o.cx, py)
                inter += min(a, b)
                uni += max(a, b)
            }
        }
        return uni > 0 ? inter / uni : 0
    }
}

/// The q-quantile (0...1) of a non-empty array (reorders it); 0 for an empty one.
func quantile(_ a: inout [Float], _ q: Float) -> Float {
    guard !a.isEmpty else { return 0 }
    a.sort()
    return a[min(a.count - 1, max(0, Int(Float(a.count - 1) * q)))]
}

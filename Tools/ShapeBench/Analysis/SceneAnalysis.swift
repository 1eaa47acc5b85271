#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import ShapeWorld

/// What ShapeBench read from one object's track.
public struct DetectedObject: Codable, Hashable, Sendable {
    /// Best-fitting ideal shape (IoU-weighted vote over frames).
    public var shape: ShapeKind
    /// Nearest named colour to the median object colour.
    public var color: ColorName
    /// Size class from the median circumradius.
    public var size: SizeClass
    /// Motion read from the trajectory, size and rotation.
    public var motion: Motion
    /// nil for static objects.
    public var speed: Speed?
    /// Centre in the first frame it was seen, fractions of the frame.
    public var startX: Float, startY: Float
    /// Mean soft IoU of the fitted ideal shape.
    public var shapeFit: Float
}

/// What ShapeBench read from a whole video.
public struct DetectedScene: Codable, Hashable, Sendable {
    /// The most common number of objects per frame.
    public var count: Int
    /// One entry per track.
    public var objects: [DetectedObject]
    /// Background colour and style.
    public var background: Background
}

/// One object followed through the frames.
struct Track {
    var obs: [Observation]
    var shape: ShapeKind = .circle
    var color: SIMD3<Float> = .zero
    /// Per-observation circumradius (min-dim units), centre (min-dim units) and rotation.
    var radius: [Float] = [], centers: [SIMD2<Float>] = [], rotation: [Float] = []
    var times: [Float] = []
    var detected: DetectedObject? = nil
    /// Total rotation (radians), path length and log size ratio.
    var spin: Float = 0, path: Float = 0, logRatio: Float = 0
}

/// The full analysis of one video.
struct Analysis {
    var view: FrameView
    var background: BackgroundModel
    var observations: [[Observation]] // [F][objects]
    var tracks: [Track]
    var scene: DetectedScene
    var textureStd: Float, textureCorr: Float

    init(frames: [Float], config: RenderConfig) {
        let v = FrameView(data: frames, f: config.frames, h: config.height, w: config.width)
        view = v
        let bg = BackgroundModel(v)
        background = bg
        var obs: [[Observation]] = []
        for fi in 0..<v.f {
            var o = Segmenter.observe(v, frame: fi, background: bg)
            o.sort { $0.area > $1.area }
            if o.count > 6 { o.removeLast(o.count - 6) }
            for i in o.indices { o[i].fit = Segmenter.fit(o[i]) }
            obs.append(o)
        }
        observations = obs
        // Count: the most common number of objects per frame (ties: the larger).
        var hist = [Int: Int]()
        for o in obs { hist[o.count, default: 0] += 1 }
        let count = hist.max { $0.value != $1.value ? $0.value < $1.value : $0.key < $1.key }?.key ?? 0
        let m = Float(min(v.h, v.w))
        tracks = Analysis.track(obs, count: count, scale: m)
        (textureStd, textureCorr) = Analysis.texture(v, bg)
        let style: BackgroundStyle = abs(bg.slope) > 0.1 ? .gradient : (textureStd > 0.012 && textureCorr > 0.4 ? .texture : .solid)
        let bgColor = BackgroundColor.allCases.min { length($0.rgb - bg.mid) < length($1.rgb - bg.mid) } ?? .white
        for i in tracks.indices { Analysis.interpret(&tracks[i], view: v) }
        scene = DetectedScene(count: count, objects: tracks.compactMap { $0.detected },
                              background: Background(color: bgColor, style: style))
    }

    /// Links observations frame to frame: tracks start in the first frame with the modal count and
    /// are extended both ways by greedy matching on colour and distance.
    static func track(_ obs: [[Observation]], count: Int, scale m: Float) -> [Track] {
        guard count > 0, let ref = obs.firstIndex(where: { $0.count == count }) else { return [] }
        var tracks = obs[ref].map { Track(obs: [$0]) }
        func extend(_ frames: [Int]) {
            var last = tracks.map { $0.obs[0] }
            for fi in frames {
                var pairs: [(Float, Int, Int)] = []
                for (ti, l) in last.enumerated() {
                    for (oi, o) in obs[fi].enumerated() {
                        let d = hypotf(o.cx - l.cx, o.cy - l.cy) / m
                        let c = length(o.color - l.color)
                        if d < 0.3 && c < 0.45 { pairs.append((d + c, ti, oi)) }
                    }
                }
                pairs.sort { $0.0 < $1.0 }
                var usedT = Set<Int>(), usedO = Set<Int>()
                for (_, ti, oi) in pairs where !usedT.contains(ti) && !usedO.contains(oi) {
                    usedT.insert(ti); usedO.insert(oi)
                    tracks[ti].obs.append(obs[fi][oi])
                    last[ti] = obs[fi][oi]
                }
            }
        }
        extend(Array((ref + 1)..<obs.count))
        extend(Array((0..<ref).reversed()))
        for i in tracks.indices { tracks[i].obs.sort { $0.frame < $1.frame } }
        return tracks
    }

    /// Residual std and neighbour correlation of background pixels around the row model (frame 0).
    static func texture(_ v: FrameView, _ bg: BackgroundModel) -> (Float, Float) {
        var s2: Float = 0, sc: Float = 0, n: Float = 0
        for y in 0..<v.h {
            let b = bg.color(frame: 0, row: y)
            for x in 0..<(v.w - 1) {
                let r0 = v.pixel(0, y, x) - b, r1 = v.pixel(0, y, x + 1) - b
                guard length(r0) < 0.12, length(r1) < 0.12 else { continue }
                let a = r0.sum() / 3, c = r1.sum() / 3
                s2 += a * a; sc += a * c; n += 1
            }
        }
        guard n > 0, s2 > 0 else { return (0, 0) }
        return ((s2 / n).squareRoot(), sc / s2)
    }

    /// Reads shape, colour, size, motion and speed from a track.
    static func interpret(_ t: inout Track, view v: FrameView) {
        guard !t.obs.isEmpty else { return }
        let m = Float(min(v.h, v.w))
        // Shape: IoU-weighted vote over frames.
        var votes = [Float](repeating: 0, count: ShapeKind.allCases.count)
        for o in t.obs {
            guard let f = o.fit, let i = ShapeKind.allCases.firstIndex(of: f.shape) else { continue }
            votes[i] += f.iou
        }
        let si = votes.indices.max { votes[$0] < votes[$1] } ?? 0
        t.shape = ShapeKind.allCases[si]
        var cols = t.obs.map { $0.color }
        var med = SIMD3<Float>.zero
        for ch in 0..<3 {
            var c = cols.map { $0[ch] }
            med[ch] = median(&c)
        }
        cols.removeAll()
        t.color = med
        let color = ColorName.allCases.min { length($0.rgb - med) < length($1.rgb - med) } ?? .red
        let k = t.shape.symmetry
        var prevRot: Float? = nil
        var spin: Float = 0
        for o in t.obs {
            t.radius.append((o.area / t.shape.areaFactor).squareRoot() / m)
            t.centers.append(SIMD2(o.cx / m, o.cy / m))
            t.times.append(clipTime(frame: o.frame, of: v.f))
            var rot: Float = 0
            if k > 0 {
                if let f = o.fit, f.shape == t.shape {
                    rot = f.rotation
                } else {
                    let mm = o.moments[k - 3]
                    rot = atan2f(mm.y, mm.x) / Float(k) - t.shape.baseVertexAngle
                }
                if let p = prevRot {
                    let period = 2 * Float.pi / Float(k)
                    var d = (rot - p).truncatingRemainder(dividingBy: period)
                    if d > period / 2 { d -= period }
                    if d < -period / 2 { d += period }
                    spin += d
                }
                prevRot = rot
            }
            t.rotation.append(rot)
        }
        t.spin = spin
        var rs = t.radius
        let size: SizeClass = { let r = median(&rs); return r < 0.098 ? .small : (r < 0.143 ? .medium : .large) }()
        // Log-size slope over clip time (least squares).
        let lr = t.radius.map { logf(max($0, 1e-4)) }
        t.logRatio = slope(t.times, lr)
        var path: Float = 0
        for i in 1..<max(t.centers.count, 1) { path += simdLength(t.centers[i] - t.centers[i - 1]) }
        t.path = path
        var motion = Motion.static
        var speed: Speed? = nil
        let first = t.centers.first ?? .zero, last = t.centers.last ?? .zero
        let chord = last - first
        let chordLen = simdLength(chord)
        var maxDev: Float = 0
        if chordLen > 1e-4 {
            let n = SIMD2(-chord.y, chord.x) / chordLen
            for c in t.centers { maxDev = max(maxDev, abs(((c - first) * n).sum())) }
        }
        let xs = t.centers.map { $0.x }, ys = t.centers.map { $0.y }
        let xr = (xs.max() ?? 0) - (xs.min() ?? 0), yr = (ys.max() ?? 0) - (ys.min() ?? 0)
        if abs(t.logRatio) > 0.2 {
            motion = t.logRatio > 0 ? .grow : .shrink
            speed = abs(t.logRatio) > 0.6 ? .fast : .slow
        } else if chordLen >= 0.1 && maxDev <= 0.25 * chordLen {
            let a = atan2f(chord.y, chord.x) // y down: +pi/2 is "down"
            let sector = Int(((a / (Float.pi / 4)).rounded() + 8).truncatingRemainder(dividingBy: 8))
            let dirs: [Motion] = [.right, .downRight, .down, .downLeft, .left, .upLeft, .up, .upRight]
            motion = dirs[max(0, min(7, sector))]
            speed = chordLen > (MotionConstants.travel.slow + MotionConstants.travel.fast) / 2 ? .fast : .slow
        } else if path >= 0.15 {
            if xr < 0.4 * yr {
                motion = .bounce
                speed = path > 6 * MotionConstants.bounceAmplitude ? .fast : .slow
            } else {
                motion = .orbit
                speed = path > 0.75 * Float.pi * 2 * MotionConstants.orbitRadius ? .fast : .slow
            }
        } else if k > 0 && abs(spin) > 0.35 {
            motion = .rotate
            speed = abs(spin) > 0.75 * Float.pi ? .fast : .slow
        }
        let iou = t.obs.compactMap { $0.fit?.iou }.reduce(0, +) / Float(max(t.obs.count, 1))
        t.detected = DetectedObject(shape: t.shape, color: color, size: size, motion: motion, speed: speed,
                                    startX: first.x * m / Float(v.w), startY: first.y * m / Float(v.h), shapeFit: iou)
    }
}

@inline(__always) func simdLength(_ v: SIMD2<Float>) -> Float { (v * v).sum().squareRoot() }

/// Least-squares slope of y on x (0 when x has no spread).
func slope(_ x: [Float], _ y: [Float]) -> Float {
    let n = Float(x.count)
    guard x.count >= 2 else { return 0 }
    let mx = x.reduce(0, +) / n, my = y.reduce(0, +) / n
    var sxy: Float = 0, sxx: Float = 0
    for i in 0..<x.count { sxy += (x[i] - mx) * (y[i] - my); sxx += (x[i] - mx) * (x[i] - mx) }
    return sxx > 0 ? sxy / sxx : 0
}

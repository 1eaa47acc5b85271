import ShapeWorld

/// One checked attribute: what the prompt asked for and what the video shows.
public struct AttributeCheck: Codable, Hashable, Sendable {
    /// "count", "background", or an object attribute: "color", "shape", "size", "motion", "speed".
    public var attribute: String
    /// Index of the spec object (nil for scene attributes).
    public var object: Int?
    /// What the spec asked for, e.g. "red".
    public var expected: String
    /// What the frames show, e.g. "orange".
    public var observed: String
    /// Whether the two agree.
    public var correct: Bool
}

/// ShapeBench's verdict on one video.
public struct VideoReport: Codable, Sendable {
    /// The prompt id, e.g. "bench-0042".
    public var id: String
    /// Every attribute check, scene checks first.
    public var checks: [AttributeCheck]
    /// Share of correct checks.
    public var attributeAccuracy: Float
    /// Temporal and visual-quality scores.
    public var metrics: VideoMetrics
    /// What the judge read from the frames.
    public var detected: DetectedScene

    /// The checks that failed.
    public var failures: [AttributeCheck] { checks.filter { !$0.correct } }
}

/// The judge: reads frames only, plus the spec the prompt asked for.
public enum ShapeBench {
    /// The object attributes checked per matched object.
    public static let objectAttributes = ["color", "shape", "size", "motion", "speed"]
    /// Every attribute name, in report order.
    public static let attributes = ["count", "background"] + objectAttributes

    /// Scores frames `[F, H, W, 3]` of geometry `config` against `spec`.
    public static func score(frames: [Float], config: RenderConfig, spec: SceneSpec, id: String = "") throws -> VideoReport {
        try config.validate()
        try spec.validate()
        guard frames.count == Clip.elementCount(config) else {
            throw ShapeWorldError.invalidConfig("\(frames.count) values for \(config.frames) x \(config.height) x \(config.width) x 3")
        }
        let a = Analysis(frames: sanitized(frames), config: config)
        let metrics = MetricComputer.compute(a)
        let checks = check(spec: spec, against: a.scene)
        let acc = checks.isEmpty ? 0 : Float(checks.filter { $0.correct }.count) / Float(checks.count)
        return VideoReport(id: id, checks: checks, attributeAccuracy: acc, metrics: metrics, detected: a.scene)
    }

    /// Scores a clip against its own spec (or `spec` when given).
    public static func score(_ clip: Clip, spec: SceneSpec? = nil, id: String = "") throws -> VideoReport {
        guard let s = spec ?? clip.spec else { throw ShapeWorldError.invalidSpec("no spec to score against") }
        return try score(frames: clip.frames, config: clip.config, spec: s, id: id)
    }

    /// Only what the frames show, without a spec.
    public static func detect(frames: [Float], config: RenderConfig) throws -> (DetectedScene, VideoMetrics) {
        try config.validate()
        guard frames.count == Clip.elementCount(config) else { throw ShapeWorldError.invalidConfig("frame count mismatch") }
        let a = Analysis(frames: sanitized(frames), config: config)
        return (a.scene, MetricComputer.compute(a))
    }

    /// Generated frames may hold NaN, infinities or values outside [0, 1] (a diverged model):
    /// non-finite values become 0 and the rest are clamped, so the analysis never sees them.
    static func sanitized(_ frames: [Float]) -> [Float] {
        frames.map { $0.isFinite ? min(max($0, 0), 1) : 0 }
    }

    /// Matches spec objects to detected objects (fewest mismatches, then nearest start) and lists the
    /// checks. A count mismatch fails only "count"; unmatched objects add no other failures.
    static func check(spec: SceneSpec, against d: DetectedScene) -> [AttributeCheck] {
        var checks: [AttributeCheck] = []
        checks.append(AttributeCheck(attribute: "count", object: nil, expected: "\(spec.objects.count)",
                                     observed: "\(d.count)", correct: spec.objects.count == d.count))
        let eb = spec.background, ob = d.background
        checks.append(AttributeCheck(attribute: "background", object: nil, expected: "\(eb.color.rawValue) \(eb.style.rawValue)",
                                     observed: "\(ob.color.rawValue) \(ob.style.rawValue)", correct: eb == ob))
        let assignment = bestAssignment(spec.objects, d.objects)
        for (si, o) in spec.objects.enumerated() {
            guard let di = assignment[si] else { continue }
            checks += objectChecks(o, d.objects[di], index: si)
        }
        return checks
    }

    static func objectChecks(_ e: ObjectSpec, _ o: DetectedObject, index: Int) -> [AttributeCheck] {
        var c: [AttributeCheck] = [
            AttributeCheck(attribute: "color", object: index, expected: e.color.rawValue, observed: o.color.rawValue, correct: e.color == o.color),
            AttributeCheck(attribute: "shape", object: index, expected: e.shape.rawValue, observed: o.shape.rawValue, correct: e.shape == o.shape),
            AttributeCheck(attribute: "size", object: index, expected: e.size.rawValue, observed: o.size.rawValue, correct: e.size == o.size),
            AttributeCheck(attribute: "motion", object: index, expected: e.motion.rawValue, observed: o.motion.rawValue, correct: e.motion == o.motion),
        ]
        // Speed is only meaningful when the motion itself is right.
        if e.motion != .static, e.motion == o.motion {
            let s = o.speed?.rawValue ?? "none"
            c.append(AttributeCheck(attribute: "speed", object: index, expected: e.speed.rawValue, observed: s, correct: o.speed == e.speed))
        }
        return c
    }

    static func mismatches(_ e: ObjectSpec, _ o: DetectedObject) -> Float {
        var n: Float = 0
        if e.color != o.color { n += 1 }
        if e.shape != o.shape { n += 1 }
        if e.size != o.size { n += 1 }
        if e.motion != o.motion { n += 1 }
        let dx = e.x - o.startX, dy = e.y - o.startY
        return n + 0.1 * (dx * dx + dy * dy).squareRoot()
    }

    /// For each spec object, the detected object it is judged against (nil when there are fewer).
    static func bestAssignment(_ spec: [ObjectSpec], _ det: [DetectedObject]) -> [Int?] {
        var best: (Float, [Int?]) = (.infinity, Array(repeating: nil, count: spec.count))
        var current = [Int?](repeating: nil, count: spec.count)
        let matched = min(spec.count, det.count)
        func go(_ i: Int, _ used: Set<Int>, _ cost: Float, _ nMatched: Int) {
            if i == spec.count {
                if nMatched == matched && cost < best.0 { best = (cost, current) }
                return
            }
            for j in det.indices where !used.contains(j) {
                current[i] = j
                go(i + 1, used.union([j]), cost + mismatches(spec[i], det[j]), nMatched + 1)
            }
            if spec.count - i > matched - nMatched {
                current[i] = nil
                go(i + 1, used, cost, nMatched)
            }
        }
        go(0, [], 0, 0)
        return best.1
    }
}

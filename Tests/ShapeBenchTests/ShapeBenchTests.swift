import Foundation
import XCTest
@testable import ShapeBench
import ShapeWorld

final class ShapeBenchTests: XCTestCase {
    static let prompts = Array(BenchmarkSet.v1().prefix(40))
    static let clean: [[Float]] = prompts.map { (try? Renderer.render($0.spec)) ?? [] }
    static let cleanReports: [VideoReport] = zip(prompts, clean).compactMap {
        try? ShapeBench.score(frames: $1, config: .standard, spec: $0.spec, id: $0.id)
    }

    func testCleanGroundTruthAccuracyAndTemporalScores() throws {
        var rng = SplitMix64(seed: 2024)
        var reports: [VideoReport] = []
        for i in 0..<200 {
            let spec = SceneSampler.random(using: &rng)
            reports.append(try ShapeBench.score(frames: try Renderer.render(spec), config: .standard, spec: spec, id: "\(i)"))
        }
        let r = BenchReport(reports: reports + Self.cleanReports)
        print(r.markdown(title: "clean"))
        XCTAssertGreaterThanOrEqual(r.attributeAccuracy, 0.98)
        for a in ShapeBench.attributes { XCTAssertGreaterThanOrEqual(r.perAttribute[a] ?? 0, 0.95, a) }
        XCTAssertGreaterThanOrEqual(r.meanMetrics["temporalFlicker"] ?? 0, 0.99)
        XCTAssertGreaterThanOrEqual(r.meanMetrics["motionSmoothness"] ?? 0, 0.93)
        XCTAssertGreaterThanOrEqual(r.meanMetrics["subjectConsistency"] ?? 0, 0.97)
    }

    /// Mean of `metric` over the prompts, clean and degraded at strength 0.5.
    func drop(_ kind: DegradationKind, _ metric: KeyPath<VideoMetrics, Float>, prompts n: Int = 24) throws -> (Float, Float) {
        let d = Degradation(kind, strength: 0.5)
        var c: Float = 0, g: Float = 0
        for i in 0..<n {
            let p = Self.prompts[i]
            let r = try ShapeBench.score(frames: d.apply(Self.clean[i], config: .standard, seed: p.seed), config: .standard, spec: p.spec)
            c += Self.cleanReports[i].metrics[keyPath: metric]
            g += r.metrics[keyPath: metric]
        }
        print("\(kind): clean \(c / Float(n)), degraded \(g / Float(n))")
        return (c / Float(n), g / Float(n))
    }

    /// Strength is a control: every matching metric falls as the strength rises.
    func testMatchingMetricsFallMonotonicallyWithStrength() throws {
        let metric: [DegradationKind: KeyPath<VideoMetrics, Float>] = [
            .flicker: \.temporalFlicker, .jitter: \.motionSmoothness, .blur: \.sharpness, .noise: \.noise,
            .colorDrift: \.subjectConsistency, .deformation: \.deformation, .droppedFrames: \.motionSmoothness,
            .blockiness: \.blockiness,
        ]
        for kind in DegradationKind.allCases {
            guard let m = metric[kind] else { continue }
            let means = try [0.25, 0.5, 1.0].map { (s: Float) -> Float in
                let d = Degradation(kind, strength: s)
                return try (0..<8).map { i in
                    try ShapeBench.score(frames: d.apply(Self.clean[i], config: .standard, seed: Self.prompts[i].seed),
                                         config: .standard, spec: Self.prompts[i].spec).metrics[keyPath: m]
                }.reduce(0, +) / 8
            }
            print("\(kind) at 0.25 / 0.5 / 1.0: \(means)")
            XCTAssertGreaterThan(means[0], means[1] - 0.005, "\(kind)")
            XCTAssertGreaterThan(means[1], means[2] - 0.005, "\(kind)")
            XCTAssertGreaterThan(means[0] - means[2], 0.04, "\(kind)")
        }
    }

    func testFlickerLowersTemporalFlicker() throws {
        let (c, d) = try drop(.flicker, \.temporalFlicker)
        XCTAssertGreaterThan(c - d, 0.04)
    }

    func testJitterLowersMotionSmoothness() throws {
        let (c, d) = try drop(.jitter, \.motionSmoothness)
        XCTAssertGreaterThan(c - d, 0.5)
    }

    func testDroppedFramesLowerMotionSmoothness() throws {
        let (c, d) = try drop(.droppedFrames, \.motionSmoothness)
        XCTAssertGreaterThan(c - d, 0.2)
    }

    func testBlurLowersSharpness() throws {
        let (c, d) = try drop(.blur, \.sharpness)
        XCTAssertGreaterThan(c - d, 0.3)
    }

    func testNoiseLowersNoiseScore() throws {
        let (c, d) = try drop(.noise, \.noise)
        XCTAssertGreaterThan(c - d, 0.4)
    }

    func testColorDriftLowersSubjectConsistency() throws {
        let (c, d) = try drop(.colorDrift, \.subjectConsistency)
        XCTAssertGreaterThan(c - d, 0.05)
    }

    func testDeformationLowersShapeFidelity() throws {
        let (c, d) = try drop(.deformation, \.deformation)
        XCTAssertGreaterThan(c - d, 0.15)
    }

    func testBlockinessLowersBlockinessScore() throws {
        let (c, d) = try drop(.blockiness, \.blockiness)
        XCTAssertGreaterThan(c - d, 0.2)
    }

    /// A video judged against a caption that is wrong in one attribute fails exactly that attribute.
    func testWrongCaptionFailsExactlyTheWrongAttribute() throws {
        var tried = 0
        for (i, p) in Self.prompts.enumerated() {
            let frames = Self.clean[i]
            let s = p.spec
            var variants: [(String, SceneSpec)] = []
            var v = s
            v.objects[0].color = ColorName.allCases.first { c in !s.objects.contains { $0.color == c } } ?? .red
            variants.append(("color", v))
            v = s
            v.objects[0].shape = s.objects[0].shape == .star ? .circle : .star
            if v.objects[0].shape.isRound && v.objects[0].motion == .rotate { v.objects[0].shape = .square }
            variants.append(("shape", v))
            v = s
            v.objects[0].size = s.objects[0].size == .small ? .large : .small
            variants.append(("size", v))
            v = s
            v.objects[0].motion = s.objects[0].motion == .left ? .right : .left
            variants.append(("motion", v))
            if s.objects[0].motion != .static {
                v = s
                v.objects[0].speed = s.objects[0].speed == .slow ? .fast : .slow
                variants.append(("speed", v))
            }
            v = s
            v.background.color = s.background.color == .white ? .black : .white
            variants.append(("background", v))
            if s.objects.count < 3 {
                v = s
                v.objects.append(ObjectSpec(shape: .ring, color: ColorName.allCases.first { c in !s.objects.contains { $0.color == c } } ?? .red))
                variants.append(("count", v))
            }
            for (attr, wrong) in variants {
                let r = try ShapeBench.score(frames: frames, config: .standard, spec: wrong)
                XCTAssertEqual(r.failures.map { $0.attribute }, [attr], "\(p.id) wrong \(attr): \(r.failures)")
                tried += 1
            }
            // And the right caption passes everything.
            XCTAssertEqual(Self.cleanReports[i].failures.count, 0, "\(p.id): \(Self.cleanReports[i].failures)")
        }
        print("wrong-caption variants checked: \(tried)")
        XCTAssertGreaterThan(tried, 200)
    }

    func testGSBSelfIsZeroAndTruthBeatsDegraded() throws {
        let selfG = GSBResult(a: Self.cleanReports, b: Self.cleanReports)
        XCTAssertEqual(selfG.overall, GSBResult.Tally(good: 0, same: Self.cleanReports.count, bad: 0))
        XCTAssertEqual(selfG.visualQuality.score, 0)
        XCTAssertEqual(selfG.textAlignment.score, 0)
        let kinds = DegradationKind.allCases
        let degraded = try zip(Self.prompts, Self.clean).enumerated().map { i, pf in
            let d = Degradation(kinds[i % kinds.count], strength: 0.6)
            return try ShapeBench.score(frames: d.apply(pf.1, config: .standard, seed: pf.0.seed), config: .standard,
                                        spec: pf.0.spec, id: pf.0.id)
        }
        let g = GSBResult(a: Self.cleanReports, b: degraded)
        print(g.markdown(a: "truth", b: "degraded"))
        XCTAssertGreaterThan(g.overall.score, 0.7)
        XCTAssertEqual(GSBResult(a: degraded, b: Self.cleanReports).overall.score, -g.overall.score)
    }

    func testBenchmarkSetIsCommittedStratifiedAndComplete() throws {
        let set = BenchmarkSet.v1()
        XCTAssertEqual(set.count, 320)
        let file = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Tools/ShapeBench/Resources/benchmark-v1.json")
        let committed = try Data(contentsOf: file)
        XCTAssertEqual(committed, try BenchmarkSet.json(set), "regenerate with: vgtrain benchmark-set --out \(file.path)")
        XCTAssertEqual(Set(set.map { $0.id }).count, 320)
        for s in ShapeKind.allCases { XCTAssertEqual(set.filter { $0.spec.objects[0].shape == s }.count, 64) }
        for c in ColorName.allCases { XCTAssertEqual(set.filter { $0.spec.objects[0].color == c }.count, 40) }
        for z in SizeClass.allCases { XCTAssertGreaterThanOrEqual(set.filter { $0.spec.objects[0].size == z }.count, 100) }
        for m in Motion.allCases { XCTAssertGreaterThanOrEqual(set.filter { $0.spec.objects[0].motion == m }.count, 10, "\(m)") }
        for b in BackgroundColor.allCases { XCTAssertEqual(set.filter { $0.spec.background.color == b }.count, 80) }
        for st in BackgroundStyle.allCases { XCTAssertGreaterThanOrEqual(set.filter { $0.spec.background.style == st }.count, 100) }
        XCTAssertEqual(Double(set.filter { $0.spec.objects.count == 1 }.count), 160, accuracy: 12)
        for n in 1...3 { XCTAssertEqual(Set(set.filter { $0.spec.objects.count == n }.map { $0.spec.objects[0].shape }).count, 5) }
        XCTAssertTrue(set.allSatisfy { !$0.detailed.isEmpty && !$0.terse.isEmpty && $0.terse.count < $0.detailed.count })
    }

    /// A prompt's captions rewritten for its own scene are its captions; for the scene with every shape
    /// changed only the shape words differ (the rest of the caption is the same word for word, so the
    /// lengths differ by at most the shape words' lengths); an edited caption is refused, not rewritten.
    func testCaptionsRewrittenForAChangedSceneChangeOnlyThatAttribute() throws {
        for p in BenchmarkSet.v1() {
            let own = try p.captions(describing: p.spec)
            XCTAssertEqual(own.detailed, p.detailed); XCTAssertEqual(own.terse, p.terse)
        }
        let phrases: [String] = ShapeKind.allCases.flatMap { Vocabulary.shapeWords($0) + Vocabulary.terseShapeWords($0) }
        let shapeWords: [String] = phrases.flatMap { $0.split(separator: " ").map(String.init) } + ["five-pointed"]
        func withoutShapeWords(_ s: String) -> [String] {
            s.lowercased().split(whereSeparator: { $0 == " " || $0 == "," || $0 == "." }).map(String.init)
                .filter { w in !shapeWords.contains(where: { $0.lowercased() == w || $0.lowercased() + "s" == w }) }
        }
        for p in Self.prompts {
            var scene = p.spec
            for i in scene.objects.indices { scene.objects[i].shape = .circle }
            let changed = try p.captions(describing: scene)
            XCTAssertEqual(withoutShapeWords(changed.detailed), withoutShapeWords(p.detailed), "\(p.detailed) -> \(changed.detailed)")
            if p.spec.objects.contains(where: { $0.shape != .circle }) { XCTAssertNotEqual(changed.detailed, p.detailed) }
        }
        var edited = Self.prompts[0]
        edited.detailed += " Now."
        XCTAssertThrowsError(try edited.captions(describing: edited.spec))
    }

    func testReportsAndInputValidation() throws {
        let r = BenchReport(reports: Self.cleanReports)
        let md = r.markdown()
        XCTAssertTrue(md.contains("| motion |"))
        XCTAssertTrue(md.contains("temporalFlicker"))
        let json = try JSONSerialization.jsonObject(with: try r.json()) as? [String: Any]
        XCTAssertNotNil(json?["perAttribute"])
        XCTAssertNil(json?["countTable"], "the count table is computed, not stored")
        // Clean renders: every video lands on its own prompted count, and the rows add up to the videos.
        let table = r.countTable
        XCTAssertEqual(table.values.map { $0.reduce(0, +) }.reduce(0, +), r.videos)
        for (prompted, row) in table { XCTAssertEqual(row[prompted], row.reduce(0, +), "prompted \(prompted): \(row)") }
        XCTAssertEqual(Set(table.keys), Set(Self.prompts.map { $0.spec.objects.count }))
        XCTAssertTrue(md.contains("| 1 prompted | 0 | "))
        XCTAssertTrue(md.contains("| objects found | 0 | 1 | 2 | 3 | 4 | 5 | 6+ |\n|---|---|---|---|---|---|---|---|\n"))
        // Clean renders are judged as asked: every confusion row is all on its diagonal, one row per
        // asked shape, and the rows count the shape checks.
        let shapes = r.confusion("shape")
        XCTAssertEqual(shapes.values.map { $0.values.reduce(0, +) }.reduce(0, +),
                       r.reports.flatMap { $0.checks.filter { $0.attribute == "shape" } }.count)
        for (asked, row) in shapes { XCTAssertEqual(row[asked], row.values.reduce(0, +), "\(asked): \(row)") }
        XCTAssertTrue(md.contains("| shape (asked ↓, judged →) | "))
        XCTAssertTrue(r.confusion("no-such-attribute").isEmpty)
        XCTAssertFalse(shapes.isEmpty)
        // A wrong verdict lands off the diagonal and shows in the markdown row and its correct count.
        var wrong = Self.cleanReports[0]
        wrong.checks = [AttributeCheck(attribute: "shape", object: 0, expected: "star", observed: "circle", correct: false)]
        let w = BenchReport(reports: [wrong])
        XCTAssertEqual(w.confusion("shape"), ["star": ["circle": 1]])
        XCTAssertTrue(w.markdown().contains("| shape (asked ↓, judged →) | circle | correct |\n|---|---|---|\n| star | 1 | 0 of 1 |\n"), w.markdown())
        XCTAssertThrowsError(try ShapeBench.score(frames: [0, 1, 2], config: .standard, spec: Self.prompts[0].spec))
        var crowded = Self.prompts[0].spec
        crowded.objects = Array(repeating: crowded.objects[0], count: 40)
        XCTAssertThrowsError(try ShapeBench.score(frames: Self.clean[0], config: .standard, spec: crowded))
        // A blank video: nothing detected, count fails, no crash.
        let blank = [Float](repeating: 0.5, count: Clip.elementCount(.standard))
        let b = try ShapeBench.score(frames: blank, config: .standard, spec: Self.prompts[0].spec)
        XCTAssertEqual(b.detected.count, 0)
        let prompted = Self.prompts[0].spec.objects.count
        XCTAssertEqual(BenchReport(reports: [b]).countTable, [prompted: [1, 0, 0, 0, 0, 0, 0]])
        // Garbage from a diverged model: NaN, infinities, out-of-range values, pure noise. No crash.
        var rng = SplitMix64(seed: 4)
        let junk = (0..<Clip.elementCount(.standard)).map { i -> Float in
            i % 97 == 0 ? .nan : (i % 89 == 0 ? .infinity : rng.uniform(-2, 3))
        }
        let j = try ShapeBench.score(frames: junk, config: .standard, spec: Self.prompts[0].spec)
        XCTAssertTrue(j.metrics.noise < 0.5 && j.metrics.temporalFlicker < 0.9, "\(j.metrics)")
        XCTAssertTrue([j.metrics.visualQuality, j.metrics.motionQuality, j.attributeAccuracy].allSatisfy { $0.isFinite })
        let bgWrong = Self.prompts[0].spec.background != Background(color: .gray, style: .solid)
        XCTAssertEqual(b.failures.map { $0.attribute }, bgWrong ? ["count", "background"] : ["count"])
    }
}

import Foundation
import XCTest
@testable import ShapeWorld

final class ShapeWorldTests: XCTestCase {
    func testSplitMix64KnownValuesAndDeterminism() {
        var g = SplitMix64(seed: 0)
        XCTAssertEqual(g.next(), 0xE220_A839_7B1D_CDAF) // the published first output for seed 0
        var a = SplitMix64(seed: 42), b = SplitMix64(seed: 42)
        for _ in 0..<100 { XCTAssertEqual(a.next(), b.next()) }
        var u = SplitMix64(seed: 1)
        let xs = (0..<10_000).map { _ in u.unitFloat() }
        XCTAssertTrue(xs.allSatisfy { $0 >= 0 && $0 < 1 })
        XCTAssertEqual(Double(xs.reduce(0, +)) / 10_000, 0.5, accuracy: 0.02)
    }

    func testRenderIsDeterministicBoundedAndAntiAliased() throws {
        var rng = SplitMix64(seed: 5)
        let spec = SceneSampler.random(using: &rng)
        let a = try Renderer.render(spec), b = try Renderer.render(spec)
        XCTAssertEqual(a, b)
        XCTAssertEqual(a.count, 16 * 64 * 64 * 3)
        XCTAssertTrue(a.allSatisfy { $0 >= 0 && $0 <= 1 })
        // A circle on black: the edge has intermediate (anti-aliased) values; its area matches pi r^2.
        let o = ObjectSpec(shape: .circle, color: .yellow, size: .large, x: 0.5, y: 0.5)
        let f = try Renderer.render(SceneSpec(objects: [o], background: Background(color: .black)),
                                    config: RenderConfig(frames: 1, height: 64, width: 64))
        let red = stride(from: 0, to: f.count, by: 3).map { (f[$0] - 0.05) / (0.96 - 0.05) }
        XCTAssertGreaterThan(red.filter { $0 > 0.05 && $0 < 0.95 }.count, 30)
        let area = red.reduce(0, +)
        let r = SizeClass.large.radius * 64
        XCTAssertEqual(area, Float.pi * r * r, accuracy: 0.02 * Float.pi * r * r)
    }

    func testShapeAreasMatchTheirFactors() throws {
        for shape in ShapeKind.allCases {
            let o = ObjectSpec(shape: shape, color: .yellow, size: .large, x: 0.5, y: 0.5, rotation: 17)
            let f = try Renderer.render(SceneSpec(objects: [o], background: Background(color: .black)),
                                        config: RenderConfig(frames: 1, height: 96, width: 96))
            let area = stride(from: 0, to: f.count, by: 3).map { (f[$0] - 0.05) / (0.96 - 0.05) }.reduce(0, +)
            let r = SizeClass.large.radius * 96
            XCTAssertEqual(area, shape.areaFactor * r * r, accuracy: 0.03 * shape.areaFactor * r * r, "\(shape)")
        }
    }

    /// The coverage map marks exactly the pixels the objects change: 0 where the render equals the
    /// background, > 0 wherever it differs, and its sum is the objects' area.
    func testObjectCoverageMarksTheObjects() throws {
        var rng = SplitMix64(seed: 11)
        let config = RenderConfig(frames: 4, height: 64, width: 64)
        for _ in 0..<5 {
            let spec = SceneSampler.random(using: &rng)
            let frames = try Renderer.render(spec, config: config), cov = try Renderer.objectCoverage(spec, config: config)
            let bg = Renderer.background(spec.background, height: 64, width: 64)
            XCTAssertEqual(cov.count, 4 * 64 * 64)
            XCTAssertTrue(cov.allSatisfy { $0 >= 0 && $0 <= 1 })
            var changedWithoutCoverage = 0
            for p in 0..<cov.count {
                let i = p * 3, j = (p % (64 * 64)) * 3
                let changed = (0..<3).contains { abs(frames[i + $0] - bg[j + $0]) > 1e-6 }
                if changed && cov[p] == 0 { changedWithoutCoverage += 1 }
            }
            XCTAssertEqual(changedWithoutCoverage, 0)
            XCTAssertGreaterThan(cov.filter { $0 == 1 }.count, 4 * 10, "every clip has an object of some pixels")
        }
        let o = ObjectSpec(shape: .circle, color: .yellow, size: .large, x: 0.5, y: 0.5)
        let cov = try Renderer.objectCoverage(SceneSpec(objects: [o], background: Background(color: .black)),
                                              config: RenderConfig(frames: 1, height: 64, width: 64))
        let r = SizeClass.large.radius * 64
        XCTAssertEqual(cov.reduce(0, +), Float.pi * r * r, accuracy: 0.02 * Float.pi * r * r)
    }

    /// The shape map labels exactly the pixels an object covers at least half of, with the topmost
    /// such object's shape (the later one where two overlap), and -1 elsewhere.
    func testObjectShapeMapLabelsHalfCoveredPixelsWithTheTopShape() throws {
        let config = RenderConfig(frames: 2, height: 64, width: 64)
        let star = ObjectSpec(shape: .star, color: .red, size: .large, x: 0.4, y: 0.5)
        let ring = ObjectSpec(shape: .ring, color: .blue, size: .medium, x: 0.55, y: 0.5)
        let both = SceneSpec(objects: [star, ring], background: Background(color: .black))
        let map = try Renderer.objectShapeMap(both, config: config)
        let covStar = try Renderer.objectCoverage(SceneSpec(objects: [star], background: Background(color: .black)), config: config)
        let covRing = try Renderer.objectCoverage(SceneSpec(objects: [ring], background: Background(color: .black)), config: config)
        XCTAssertEqual(map.count, 2 * 64 * 64)
        let starIndex = Float(ShapeKind.allCases.firstIndex(of: .star)!), ringIndex = Float(ShapeKind.allCases.firstIndex(of: .ring)!)
        var overlap = 0
        for p in 0..<map.count {
            let expected: Float = covRing[p] >= 0.5 ? ringIndex : covStar[p] >= 0.5 ? starIndex : -1
            XCTAssertEqual(map[p], expected, "pixel \(p)")
            if covRing[p] >= 0.5 && covStar[p] >= 0.5 { overlap += 1 }
        }
        XCTAssertGreaterThan(overlap, 0, "the two objects overlap, so the order is tested")
        XCTAssertGreaterThan(map.filter { $0 == starIndex }.count, 100)
    }

    /// A counterfactual changes exactly one attribute, on every object, to a different value; captions
    /// from the same seed then differ (and only the changed scene differs from the original).
    func testCounterfactualChangesExactlyOneAttribute() throws {
        var rng = SplitMix64(seed: 77)
        for _ in 0..<200 {
            let spec = SceneSampler.random(using: &rng)
            for attribute in SceneAttribute.allCases {
                let c = spec.changing(attribute)
                XCTAssertNoThrow(try c.validate())
                XCTAssertNotEqual(c, spec, "\(attribute)")
                XCTAssertEqual(c.objects.count, spec.objects.count)
                XCTAssertEqual(c.background.style, spec.background.style)
                XCTAssertEqual(c.background.color != spec.background.color, attribute == .background)
                for (a, b) in zip(spec.objects, c.objects) {
                    XCTAssertEqual(a.color != b.color, attribute == .color)
                    XCTAssertEqual(a.shape != b.shape, attribute == .shape)
                    XCTAssertEqual(a.size != b.size, attribute == .size)
                    XCTAssertEqual(a.motion != b.motion, attribute == .motion)
                    XCTAssertEqual(a.x != b.x || a.y != b.y, attribute == .position && (a.x != 0.5 || a.y != 0.5))
                    XCTAssertEqual(a.speed, b.speed); XCTAssertEqual(a.rotation, b.rotation)
                }
                var r1 = SplitMix64(seed: 5), r2 = SplitMix64(seed: 5)
                let t1 = Captioner.detailed(spec, using: &r1), t2 = Captioner.detailed(c, using: &r2)
                if attribute != .position || spec.objects.contains(where: { abs($0.x - 0.5) > 0.2 || abs($0.y - 0.5) > 0.2 }) {
                    XCTAssertNotEqual(t1, t2, "\(attribute): \(t1)")
                }
            }
        }
        // Colours move three steps: never to a neighbour such as red -> orange or red -> pink.
        let red = SceneSpec(objects: [ObjectSpec(shape: .circle, color: .red)], background: Background(color: .white))
        XCTAssertEqual(red.changing(.color).objects[0].color, .yellow)
    }

    func testSampledScenesStayInsideAndApart() {
        var rng = SplitMix64(seed: 11)
        for _ in 0..<300 {
            let s = SceneSampler.random(using: &rng)
            XCTAssertTrue((1...3).contains(s.objects.count))
            XCTAssertEqual(Set(s.objects.map { $0.color }).count, s.objects.count, "distinct colours")
            for o in s.objects {
                if o.shape.isRound { XCTAssertNotEqual(o.motion, .rotate) }
                for k in 0...15 {
                    let st = o.state(at: Float(k) / 15, extent: SIMD2(1, 1))
                    XCTAssertGreaterThanOrEqual(st.cx - st.radius, 0.03)
                    XCTAssertLessThanOrEqual(st.cx + st.radius, 0.97)
                    XCTAssertGreaterThanOrEqual(st.cy - st.radius, 0.03)
                    XCTAssertLessThanOrEqual(st.cy + st.radius, 0.97)
                }
            }
            for i in 0..<s.objects.count { for j in (i + 1)..<s.objects.count {
                XCTAssertTrue(SceneSampler.apart(s.objects[i], s.objects[j], extent: SIMD2(1, 1)))
            } }
        }
    }

    /// A redrawn scene has the same detailed caption (same caption seed) as the scene it came from,
    /// stays inside the frame with its objects apart, and moves the objects within their ninths.
    func testRedrawnScenesKeepTheDetailedCaption() {
        var rng = SplitMix64(seed: 12)
        var moved = 0, objects = 0
        for i in 0..<200 {
            let s = SceneSampler.random(using: &rng)
            let r = SceneSampler.redrawn(s, using: &rng)
            var a = SplitMix64(seed: UInt64(i)), b = SplitMix64(seed: UInt64(i))
            XCTAssertEqual(Captioner.detailed(r, using: &b), Captioner.detailed(s, using: &a))
            XCTAssertEqual(r.background, s.background)
            XCTAssertEqual(r.objects.count, s.objects.count)
            for (o, p) in zip(s.objects, r.objects) {
                XCTAssertEqual([o.shape.rawValue, o.color.rawValue, o.size.rawValue, o.motion.rawValue, o.speed.rawValue],
                               [p.shape.rawValue, p.color.rawValue, p.size.rawValue, p.motion.rawValue, p.speed.rawValue])
                XCTAssertEqual(StartRegion(x: p.x, y: p.y), StartRegion(x: o.x, y: o.y))
                for k in 0...15 {
                    let st = p.state(at: Float(k) / 15, extent: SIMD2(1, 1))
                    XCTAssertGreaterThanOrEqual(min(st.cx - st.radius, st.cy - st.radius), 0.03)
                    XCTAssertLessThanOrEqual(max(st.cx + st.radius, st.cy + st.radius), 0.97)
                }
                objects += 1
                if abs(o.x - p.x) + abs(o.y - p.y) > 0.01 { moved += 1 }
            }
            for i in 0..<r.objects.count { for j in (i + 1)..<r.objects.count {
                XCTAssertTrue(SceneSampler.apart(r.objects[i], r.objects[j], extent: SIMD2(1, 1)))
            } }
        }
        XCTAssertGreaterThan(moved, objects * 3 / 4, "most objects start somewhere else in their ninth")
    }

    func testSpecJSONRoundTripAndValidation() throws {
        var rng = SplitMix64(seed: 3)
        let s = SceneSampler.random(using: &rng)
        let back = try JSONDecoder().decode(SceneSpec.self, from: try JSONEncoder().encode(s))
        XCTAssertEqual(back, s)
        XCTAssertThrowsError(try Renderer.render(SceneSpec(objects: [], background: Background(color: .white))))
        let o = ObjectSpec(shape: .star, color: .red)
        XCTAssertThrowsError(try Renderer.render(SceneSpec(objects: [o, o, o, o], background: Background(color: .white))))
        XCTAssertThrowsError(try Renderer.render(SceneSpec(objects: [o], background: Background(color: .white)),
                                                 config: RenderConfig(frames: 0)))
        XCTAssertThrowsError(try Renderer.render(SceneSpec(objects: [o], background: Background(color: .white)),
                                                 config: RenderConfig(frames: 4096, height: 4096, width: 4096)))
        var bad = o
        bad.x = .nan
        XCTAssertThrowsError(try Renderer.render(SceneSpec(objects: [bad], background: Background(color: .white))))
        XCTAssertThrowsError(try JSONDecoder().decode(SceneSpec.self, from: Data(#"{"objects":[{"shape":"hexagon"}]}"#.utf8)))
    }

    func testRGB24Conversion() {
        XCTAssertEqual(Clip.rgb24([0, 1, 0.5, -3, 7, 0.1, .nan, .infinity, -.infinity]), [0, 255, 128, 0, 255, 26, 0, 255, 0])
        XCTAssertEqual(Clip.floats([0, 255]), [0, 1])
    }

    /// The detailed caption states every attribute: parsing it back recovers the spec's attributes.
    func testDetailedCaptionsCarryEveryAttribute() throws {
        var rng = SplitMix64(seed: 21)
        var regionsKept = 0, regionsTotal = 0
        defer {
            print("start regions recovered: \(regionsKept) / \(regionsTotal)")
            XCTAssertGreaterThan(Float(regionsKept) / Float(max(regionsTotal, 1)), 0.95)
        }
        for i in 0..<300 {
            let s = SceneSampler.random(using: &rng)
            var crng = SplitMix64(seed: UInt64(i))
            let text = Captioner.detailed(s, using: &crng)
            let p = try CaptionParser.parse(text, seed: 1)
            XCTAssertEqual(p.background, s.background, text)
            XCTAssertEqual(p.objects.count, s.objects.count, text)
            for (a, b) in zip(s.objects, p.objects) {
                XCTAssertEqual([a.shape.rawValue, a.color.rawValue, a.size.rawValue, a.motion.rawValue],
                               [b.shape.rawValue, b.color.rawValue, b.size.rawValue, b.motion.rawValue], text)
                if a.motion != .static { XCTAssertEqual(a.speed, b.speed, text) }
                if StartRegion(x: a.x, y: a.y) == StartRegion(x: b.x, y: b.y) { regionsKept += 1 }
                regionsTotal += 1
            }
        }
    }

    func testTerseAndWebCaptionRates() throws {
        var rng = SplitMix64(seed: 8)
        let specs = (0..<300).map { _ in SceneSampler.random(using: &rng) }
        // Terse: lower case, shorter than detailed; colour and shape survive typos in most prompts.
        var kept = 0, total = 0, typos = 0
        for (i, s) in specs.enumerated() {
            var c = SplitMix64(seed: UInt64(i))
            let t = Captioner.terse(s, using: &c)
            XCTAssertEqual(t, t.lowercased())
            var c2 = SplitMix64(seed: UInt64(i))
            XCTAssertLessThan(t.count, Captioner.detailed(s, using: &c2).count)
            var clean = SplitMix64(seed: UInt64(i))
            if t != Captioner.terse(s, options: CaptionOptions(typoRate: 0), using: &clean) { typos += 1 }
            let p = try CaptionParser.parse(t)
            for (a, b) in zip(s.objects, p.objects) { total += 1; if a.shape == b.shape && a.color == b.color { kept += 1 } }
        }
        XCTAssertGreaterThan(Float(kept) / Float(total), 0.9)
        XCTAssertGreaterThan(typos, 30, "typos happen at the default rate")
        // Web: at wrong rate 1 the colour is always wrong; at rates 0 it is always right; at the
        // default rates (0.35 missing, then 0.15 wrong) about 0.55 of colours survive.
        var survived = 0
        for (i, s) in specs.filter({ $0.objects.count == 1 }).prefix(100).enumerated() {
            var a = SplitMix64(seed: UInt64(i)), b = SplitMix64(seed: UInt64(i)), c = SplitMix64(seed: UInt64(i))
            let wrong = Captioner.web(s, options: CaptionOptions(webWrongRate: 1, webMissingRate: 0), using: &a)
            let right = Captioner.web(s, options: CaptionOptions(webWrongRate: 0, webMissingRate: 0), using: &b)
            XCTAssertNotEqual(try CaptionParser.parse(wrong).objects[0].color, s.objects[0].color, wrong)
            XCTAssertEqual(try CaptionParser.parse(right).objects[0].color, s.objects[0].color, right)
            XCTAssertEqual(try CaptionParser.parse(right).objects[0].shape, s.objects[0].shape, right)
            let text = Captioner.web(s, using: &c).lowercased()
            if Vocabulary.colorWords(s.objects[0].color).contains(where: { text.contains(" \($0) ") }) { survived += 1 }
        }
        XCTAssertEqual(Double(survived) / 100, 0.55, accuracy: 0.15)
    }

    func testCaptionParserReadsTypedPrompts() throws {
        let s = try CaptionParser.parse("big red ball going rigth fast and a blue star spinning on grey")
        XCTAssertEqual(s.objects.count, 2)
        XCTAssertEqual(s.objects[0].shape, .circle)
        XCTAssertEqual(s.objects[0].size, .large)
        XCTAssertEqual(s.objects[0].motion, .right)
        XCTAssertEqual(s.objects[0].speed, .fast)
        XCTAssertEqual(s.objects[1].color, .blue)
        XCTAssertEqual(s.objects[1].motion, .rotate)
        XCTAssertEqual(s.background.color, .gray)
        XCTAssertThrowsError(try CaptionParser.parse("a beautiful sunset"))
    }

    func testDegradationsChangeFramesReproducibly() throws {
        let o = ObjectSpec(shape: .square, color: .red, size: .medium, motion: .right, speed: .fast, x: 0.3, y: 0.5)
        let spec = SceneSpec(objects: [o], background: Background(color: .gray))
        let f = try Renderer.render(spec)
        for k in DegradationKind.allCases {
            XCTAssertEqual(Degradation(k, strength: 0).apply(f, config: .standard, seed: 1), f, "\(k) at 0")
            let a = Degradation(k, strength: 0.5).apply(f, config: .standard, seed: 1)
            XCTAssertEqual(a, Degradation(k, strength: 0.5).apply(f, config: .standard, seed: 1), "\(k) is seeded")
            XCTAssertNotEqual(a, f, "\(k) changes frames")
            XCTAssertTrue(a.allSatisfy { $0 >= 0 && $0 <= 1 }, "\(k) stays in [0, 1]")
        }
    }

    /// `ClipFilters.gaussianBlurred`: a constant clip is unchanged, an impulse spreads inside its
    /// own frame only with variance sigma² along each axis (edges far away), the other frames and
    /// channels untouched; a clip of the wrong size comes back as it was.
    func testGaussianBlurredClip() {
        let c = RenderConfig(frames: 2, height: 32, width: 32, fps: 8)
        let n = c.frames * c.height * c.width * 3
        let flat = [Float](repeating: 0.4, count: n)
        for (a, b) in zip(ClipFilters.gaussianBlurred(flat, config: c, sigma: 2), flat) { XCTAssertEqual(a, b, accuracy: 1e-6) }
        var impulse = [Float](repeating: 0, count: n)
        impulse[((1 * 32 + 16) * 32 + 16) * 3 + 1] = 1           // frame 1, (y, x) = (16, 16), green
        for sigma: Float in [1, 2.5] {
            let b = ClipFilters.gaussianBlurred(impulse, config: c, sigma: sigma)
            var mass: Float = 0, vx: Float = 0, vy: Float = 0, elsewhere: Float = 0
            for f in 0..<2 { for y in 0..<32 { for x in 0..<32 { for ch in 0..<3 {
                let v = b[((f * 32 + y) * 32 + x) * 3 + ch]
                if f == 1 && ch == 1 { mass += v; vx += v * Float((x - 16) * (x - 16)); vy += v * Float((y - 16) * (y - 16)) }
                else { elsewhere += abs(v) }
            } } } }
            XCTAssertEqual(mass, 1, accuracy: 1e-4); XCTAssertEqual(elsewhere, 0)
            XCTAssertEqual(vx, sigma * sigma, accuracy: 0.05 * sigma * sigma); XCTAssertEqual(vy, sigma * sigma, accuracy: 0.05 * sigma * sigma)
        }
        XCTAssertEqual(ClipFilters.gaussianBlurred([1, 2, 3], config: c, sigma: 2), [1, 2, 3])
    }

    func testShardRoundTripAndCorruption() throws {
        let config = RenderConfig(frames: 4, height: 16, width: 24, fps: 8)
        var records: [ShardRecord] = []
        for i in 0..<5 {
            var rng = SplitMix64(seed: UInt64(i))
            let clip = try Renderer.clip(SceneSampler.random(using: &rng, extent: SIMD2(1.5, 1)), config: config, seed: UInt64(i))
            records.append(ShardRecord(clip: clip, degradations: i == 2 ? [Degradation(.noise, strength: 0.3)] : []))
        }
        let path = NSTemporaryDirectory() + "shard-\(getpid()).vgsw"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try Shard.write(records, config: config, to: path)
        let (c, back) = try Shard.read(path: path)
        XCTAssertEqual(c, config)
        XCTAssertEqual(back.count, 5)
        for (a, b) in zip(records, back) {
            XCTAssertEqual(a.clip.spec, b.clip.spec)
            XCTAssertEqual(a.clip.captions, b.clip.captions)
            XCTAssertEqual(a.clip.seed, b.clip.seed)
            XCTAssertEqual(a.degradations, b.degradations)
            XCTAssertEqual(a.clip.rgb24(), b.clip.rgb24())
        }
        let bytes = try Shard.encode(records, config: config)
        XCTAssertThrowsError(try Shard.decode(Array(bytes.prefix(bytes.count - 10))))
        var badMagic = bytes
        badMagic[0] = 0
        XCTAssertThrowsError(try Shard.decode(badMagic))
        XCTAssertThrowsError(try Shard.decode([]))
        var badLen = bytes
        badLen[32] = 0xFF; badLen[33] = 0xFF; badLen[34] = 0xFF; badLen[35] = 0x7F
        XCTAssertThrowsError(try Shard.decode(badLen))
    }

    func testRenderRateAtLeast200ClipsPerSecond() throws {
        var rng = SplitMix64(seed: 99)
        let specs = (0..<50).map { _ in SceneSampler.random(using: &rng) }
        var sink: Float = 0
        let t0 = Date()
        for i in 0..<400 { sink += try Renderer.render(specs[i % 50])[i] }
        let rate = 400 / Date().timeIntervalSince(t0)
        print("render rate: \(Int(rate)) clips/s (16 x 64 x 64, one thread), sink \(sink)")
        XCTAssertGreaterThan(rate, 200)
    }
}

import Foundation
import XCTest
import ShapeWorld

final class ClipStreamTests: XCTestCase {
    func testRecordsDependOnlyOnSeedAndIndex() throws {
        let s = ClipStream(seed: 5, degradedShare: 0.5)
        let a = try s.record(at: 17), b = try s.records(15..<18)[2]
        XCTAssertEqual(a.clip.frames, b.clip.frames)
        XCTAssertEqual(a.clip.captions, b.clip.captions)
        XCTAssertNotEqual(try s.record(at: 18).clip.spec, a.clip.spec)
        XCTAssertNotEqual(try ClipStream(seed: 6).record(at: 17).clip.spec, a.clip.spec)
        XCTAssertEqual(s.spec(at: 17), a.clip.spec, "spec(at:) is the scene record(at:) renders")
    }

    func testMaxObjectsNarrowsTheStreamAndDefaultsToTheFullWorld() throws {
        let full = ClipStream(seed: 9), single = ClipStream(seed: 9, maxObjects: 1)
        let fullCounts = (0..<60).map { full.spec(at: $0).objects.count }
        XCTAssertEqual(Set(fullCounts), [1, 2, 3], "the default stream keeps scenes of 1, 2 and 3 objects")
        XCTAssertEqual(full.maxObjects, SceneSpec.maxObjects)
        for i in 0..<60 {
            let s = single.spec(at: i)
            XCTAssertEqual(s.objects.count, 1)
            // A scene that had one object anyway is the same scene (the cap changes nothing else).
            if fullCounts[i] == 1 { XCTAssertEqual(s, full.spec(at: i)) }
        }
        XCTAssertEqual(try single.record(at: 4).clip.spec, single.spec(at: 4))
    }

    func testMultiObjectShareSetsTheShareOfScenesWithSeveralObjects() throws {
        let n = 2000
        func counts(_ s: ClipStream) -> [Int] { (0..<n).map { s.spec(at: $0).objects.count } }
        let world = counts(ClipStream(seed: 21)), half = counts(ClipStream(seed: 21, multiObjectShare: 0.5))
        XCTAssertEqual(world, half, "nil is the world's own 50 % split, drawn alike")
        let few = counts(ClipStream(seed: 21, multiObjectShare: 0.15))
        let multi = Double(few.filter { $0 > 1 }.count) / Double(n)
        XCTAssertEqual(multi, 0.15, accuracy: 0.03, "about 15 % multi-object scenes (se ~0.008)")
        let three = Double(few.filter { $0 == 3 }.count) / Double(few.filter { $0 > 1 }.count)
        XCTAssertEqual(three, 0.4, accuracy: 0.1, "two and three objects at 3 : 2 (a crowded draw may lose one)")
        // A scene drawn with one object in both streams is the same scene.
        for i in 0..<200 where world[i] == 1 && few[i] == 1 {
            XCTAssertEqual(ClipStream(seed: 21).spec(at: i), ClipStream(seed: 21, multiObjectShare: 0.15).spec(at: i))
        }
        XCTAssertEqual(Set(counts(ClipStream(seed: 21, multiObjectShare: 0)).prefix(300)), [1])
        let pairs = counts(ClipStream(seed: 21, maxObjects: 2, multiObjectShare: 1)).prefix(300)
        XCTAssertEqual(Set(pairs).subtracting([1, 2]), [], "capped at two")
        XCTAssertGreaterThan(pairs.filter { $0 == 2 }.count, 285, "two objects unless no placement fits")
    }

    /// A swapped scene changes only the objects' shapes (and the rotation of shapes that become
    /// circles or turn into non-round ones): circles become other shapes, the rest circles; the
    /// rendered clips differ only where either scene's objects are.
    func testShapesSwappedChangesOnlyTheShapes() throws {
        let stream = ClipStream(seed: 13)
        var fromCircle: Set<ShapeKind> = [], checked = 0
        for i in 0..<60 {
            let spec = stream.spec(at: i)
            var r = SplitMix64(seed: UInt64(i))
            let swapped = SceneSampler.shapesSwapped(spec, uprightShare: 1, using: &r)
            XCTAssertEqual(swapped.background, spec.background)
            XCTAssertEqual(swapped.objects.count, spec.objects.count)
            for (a, b) in zip(spec.objects, swapped.objects) {
                var z = b; z.shape = a.shape; z.rotation = a.rotation
                XCTAssertEqual(z, a, "colour, size, motion, speed and place are kept")
                if a.shape == .circle { XCTAssertNotEqual(b.shape, .circle); fromCircle.insert(b.shape) } else { XCTAssertEqual(b.shape, .circle) }
                if !b.shape.isRound { XCTAssertEqual(b.rotation, 0, "upright share 1") }
            }
            if i < 10 {
                let c = stream.config
                let f0 = try Renderer.render(spec, config: c), f1 = try Renderer.render(swapped, config: c)
                let cov0 = try Renderer.objectCoverage(spec, config: c), cov1 = try Renderer.objectCoverage(swapped, config: c)
                XCTAssertNotEqual(f0, f1)
                for p in 0..<cov0.count where cov0[p] == 0 && cov1[p] == 0 {
                    for ch in 0..<3 { XCTAssertEqual(f0[3 * p + ch], f1[3 * p + ch]) }
                    checked += 1
                }
            }
        }
        XCTAssertEqual(fromCircle, [.square, .triangle, .ring, .star])
        XCTAssertGreaterThan(checked, 10 * 16 * 64 * 64 / 2)
    }

    func testUprightShareTurnsOnlyRotationsAndDefaultsToEveryRotation() throws {
        let any = ClipStream(seed: 11), upright = ClipStream(seed: 11, uprightShare: 1), half = ClipStream(seed: 11, uprightShare: 0.5)
        XCTAssertEqual(any.uprightShare, 0)
        var turned = 0, nonRound = 0, halfUpright = 0
        for i in 0..<80 {
            let a = any.spec(at: i), u = upright.spec(at: i), h = half.spec(at: i)
            XCTAssertEqual(u.objects.count, a.objects.count)
            XCTAssertEqual(u.background, a.background)
            for (x, y) in zip(a.objects, u.objects) {
                // Shape, colour, size, motion, speed and position are the default stream's.
                var z = y; z.rotation = x.rotation
                XCTAssertEqual(z, x)
                if !x.shape.isRound {
                    nonRound += 1
                    XCTAssertEqual(y.rotation, 0, "share 1 shows every non-round shape upright")
                    if x.rotation != 0 { turned += 1 }
                }
            }
            halfUpright += h.objects.filter { !$0.shape.isRound && $0.rotation == 0 }.count
        }
        XCTAssertGreaterThan(nonRound, 40)
        XCTAssertEqual(turned, nonRound, "the default stream turns shapes any way")
        XCTAssertGreaterThan(halfUpright, nonRound / 4)
        XCTAssertLessThan(halfUpright, nonRound * 3 / 4)
        XCTAssertEqual(try upright.record(at: 3).clip.spec, upright.spec(at: 3))
        // Caption draws follow the same share; at share 0 they are the draws of before.
        let spec = upright.spec(at: 5)
        var r1 = SplitMix64(seed: 42), r2 = SplitMix64(seed: 42)
        XCTAssertEqual(SceneSampler.redrawn(spec, uprightShare: 0, using: &r1), SceneSampler.redrawn(spec, using: &r2))
        var r3 = SplitMix64(seed: 42)
        XCTAssertTrue(SceneSampler.redrawn(spec, uprightShare: 1, using: &r3).objects.allSatisfy { $0.shape.isRound || $0.rotation == 0 })
    }

    func testDegradedShareAndPreferencePairs() throws {
        let clean = try ClipStream(seed: 1, degradedShare: 0).records(0..<40)
        XCTAssertTrue(clean.allSatisfy { $0.degradations.isEmpty })
        let noisy = try ClipStream(seed: 1, degradedShare: 1).records(0..<40)
        XCTAssertTrue(noisy.allSatisfy { !$0.degradations.isEmpty })
        XCTAssertEqual(Set(noisy.flatMap { $0.degradations.map { $0.kind } }).count, DegradationKind.allCases.count)
        let s = ClipStream(config: RenderConfig(frames: 8, height: 48, width: 80), seed: 2)
        for i in 0..<20 {
            let p = try s.preferencePair(at: i, dimension: .motion)
            XCTAssertEqual(p.degradation.kind.dimension, .motion)
            XCTAssertEqual(p.better.spec, p.worse.spec)
            XCTAssertNotEqual(p.better.frames, p.worse.frames)
            XCTAssertEqual(p.better.frames.count, 8 * 48 * 80 * 3)
        }
    }

    func testShardReaderStreamsRecords() throws {
        let config = RenderConfig(frames: 4, height: 16, width: 16)
        let records = try ClipStream(config: config, seed: 3, degradedShare: 0.5).records(0..<6)
        var r = try ShardReader(bytes: try Shard.encode(records, config: config))
        XCTAssertEqual(r.count, 6)
        var n = 0
        while let rec = try r.next() {
            XCTAssertEqual(rec.clip.rgb24(), records[n].clip.rgb24())
            XCTAssertEqual(rec.degradations, records[n].degradations)
            n += 1
        }
        XCTAssertEqual(n, 6)
        XCTAssertNil(try r.next())
    }
}

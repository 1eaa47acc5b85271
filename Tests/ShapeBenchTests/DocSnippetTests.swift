import Foundation
import XCTest
import ShapeBench
import ShapeWorld

/// The Swift example in docs/SHAPEWORLD.md, kept compiling and running (without the file write).
final class DocSnippetTests: XCTestCase {
    func testDocExampleRuns() throws {
        var rng = SplitMix64(seed: 42)
        let spec = SceneSampler.random(using: &rng)
        let clip = try Renderer.clip(spec, seed: 42)
        let noisy = Degradation(.blur, strength: 0.5).apply(clip.frames, config: clip.config, seed: 42)
        let report = try ShapeBench.score(frames: noisy, config: clip.config, spec: spec)
        XCTAssertLessThan(report.metrics.sharpness, try ShapeBench.score(clip).metrics.sharpness)
        let stream = ClipStream(seed: 7, degradedShare: 0.3)
        XCTAssertEqual(try stream.records(0..<32).count, 32)
    }
}

import Foundation
import XCTest
import ShapeWorld
import VGVideo

final class ManifestTests: XCTestCase {
    func testBadEntriesAreReportedAndSkipped() throws {
        let dir = NSTemporaryDirectory() + "manifest-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let o = ObjectSpec(shape: .star, color: .orange, size: .large, motion: .left, speed: .fast, x: 0.7, y: 0.5)
        let clip = try Renderer.clip(SceneSpec(objects: [o], background: Background(color: .white)), seed: 1)
        try VideoIO.writeMP4(VideoFrames(width: 64, height: 64, fps: 8, rgb: clip.rgb24()), to: dir + "/good.mp4")
        try Data(repeating: 0x42, count: 3000).write(to: URL(fileURLWithPath: dir + "/bad.mp4"))
        let lines = [
            #"{"video": "good.mp4", "caption": "an orange star moving left"}"#,
            #"{"video": "bad.mp4", "caption": "garbage bytes"}"#,
            #"{"video": "missing.mp4", "caption": "no such file"}"#,
            "this is not json",
            "",
            #"{"video": "good.mp4", "caption": "   "}"#,
            #"{"caption": "no video field"}"#,
        ]
        try lines.joined(separator: "\n").write(toFile: dir + "/m.jsonl", atomically: true, encoding: .utf8)
        let r = try Manifest.load(path: dir + "/m.jsonl", config: RenderConfig(frames: 8, height: 32, width: 32))
        XCTAssertEqual(r.clips.count, 1)
        XCTAssertEqual(r.clips.first?.captions.detailed, "an orange star moving left")
        XCTAssertEqual(r.clips.first?.frames.count, 8 * 32 * 32 * 3)
        XCTAssertEqual(r.skipped.map { $0.line }, [2, 3, 4, 6, 7])
        XCTAssertThrowsError(try Manifest.load(path: dir + "/nope.jsonl"))
        // The lazy path: lines parsed without decoding; decoding errors come per entry.
        let (entries, early) = try Manifest.entries(path: dir + "/m.jsonl")
        XCTAssertEqual(entries.map { $0.line }, [1, 2, 3])
        XCTAssertEqual(early.map { $0.line }, [4, 6, 7])
        XCTAssertNoThrow(try entries[0].load(config: .standard))
        XCTAssertThrowsError(try entries[1].load(config: .standard))
    }
}

import Foundation
import XCTest
@testable import VGVideo

/// Checks video output with ffprobe (the `ffmpeg` Debian package, installed by Scripts/install-deps.sh).
final class VideoIOTests: XCTestCase {
    var dir = ""

    override func setUpWithError() throws {
        dir = NSTemporaryDirectory() + "vgvideo-tests-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
    }

    override func tearDownWithError() throws { try? FileManager.default.removeItem(atPath: dir) }

    /// A moving gradient square over a flat background. // [F, H, W, 3]
    func testPattern(frames: Int, width: Int, height: Int) -> VideoFrames {
        var rgb = [UInt8](repeating: 0, count: frames * width * height * 3)
        for f in 0..<frames { for y in 0..<height { for x in 0..<width {
            let i = ((f * height + y) * width + x) * 3
            let inside = abs(x - (f * 2 + 8)) < 6 && abs(y - height / 2) < 6
            rgb[i] = inside ? 230 : 40
            rgb[i + 1] = inside ? UInt8(min(255, x * 3)) : 90
            rgb[i + 2] = inside ? 30 : 160
        } } }
        return VideoFrames(width: width, height: height, fps: 8, rgb: rgb)
    }

    /// ffprobe's answer for the first video stream: codec, width, height, frame rate, frames read.
    func probe(_ path: String) throws -> [String: String] {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: "/usr/bin/ffprobe")
        p.arguments = ["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
                       "stream=codec_name,width,height,r_frame_rate,nb_read_frames,pix_fmt", "-of", "default=noprint_wrappers=1", path]
        let pipe = Pipe()
        p.standardOutput = pipe
        try p.run()
        let data = pipe.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0, "ffprobe failed on \(path)")
        var out: [String: String] = [:]
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            let kv = line.split(separator: "=", maxSplits: 1)
            if kv.count == 2 { out[String(kv[0])] = String(kv[1]) }
        }
        return out
    }

    func testMP4H264FrameCountSizeAndRate() throws {
        let path = dir + "/a.mp4"
        let codec = try VideoIO.writeMP4(testPattern(frames: 16, width: 64, height: 64), to: path)
        XCTAssertEqual(codec, "libx264")
        let p = try probe(path)
        XCTAssertEqual(p["codec_name"], "h264")
        XCTAssertEqual(p["pix_fmt"], "yuv420p")
        XCTAssertEqual(p["width"], "64")
        XCTAssertEqual(p["height"], "64")
        XCTAssertEqual(p["r_frame_rate"], "8/1")
        XCTAssertEqual(p["nb_read_frames"], "16")
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir), ["a.mp4"], "no temporary file left")
    }

    func testMP4MPEG4FallbackAndOddSizePadding() throws {
        let path = dir + "/b.mp4"
        XCTAssertEqual(try VideoIO.writeMP4(testPattern(frames: 10, width: 63, height: 47), to: path, codec: .mpeg4), "mpeg4")
        let p = try probe(path)
        XCTAssertEqual(p["codec_name"], "mpeg4")
        XCTAssertEqual(p["width"], "64")
        XCTAssertEqual(p["height"], "48")
        XCTAssertEqual(p["nb_read_frames"], "10")
    }

    func testReadBackResizesAndSamples() throws {
        let path = dir + "/c.mp4"
        let v = testPattern(frames: 16, width: 64, height: 64)
        try VideoIO.writeMP4(v, to: path)
        let r = try VideoIO.read(path: path, width: 32, height: 24, frames: 5)
        XCTAssertEqual(r.width, 32)
        XCTAssertEqual(r.height, 24)
        XCTAssertEqual(r.frameCount, 5)
        XCTAssertEqual(r.fps, 8)
        // The background colour (40, 90, 160) survives H.264 + scaling within a few levels.
        let corner = Array(r.frame(0).prefix(3))
        XCTAssertEqual(Double(corner[0]), 40, accuracy: 6)
        XCTAssertEqual(Double(corner[1]), 90, accuracy: 6)
        XCTAssertEqual(Double(corner[2]), 160, accuracy: 6)
        // Sampling is even: the square has moved right between the first and the last sample.
        func squareX(_ f: ArraySlice<UInt8>) -> Int {
            let b = Array(f)
            var best = 0, bestV = 0
            for x in 0..<32 { let v = Int(b[(12 * 32 + x) * 3]); if v > bestV { bestV = v; best = x } }
            return best
        }
        XCTAssertGreaterThan(squareX(r.frame(4)), squareX(r.frame(0)) + 8)
    }

    func testStreamingWriterAndUnfinishedWriterLeavesNothing() throws {
        let v = testPattern(frames: 5, width: 31, height: 20)
        let path = dir + "/s.mp4"
        let w = try MP4Writer(path: path, width: 31, height: 20, fps: 12)
        XCTAssertThrowsError(try w.append(rgb: [1, 2, 3]))
        for i in 0..<5 { try w.append(rgb: Array(v.frame(i))) }
        XCTAssertFalse(FileManager.default.fileExists(atPath: path), "nothing at the path before finish")
        try w.finish()
        XCTAssertThrowsError(try w.append(rgb: Array(v.frame(0))))
        let p = try probe(path)
        XCTAssertEqual(p["nb_read_frames"], "5")
        XCTAssertEqual(p["width"], "32")
        XCTAssertEqual(p["r_frame_rate"], "12/1")
        do {
            let u = try MP4Writer(path: dir + "/u.mp4", width: 8, height: 8, fps: 8)
            try u.append(rgb: [UInt8](repeating: 9, count: 8 * 8 * 3))
        }
        let empty = try MP4Writer(path: dir + "/e.mp4", width: 8, height: 8, fps: 8)
        XCTAssertThrowsError(try empty.finish())
        XCTAssertEqual(try FileManager.default.contentsOfDirectory(atPath: dir).filter { !$0.hasPrefix("e.mp4") }, ["s.mp4"])
    }

    func testY4M() throws {
        let path = dir + "/d.y4m"
        try VideoIO.writeY4M(testPattern(frames: 7, width: 40, height: 30), to: path)
        let p = try probe(path)
        XCTAssertEqual(p["codec_name"], "rawvideo")
        XCTAssertEqual(p["width"], "40")
        XCTAssertEqual(p["height"], "30")
        XCTAssertEqual(p["nb_read_frames"], "7")
        XCTAssertEqual(p["pix_fmt"], "yuv444p")
    }

    func testPNGIsLossless() throws {
        let path = dir + "/e.png"
        let v = testPattern(frames: 1, width: 33, height: 21)
        try VideoIO.writePNG(rgb: v.rgb, width: 33, height: 21, to: path)
        let p = try probe(path)
        XCTAssertEqual(p["codec_name"], "png")
        XCTAssertEqual(p["width"], "33")
        let back = try VideoIO.read(path: path, width: 33, height: 21, frames: 1)
        XCTAssertEqual(back.rgb, v.rgb)
    }

    func testBadInputsAreTypedErrors() throws {
        XCTAssertThrowsError(try VideoIO.read(path: dir + "/missing.mp4", width: 8, height: 8, frames: 2)) { e in
            guard case VideoError.unreadable = e else { return XCTFail("\(e)") }
        }
        let junk = dir + "/junk.mp4"
        try Data((0..<5000).map { UInt8(truncatingIfNeeded: $0 &* 7919) }).write(to: URL(fileURLWithPath: junk))
        XCTAssertThrowsError(try VideoIO.read(path: junk, width: 8, height: 8, frames: 2)) { e in
            guard case VideoError.unreadable = e else { return XCTFail("\(e)") }
        }
        let bad = VideoFrames(width: 4, height: 4, fps: 8, rgb: [UInt8](repeating: 0, count: 47))
        XCTAssertThrowsError(try VideoIO.writeMP4(bad, to: dir + "/x.mp4")) { e in
            guard case VideoError.invalidInput = e else { return XCTFail("\(e)") }
        }
        XCTAssertThrowsError(try VideoIO.writeMP4(testPattern(frames: 2, width: 8, height: 8), to: dir + "/no/such/dir/x.mp4"))
        XCTAssertThrowsError(try VideoIO.read(path: junk, width: 0, height: 8, frames: 2))
        XCTAssertThrowsError(try VideoIO.read(path: junk, width: 8192, height: 8192, frames: 100))
    }
}

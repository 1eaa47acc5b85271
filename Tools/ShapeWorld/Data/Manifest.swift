import Foundation
import VGVideo

/// A JSONL manifest of real videos with captions, one `{"video": "clip.mp4", "caption": "..."}` per
/// line, so a user can fine-tune on their own clips. Relative paths are resolved against the
/// manifest's directory.
public enum Manifest {
    /// One line that could not be used, and why.
    public struct Problem: Sendable, Equatable, CustomStringConvertible {
        /// 1-based line number in the manifest.
        public var line: Int
        /// Why the line was skipped.
        public var reason: String
        public var description: String { "line \(line): \(reason)" }
    }

    /// What a load produced: the clips that decoded, and the lines that were skipped.
    public struct Result: Sendable {
        /// The clips that decoded, in manifest order.
        public var clips: [Clip]
        /// The lines that were skipped, with reasons.
        public var skipped: [Problem]
    }

    struct Entry: Decodable {
        var video: String
        var caption: String
    }

    /// Loads every usable entry at geometry `config` (decode, resize, sample `config.frames` frames).
    /// Bad lines (bad JSON, missing fields, empty caption, unreadable video) are reported in
    /// `skipped` and never stop the load; only an unreadable manifest file throws.
    public static func load(path: String, config: RenderConfig = .standard) throws -> Result {
        try config.validate()
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShapeWorldError.badManifest("cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let dir = (path as NSString).deletingLastPathComponent
        var clips: [Clip] = []
        var skipped: [Problem] = []
        let dec = JSONDecoder()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            let entry: Entry
            do { entry = try dec.decode(Entry.self, from: Data(line.utf8)) } catch {
                skipped.append(Problem(line: i + 1, reason: "not a {\"video\", \"caption\"} JSON object"))
                continue
            }
            let caption = entry.caption.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !caption.isEmpty else { skipped.append(Problem(line: i + 1, reason: "empty caption")); continue }
            let videoPath = entry.video.hasPrefix("/") || dir.isEmpty ? entry.video : dir + "/" + entry.video
            do {
                let v = try VideoIO.read(path: videoPath, width: config.width, height: config.height, frames: config.frames)
                var c = config
                c.fps = v.fps
                clips.append(Clip(frames: Clip.floats(v.rgb), config: c, spec: nil,
                                  captions: CaptionSet(all: caption), seed: 0))
            } catch {
                skipped.append(Problem(line: i + 1, reason: "\(error)"))
            }
        }
        return Result(clips: clips, skipped: skipped)
    }
}

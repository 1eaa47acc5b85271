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

    /// One well-formed manifest line; its video is decoded only by `load(config:)`.
    public struct Entry: Sendable, Equatable {
        /// 1-based line number in the manifest.
        public var line: Int
        /// The video path, resolved against the manifest's directory.
        public var video: String
        /// The caption, trimmed.
        public var caption: String

        /// Decodes, resizes and samples the video into a clip with this entry's caption.
        public func load(config: RenderConfig) throws -> Clip {
            let v = try VideoIO.read(path: video, width: config.width, height: config.height, frames: config.frames)
            var c = config
            c.fps = v.fps
            return Clip(frames: Clip.floats(v.rgb), config: c, spec: nil, captions: CaptionSet(all: caption), seed: 0)
        }
    }

    struct Line: Decodable {
        var video: String
        var caption: String
    }

    /// Reads the manifest's lines without decoding any video (for streaming over large manifests):
    /// the well-formed entries and the lines skipped for bad JSON, missing fields or empty captions.
    public static func entries(path: String) throws -> (entries: [Entry], skipped: [Problem]) {
        guard let data = FileManager.default.contents(atPath: path) else {
            throw ShapeWorldError.badManifest("cannot read \(path)")
        }
        let text = String(decoding: data, as: UTF8.self)
        let dir = (path as NSString).deletingLastPathComponent
        var entries: [Entry] = []
        var skipped: [Problem] = []
        let dec = JSONDecoder()
        for (i, raw) in text.split(separator: "\n", omittingEmptySubsequences: false).enumerated() {
            let line = raw.trimmingCharacters(in: .whitespacesAndNewlines)
            if line.isEmpty { continue }
            guard let e = try? dec.decode(Line.self, from: Data(line.utf8)) else {
                skipped.append(Problem(line: i + 1, reason: "not a {\"video\", \"caption\"} JSON object"))
                continue
            }
            let caption = e.caption.trimmingCharacters(in: .whitespacesAndNewlines)
            guard !caption.isEmpty else { skipped.append(Problem(line: i + 1, reason: "empty caption")); continue }
            let video = e.video.hasPrefix("/") || dir.isEmpty ? e.video : dir + "/" + e.video
            entries.append(Entry(line: i + 1, video: video, caption: caption))
        }
        return (entries, skipped)
    }

    /// Loads every usable entry at geometry `config` (decode, resize, sample `config.frames` frames).
    /// Bad lines (bad JSON, missing fields, empty caption, unreadable video) are reported in
    /// `skipped` and never stop the load; only an unreadable manifest file throws.
    public static func load(path: String, config: RenderConfig = .standard) throws -> Result {
        try config.validate()
        let (entries, early) = try entries(path: path)
        var clips: [Clip] = []
        var skipped = early
        for e in entries {
            do { clips.append(try e.load(config: config)) } catch {
                skipped.append(Problem(line: e.line, reason: "\(error)"))
            }
        }
        skipped.sort { $0.line < $1.line }
        return Result(clips: clips, skipped: skipped)
    }
}

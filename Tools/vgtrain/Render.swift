import ArgumentParser
import Foundation
import ShapeWorld
import VGVideo

/// `vgtrain render`: one spec (JSON) or caption to mp4 / Y4M / PNG contact strip.
struct Render: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Render a scene spec (JSON) or a caption to mp4, Y4M and/or a PNG strip of its frames.")

    @Option(help: "Scene spec: a JSON file path or inline JSON.") var spec: String?
    @Option(help: "A caption to read the scene from (any level: detailed, terse, web).") var caption: String?
    @Option(help: "Seed for placement, captions and degradations.") var seed: UInt64 = 0
    @OptionGroup var geometry: GeometryOptions
    @Option(name: .customLong("degrade"), help: "kind:strength, repeatable (e.g. blur:0.5).") var degrade: [String] = []
    @Option(help: "mp4 output path.") var out: String?
    @Option(help: "Y4M output path.") var y4m: String?
    @Option(help: "PNG output: the frames side by side.") var png: String?

    func run() throws {
        let config = try geometry.validated()
        var rng = SplitMix64(seed: seed)
        let scene = try sceneArgument(spec: spec, caption: caption, seed: seed) ?? SceneSampler.random(using: &rng)
        let degradations = try degrade.map(parseDegradation)
        let clip: Clip
        do { clip = try Renderer.clip(scene, config: config, seed: seed) } catch { throw CLIError("\(error)") }
        let frames = degradations.apply(clip.frames, config: config, seed: seed)
        let video = VideoFrames(width: config.width, height: config.height, fps: config.fps, rgb: Clip.rgb24(frames))
        guard out != nil || y4m != nil || png != nil else { throw CLIError("give at least one of --out, --y4m, --png") }
        do {
            if let out { print("wrote \(out) (\(try VideoIO.writeMP4(video, to: out)))") }
            if let y4m { try VideoIO.writeY4M(video, to: y4m); print("wrote \(y4m)") }
            if let png {
                let strip = Sheet.strip(frames, config: config, every: max(1, config.frames / 8), scale: 2)
                try VideoIO.writePNG(rgb: strip.rgb, width: strip.width, height: strip.height, to: png)
                print("wrote \(png)")
            }
        } catch { throw CLIError("\(error)") }
        let enc = JSONEncoder()
        enc.outputFormatting = [.sortedKeys]
        print("spec: \(String(decoding: (try? enc.encode(scene)) ?? Data(), as: UTF8.self))")
        print("detailed: \(clip.captions.detailed)\nterse: \(clip.captions.terse)\nweb: \(clip.captions.web)")
    }
}

/// Lays frames out as images.
enum Sheet {
    /// Every `every`-th frame side by side, each scaled up `scale` times (nearest), 2 px gaps.
    static func strip(_ frames: [Float], config c: RenderConfig, every: Int, scale: Int) -> (rgb: [UInt8], width: Int, height: Int) {
        let picks = Array(stride(from: 0, to: c.frames, by: every))
        let tw = c.width * scale, th = c.height * scale, gap = 2
        let w = picks.count * tw + (picks.count - 1) * gap, h = th
        var out = [UInt8](repeating: 255, count: w * h * 3)
        let bytes = Clip.rgb24(frames)
        for (k, fi) in picks.enumerated() {
            for y in 0..<th { for x in 0..<tw {
                let s = ((fi * c.height + y / scale) * c.width + x / scale) * 3
                let d = (y * w + k * (tw + gap) + x) * 3
                out[d] = bytes[s]; out[d + 1] = bytes[s + 1]; out[d + 2] = bytes[s + 2]
            } }
        }
        return (out, w, h)
    }

    typealias Image = (rgb: [UInt8], width: Int, height: Int)

    /// Images placed side by side with 6 px gaps (white background).
    static func row(_ images: [Image]) -> Image {
        compose(images, horizontal: true)
    }

    /// Strips stacked vertically with 6 px gaps.
    static func stack(_ strips: [Image]) -> Image {
        compose(strips, horizontal: false)
    }

    private static func compose(_ images: [Image], horizontal: Bool) -> Image {
        let gap = 6, extra = gap * max(0, images.count - 1)
        let w = horizontal ? images.map(\.width).reduce(0, +) + extra : images.map(\.width).max() ?? 1
        let h = horizontal ? images.map(\.height).max() ?? 1 : images.map(\.height).reduce(0, +) + extra
        var out = [UInt8](repeating: 255, count: w * h * 3)
        var at = 0
        for im in images {
            for y in 0..<im.height {
                let src = y * im.width * 3
                let dst = horizontal ? (y * w + at) * 3 : ((at + y) * w) * 3
                out.replaceSubrange(dst..<dst + im.width * 3, with: im.rgb[src..<src + im.width * 3])
            }
            at += (horizontal ? im.width : im.height) + gap
        }
        return (out, w, h)
    }
}

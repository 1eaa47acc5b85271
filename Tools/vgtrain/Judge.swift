import ArgumentParser
import Foundation
import ShapeBench
import ShapeWorld
import VGVideo

/// `vgtrain judge`: one video against the spec or caption it was asked to show.
struct JudgeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "judge", abstract: "Score one video against a scene spec (JSON) or a caption; print the failed checks and metrics.")

    @Argument(help: "The video (mp4, y4m, png, ...).") var video: String
    @Option(help: "Scene spec: a JSON file path or inline JSON.") var spec: String?
    @Option(help: "The caption the video should show (read with the caption parser).") var caption: String?
    @Option(help: "JSON report path.") var json: String?
    @OptionGroup var geometry: GeometryOptions

    func run() throws {
        let config = try geometry.validated()
        guard let scene = try sceneArgument(spec: spec, caption: caption, seed: 0) else {
            throw CLIError("give --spec or --caption")
        }
        let report: VideoReport
        do {
            let v = try VideoIO.read(path: video, width: config.width, height: config.height, frames: config.frames)
            report = try ShapeBench.score(frames: Clip.floats(v.rgb), config: config, spec: scene, id: video)
        } catch { throw CLIError("\(error)") }
        if let json {
            let e = JSONEncoder()
            e.outputFormatting = [.prettyPrinted, .sortedKeys]
            try writeText(String(decoding: try e.encode(report), as: UTF8.self), to: json)
        }
        print("attribute accuracy \(String(format: "%.3f", report.attributeAccuracy)) (\(report.checks.count - report.failures.count)/\(report.checks.count) checks)")
        for f in report.failures {
            print("  FAIL \(f.attribute)\(f.object.map { "[\($0)]" } ?? ""): expected \(f.expected), saw \(f.observed)")
        }
        let m = report.metrics
        print(String(format: "visual quality %.3f (noise %.3f, sharpness %.3f, blockiness %.3f, deformation %.3f)",
                     m.visualQuality, m.noise, m.sharpness, m.blockiness, m.deformation))
        print(String(format: "motion quality %.3f (flicker %.3f, smoothness %.3f, consistency %.3f), dynamic %@",
                     m.motionQuality, m.temporalFlicker, m.motionSmoothness, m.subjectConsistency, m.dynamic ? "yes" : "no"))
    }
}

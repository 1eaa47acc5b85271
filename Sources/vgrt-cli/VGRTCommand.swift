import ArgumentParser
import Dispatch
import Foundation
import VGRuntime

/// `vgrt`: text to video on the CPU, from the command line.
@main
struct VGRTCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vgrt",
        abstract: "Generate short videos from text on the CPU.",
        discussion: """
        The model is --model, else $VGRT_MODEL, else Models/default.vgpk found beside the executable
        (walking up from it) or in <prefix>/share/vgrt/ of an installation.

        Exit codes: 0 success; 64 usage; 65 bad model file or bad input; 66 model not found;
        69 unsupported by this model or build; 70 internal error; 73 cannot write the output; 130 interrupted.

        Examples:
          vgrt generate "a red ball moving right" -o ball.mp4
          vgrt generate "a small green star spinning on a black background" -o star.png --steps 30 --seed 7
          vgrt info
        """,
        subcommands: [Generate.self, Enhance.self, Info.self])
}

struct ModelOption: ParsableArguments {
    @Option(help: "Model file (.vgpk).") var model: String?

    /// The model path by the documented search order, or exit 66 with the places tried.
    func resolve() throws -> String {
        if let model { return model }
        if let env = ProcessInfo.processInfo.environment["VGRT_MODEL"], !env.isEmpty { return env }
        var tried: [String] = []
        var dir = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        for _ in 0..<6 {
            for candidate in [dir.appendingPathComponent("Models/default.vgpk"), dir.appendingPathComponent("share/vgrt/default.vgpk")] {
                if FileManager.default.fileExists(atPath: candidate.path) { return candidate.path }
                tried.append(candidate.path)
            }
            dir = dir.deletingLastPathComponent()
        }
        throw Failure(66, "no model: pass --model, set VGRT_MODEL, or put default.vgpk in Models/ (tried \(tried.prefix(4).joined(separator: ", ")), ...)")
    }
}

/// An error with its exit code; printed as one line on stderr.
struct Failure: Error, CustomStringConvertible {
    let code: Int32, description: String
    init(_ code: Int32, _ message: String) { self.code = code; description = message }
}

func exitCode(_ e: RuntimeError) -> Int32 {
    switch e {
    case .invalidArgument, .invalidUTF8, .limit, .badModel: return 65
    case .io: return 66
    case .unsupported: return 69
    case .aborted: return 130
    case .encode: return 73
    case .outOfMemory, .internalError: return 70
    }
}

/// Runs a command body, turning its errors into one stderr line and the documented exit code.
func reportingErrors(_ body: () throws -> Void) throws {
    do { try body() } catch let f as Failure {
        FileHandle.standardError.write(Data("vgrt: error: \(f.description)\n".utf8))
        throw ExitCode(f.code)
    } catch let e as RuntimeError {
        FileHandle.standardError.write(Data("vgrt: error: \(e)\n".utf8))
        throw ExitCode(exitCode(e))
    }
}

extension VideoFileFormat: ExpressibleByArgument {}

struct Generate: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Generate a video for a prompt.")
    @Argument(help: "The prompt.") var prompt: String
    @Option(name: .shortAndLong, help: "Output file (.mp4, .png for a PNG sequence, .y4m).") var output: String
    @OptionGroup var model: ModelOption
    @Option(help: "Seed of the initial noise.") var seed: UInt64 = 0
    @Option(help: "Sampling steps (default: the model's).") var steps: Int?
    @Option(help: "Guidance weight (default: the model's).") var guidance: Float?
    @Option(help: "Frames to keep (default: all the model makes).") var frames: Int?
    @Option(help: "Frames per second of the file.") var fps = 8
    @Option(help: "Compute threads.") var threads = ProcessInfo.processInfo.activeProcessorCount
    @Flag(help: "Use the prompt as given (no prompt enhancement).") var noEnhance = false
    @Option(help: "Output format (default: from the extension).") var format: VideoFileFormat?
    @Option(help: "Integer upscaling of the output (nearest).") var scale = 1
    @Flag(help: "Print a JSON summary on stdout.") var json = false

    func validate() throws {
        guard (1...256).contains(threads) else { throw ValidationError("--threads must be 1...256") }
        guard (1...16).contains(scale) else { throw ValidationError("--scale must be 1...16") }
    }

    func run() throws {
        try reportingErrors {
            let path = try model.resolve()
            let started = Date()
            let generator = try VideoGenerator(modelAt: path, threads: threads)
            let loaded = Date().timeIntervalSince(started)
            var usedPrompt = prompt
            if !noEnhance {
                if let e = try? generator.enhance(prompt: prompt) { usedPrompt = e }
                FileHandle.standardError.write(Data("prompt: \(usedPrompt)\(usedPrompt == prompt ? " (no enhancer in this model; used as given)" : "")\n".utf8))
            }
            // Ctrl-C cancels the generation between model blocks; nothing is left under the output name.
            signal(SIGINT, SIG_IGN)
            let source = DispatchSource.makeSignalSource(signal: SIGINT, queue: .global())
            source.setEventHandler { generator.cancel() }
            source.resume()
            defer { source.cancel(); signal(SIGINT, SIG_DFL) }
            var o = GenerationOptions()
            o.seed = seed; o.steps = steps; o.guidance = guidance; o.frames = frames; o.fps = fps
            let tty = isatty(2) != 0
            var firstStep: Double?
            let video = try generator.generate(promptUTF8: Array(usedPrompt.utf8), options: o, progress: { step, total, elapsed in
                if firstStep == nil { firstStep = elapsed }
                let width = 30, done = width * step / max(total, 1)
                let bar = String(repeating: "#", count: done) + String(repeating: ".", count: width - done)
                let line = String(format: "[%@] step %d/%d  %.1fs", bar, step, total, elapsed)
                FileHandle.standardError.write(Data((tty ? "\r" + line : line + "\n").utf8))
                return true
            })
            if tty { FileHandle.standardError.write(Data("\n".utf8)) }
            try video.save(to: output, format: format, scale: scale)
            let total = Date().timeIntervalSince(started)
            if json {
                var usage = rusage()
                getrusage(RUSAGE_SELF.rawValue, &usage)
                let summary: [String: Any] = ["peak_rss_kb": usage.ru_maxrss, "output": output, "frames": video.frames.frameCount, "width": video.frames.width * scale,
                                              "height": video.frames.height * scale, "fps": fps, "seconds": total,
                                              "load_seconds": loaded, "first_step_seconds": firstStep ?? 0, "prompt": usedPrompt, "model": path]
                let data = try JSONSerialization.data(withJSONObject: summary, options: [.sortedKeys])
                print(String(decoding: data, as: UTF8.self))
            } else {
                print("wrote \(output): \(video.frames.frameCount) frames, \(video.frames.width * scale)x\(video.frames.height * scale) at \(fps) fps in \(String(format: "%.1f", total)) s")
            }
        }
    }
}

struct Enhance: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Print the enhanced form of a prompt.")
    @Argument(help: "The prompt.") var prompt: String
    @OptionGroup var model: ModelOption

    func run() throws {
        try reportingErrors {
            let generator = try VideoGenerator(modelAt: try model.resolve())
            print(try generator.enhance(prompt: prompt))
        }
    }
}

struct Info: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Describe a model.")
    @OptionGroup var model: ModelOption

    func run() throws {
        try reportingErrors {
            let path = try model.resolve()
            let m = try LoadedModel(path: path)
            let c = m.config
            print("model: \(path)")
            print("clip: \(c.frames) frames of \(m.frameWidth)x\(m.frameHeight)")
            if let k = m.codec {
                let a = k.autoencoder.config
                print("latent: the transformer samples \(c.frames)x\(a.latentHeight)x\(a.latentWidth)x\(a.latentChannels) latents; the autoencoder (widths \(a.widths)) decodes them")
            }
            print("transformer: width \(c.modelWidth), depth \(c.depth), heads \(c.heads), patch \(c.patchT)x\(c.patchH)x\(c.patchW)")
            print("text encoder: width \(c.textWidth), depth \(c.textDepth), vocabulary \(m.tokenizer.vocabSize), up to \(c.maxTextTokens) tokens")
            print("sampler: \(m.sampler.steps) steps, guidance \(m.sampler.guidance), shift \(m.sampler.shift)\(m.sampler.distilled ? ", distilled" : "")")
            print("prompt enhancer: none")
        }
    }
}

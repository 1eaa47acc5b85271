// swift-generate: a Swift program using the runtime's Swift API (VGRuntime), with the async form
// and Task cancellation.
//
//   swift run -c release swift-generate MODEL.vgpk "a red ball moving right" out.mp4
import Foundation
import VGRuntime

let args = CommandLine.arguments
guard args.count == 4 else {
    FileHandle.standardError.write(Data("usage: swift-generate MODEL.vgpk PROMPT OUTPUT\n".utf8))
    exit(64)
}
do {
    let generator = try VideoGenerator(modelAt: args[1], threads: 2)
    var options = GenerationOptions()
    options.seed = 1
    let video = try await generator.generate(prompt: args[2], options: options)
    try video.save(to: args[3])
    print("wrote \(args[3]): \(video.frames.frameCount) frames of \(video.frames.width)x\(video.frames.height)")
} catch {
    FileHandle.standardError.write(Data("swift-generate: \(error)\n".utf8))
    exit(1)
}

import ArgumentParser
import VGTraining

/// `vgtrain`: the post-training command line. Each verb lives in its own file; later stages add
/// pretrain / sft / grpo / distill verbs beside these.
@main
struct VGTrain: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "vgtrain",
        abstract: "Post-training tools for vgrt: the ShapeWorld data and the ShapeBench judge.",
        subcommands: [Render.self, RenderBench.self, Score.self, JudgeCommand.self, GSBCommand.self, Bench.self,
                      ContactSheet.self, MakeShard.self, BenchmarkSetCommand.self, Pretrain.self, Evaluate.self, Export.self, TinyModel.self, Probe.self, BindingProbe.self, CaptionLengths.self, AutoencoderCommand.self, ShapeClassifierCommand.self])

    /// Tunes the C allocator for training (`ProcessAllocator`), then parses and runs the command.
    static func main() {
        ProcessAllocator.keepFreedMemoryForReuse()
        main(nil)
    }
}

import XCTest
@testable import VGCore
@testable import VGModel
@testable import VGTraining

/// `ClipLength.reframe`: weights moved to shorter clips keep every weight and the first position
/// slices; moved back with a reference, the position table is the reference's plus what changed.
final class ClipLengthTests: XCTestCase {
    // 8 frames of 8 x 8 with 2 x 4 x 4 patches: a token grid of 4 x 2 x 2.
    let config = ModelConfig(frames: 8, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 1,
                             heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 300, maxTextTokens: 12, textWidth: 12,
                             textDepth: 1, textHeads: 2)

    func randomWeights(seed: UInt64) throws -> ParameterSet {
        let p = try ParameterSet(config: config)
        var rng = SeededRandom(seed: seed)
        for n in p.names { rng.fillGaussian(try p.tensor(n).floats, scale: 0.3) }
        return p
    }

    func testShorterClipsKeepTheWeightsAndTheFirstPositionSlices() throws {
        let p = try randomWeights(seed: 1)
        let short = try ClipLength.reframe(p, frames: 2)
        XCTAssertEqual(short.config.frames, 2)
        XCTAssertEqual(short.config.grid.t, 1)
        let slice = 2 * 2 * 16
        for name in p.names where name != "pos_embedding" {
            XCTAssertEqual(try short.tensor(name).toArray(), try p.tensor(name).toArray(), name)
        }
        XCTAssertEqual(try short.tensor("pos_embedding").shape, [4, 16])
        XCTAssertEqual(try short.tensor("pos_embedding").toArray(), Array(try p.tensor("pos_embedding").toArray()[0..<slice]))
        // Four frames: the first two slices.
        let half = try ClipLength.reframe(p, frames: 4)
        XCTAssertEqual(try half.tensor("pos_embedding").toArray(), Array(try p.tensor("pos_embedding").toArray()[0..<(2 * slice)]))

        // The short model runs: a forward on a [2, 8, 8, 3] clip gives finite values.
        let model = try VideoDiT(weights: try ModelWeights(short, config: short.config))
        let ctx = try ComputeContext(threads: 1), acts = try ModelActivations(config: short.config, saveForBackward: false)
        try model.encodeText(ctx, tokens: [1, 7, 2], acts: acts)
        let clip = try Tensor(zeros: [2, 8, 8, 3]); var rng = SeededRandom(seed: 3); rng.fillGaussian(clip.floats)
        let out = try model.predict(ctx, noisy: clip, level: 0.5, acts: acts)
        XCTAssertEqual(out.shape, [4, 2 * 4 * 4 * 3])
        XCTAssertTrue(out.toArray().allSatisfy(\.isFinite))
    }

    func testLongerClipsTakeTheReferenceRowsPlusWhatChanged() throws {
        let video = try randomWeights(seed: 4)
        let image = try ClipLength.reframe(video, frames: 2)
        // Untouched, the round trip gives the video model back exactly.
        let back = try ClipLength.reframe(image, frames: 8, reference: video)
        for name in video.names { XCTAssertEqual(try back.tensor(name).toArray(), try video.tensor(name).toArray(), name) }
        // A change to the image model's single slice reaches every slice of the video table.
        let pos = try image.tensor("pos_embedding").floats
        for i in 0..<pos.count { pos[i] += Float(i % 5) * 0.25 }
        let moved = try ClipLength.reframe(image, frames: 8, reference: video)
        let ref = try video.tensor("pos_embedding").toArray(), new = try moved.tensor("pos_embedding").toArray()
        let slice = 2 * 2 * 16
        for t in 0..<4 { for i in 0..<slice {
            XCTAssertEqual(new[t * slice + i], ref[t * slice + i] + Float(i % 5) * 0.25, accuracy: 1e-6)
        } }
        XCTAssertEqual(try moved.tensor("blocks.0.attn.qkv.weight").toArray(), try image.tensor("blocks.0.attn.qkv.weight").toArray())
    }

    func testBadLengthsAreRefused() throws {
        let p = try randomWeights(seed: 5)
        let image = try ClipLength.reframe(p, frames: 2)
        XCTAssertThrowsError(try ClipLength.reframe(p, frames: 3)) { XCTAssertTrue("\($0)".contains("multiple of the temporal patch"), "\($0)") }
        XCTAssertThrowsError(try ClipLength.reframe(p, frames: 0))
        XCTAssertThrowsError(try ClipLength.reframe(image, frames: 8)) { XCTAssertTrue("\($0)".contains("reference"), "\($0)") }
        // A reference of another length, or another architecture, is refused.
        XCTAssertThrowsError(try ClipLength.reframe(image, frames: 8, reference: try ClipLength.reframe(p, frames: 4)))
        var wider = config; wider.modelWidth = 32; wider.heads = 4
        XCTAssertThrowsError(try ClipLength.reframe(image, frames: 8, reference: try ParameterSet(config: wider)))
    }
}

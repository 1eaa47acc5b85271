import Foundation
import VGCore
import VGModel
import VGTraining

/// The pretraining mix seen through a latent autoencoder: each example's clip `[F, H, W, 3]` is
/// rendered as `ShapeWorldSource` renders it and encoded frame by frame into normalised latents
/// `[F, H/r, W/r, C]` (`LatentCodec`); object coverage is averaged over each latent's r x r pixels.
/// Caption draws are encoded the same way; altered inputs (swaps, blurs) are not offered.
struct LatentClipSource: CaptionedClipSource, @unchecked Sendable {
    let pixels: ShapeWorldSource
    let codec: LatentCodec
    let ctx: ComputeContext
    let frames: Int

    var pixelShape: [Int] { [frames, codec.autoencoder.config.height, codec.autoencoder.config.width, 3] }

    func example(_ index: Int, into clip: Tensor) throws -> String {
        let px = try Tensor.uninitialized(pixelShape)
        let caption = try pixels.example(index, into: px)
        try clip.copy(from: try codec.encode(ctx, clip: px))
        return caption
    }

    func objectCoverage(_ index: Int, into coverage: Tensor) throws -> Bool {
        let full = try Tensor.uninitialized(Array(pixelShape.dropLast()))
        guard try pixels.objectCoverage(index, into: full) else { return false }
        try pool(full, into: coverage)
        return true
    }

    /// The pixels' shape map pooled to the latent grid: each r x r block takes the class most of its
    /// pixels show when at least half of them are labelled, else -1.
    func shapeMap(_ index: Int, into map: Tensor) throws -> Bool {
        let full = try Tensor.uninitialized(Array(pixelShape.dropLast()))
        guard try pixels.shapeMap(index, into: full) else { return false }
        let r = codec.autoencoder.config.downsample, (f, h, w) = (full.shape[0], full.shape[1], full.shape[2])
        guard map.shape == [f, h / r, w / r] else { throw CLIError("shape map \(map.shape) for latents of \(full.shape)") }
        let src = full.floats, dst = map.floats
        var counts: [Int: Int] = [:]
        for fi in 0..<f { for y in 0..<(h / r) { for x in 0..<(w / r) {
            counts.removeAll(keepingCapacity: true)
            for dy in 0..<r { for dx in 0..<r {
                let v = src[(fi * h + y * r + dy) * w + x * r + dx]
                if v >= 0 { counts[Int(v), default: 0] += 1 }
            } }
            let labelled = counts.values.reduce(0, +)
            let best = counts.max { ($0.value, -$0.key) < ($1.value, -$1.key) }
            dst[(fi * (h / r) + y) * (w / r) + x] = 2 * labelled >= r * r ? Float(best!.key) : -1
        } } }
        return true
    }

    /// The pixels' coverage at full resolution (the token mask head's targets).
    func pixelCoverage(_ index: Int, into coverage: Tensor) throws -> Bool { try pixels.pixelCoverage(index, into: coverage) }

    func shapeLabel(_ index: Int) throws -> Int? { try pixels.shapeLabel(index) }

    /// Each object of a multi-object scene as the classifier term reads it: the context is the object
    /// alone on the background, encoded; the window covers every latent position whose r x r pixels
    /// the object touches (pooled coverage > 0), widened by `ClassifierWindow.latentMargin`.
    func classifierObjects(_ index: Int) throws -> [ClassifierOutlineLoss.Object] {
        let r = codec.autoencoder.config.downsample, shape = pixelShape
        let (f, h, w) = (shape[0], shape[1] / r, shape[2] / r)
        return try pixels.singleObjects(index).map { one in
            let px = try Tensor.uninitialized(shape), full = try Tensor.uninitialized(Array(shape.dropLast()))
            try ShapeWorldSource.write(frames: one.frames, into: px)
            let context = try codec.encode(ctx, clip: px)
            try ShapeWorldSource.write(coverage: one.coverage, into: full)
            let window = try Tensor.uninitialized([f, h, w])
            try pool(full, into: window)
            try ShapeWorldSource.write(coverage: ClassifierWindow.widened(window.toArray(), frames: f, height: h, width: w,
                                                                          by: ClassifierWindow.latentMargin), into: window)
            return ClassifierOutlineLoss.Object(label: one.label, window: window, context: context)
        }
    }

    func captionDraws(_ index: Int, captionDropped: Bool, count: Int) -> CaptionDraws? {
        guard let inner = pixels.captionDraws(index, captionDropped: captionDropped, count: count) else { return nil }
        let shape = pixelShape, codec = self.codec, ctx = self.ctx
        let pool = self.pool
        return CaptionDraws(count: inner.count) { k, clip, coverage in
            let px = try Tensor.uninitialized(shape), cov = try Tensor.uninitialized(Array(shape.dropLast()))
            try inner.draw(k, px, cov)
            try clip.copy(from: try codec.encode(ctx, clip: px))
            try pool(cov, coverage)
        }
    }

    /// Mean of each r x r block: `[F, H, W]` -> `[F, H/r, W/r]`.
    func pool(_ full: Tensor, into small: Tensor) throws {
        let r = codec.autoencoder.config.downsample, (h, w) = (full.shape[1], full.shape[2])
        guard small.shape == [full.shape[0], h / r, w / r] else { throw CLIError("coverage \(small.shape) for latents of \(full.shape)") }
        let src = full.floats, dst = small.floats, scale = 1 / Float(r * r)
        for f in 0..<full.shape[0] { for y in 0..<(h / r) { for x in 0..<(w / r) {
            var s: Float = 0
            for dy in 0..<r { for dx in 0..<r { s += src[(f * h + y * r + dy) * w + x * r + dx] } }
            dst[(f * (h / r) + y) * (w / r) + x] = s * scale
        } } }
    }
}

import Foundation
import XCTest
@testable import VGCore
@testable import VGFormat
@testable import VGModel
@testable import VGTraining

/// The latent shape classifier (its backward against central differences, its cross-entropy, that
/// training separates classes, its file) and the classifier term of the flow-matching loss (its
/// gradient through the frozen classifier into the DiT, that it skips unlabelled samples, lanes).
final class ShapeClassifierTests: XCTestCase {
    let tiny = ShapeClassifierConfig(height: 4, width: 4, channels: 2, widths: [3, 4], classes: 3)

    func gaussian(_ shape: [Int], _ seed: UInt64, _ scale: Float = 1) throws -> Tensor {
        let t = try Tensor(zeros: shape)
        var r = SeededRandom(seed: seed); r.fillGaussian(t.floats, scale: scale)
        return t
    }

    /// Σ of the rows' cross-entropies.
    func summedLoss(_ c: LatentShapeClassifier, _ x: Tensor, _ labels: [Int], _ ctx: ComputeContext) throws -> Double {
        var none: LatentShapeClassifier.Trace? = nil
        return try LatentShapeClassifier.crossEntropy(logits: try c.logits(ctx, latents: x, trace: &none), labels: labels).loss
    }

    func testBackwardMatchesCentralDifferences() throws {
        let ctx = try ComputeContext(threads: 1)
        let c = try LatentShapeClassifier.initialized(tiny, seed: 3)
        var r = SeededRandom(seed: 4)
        for (name, _) in tiny.layout { r.fillGaussian(c.parameters[name]!.floats, scale: 0.5) }   // biases too, and a head that is not small
        let x = try gaussian([3, 4, 4, 2], 5), labels = [2, 0, 1]
        var trace: LatentShapeClassifier.Trace? = LatentShapeClassifier.Trace()
        let ce = try LatentShapeClassifier.crossEntropy(logits: try c.logits(ctx, latents: x, trace: &trace), labels: labels)
        let grads = try c.zeroGradients()
        let dx = try c.backward(ctx, dLogits: ce.dLogits, trace: trace!, grads: grads)
        XCTAssertEqual(dx.shape, x.shape)
        var worst = 0.0
        func check(_ v: UnsafeMutableBufferPointer<Float>, _ g: [Float], _ what: String) throws {
            for k in 0..<min(12, v.count) {
                let i = (k * 37) % v.count, old = v[i], eps: Float = 1e-2
                v[i] = old + eps; let lp = try summedLoss(c, x, labels, ctx)
                v[i] = old - eps; let lm = try summedLoss(c, x, labels, ctx)
                v[i] = old
                let num = (lp - lm) / (2 * Double(eps)), ana = Double(g[i]), allowed = 1e-3 + 2e-2 * max(abs(num), abs(ana))
                worst = max(worst, abs(num - ana) / allowed)
                XCTAssertLessThanOrEqual(abs(num - ana), allowed, "\(what)[\(i)]: numeric \(num), analytic \(ana)")
            }
        }
        try check(x.floats, dx.toArray(), "input")
        for (name, _) in tiny.layout { try check(c.parameters[name]!.floats, grads[name]!.toArray(), name) }
        print(String(format: "  shape classifier gradient: worst |error| / allowed = %.2f", worst))
    }

    /// Projected gradient ascent keeps each frame within its L2 ball and raises the loss; an
    /// adversarial step trains on the moved frames and leaves the caller's tensor moved.
    func testAdversarialMovesStayInTheBallAndRaiseTheLoss() throws {
        let ctx = try ComputeContext(threads: 1)
        let c = try LatentShapeClassifier.initialized(tiny, seed: 3)
        var r = SeededRandom(seed: 4)
        for (name, _) in tiny.layout { r.fillGaussian(c.parameters[name]!.floats, scale: 0.2) }   // logits far from saturation
        let trainer = try ShapeClassifierTrainer(classifier: c, optimizer: OptimizerConfig(), context: ctx)
        let x = try gaussian([3, 4, 4, 2], 5), labels = [2, 0, 1], original = x.toArray()
        let before = try summedLoss(c, x, labels, ctx)
        try trainer.perturb(x, labels: labels, radius: 0.5, steps: 4)
        let after = try summedLoss(c, x, labels, ctx), moved = x.toArray()
        print(String(format: "  adversarial move: loss %.4f -> %.4f", before, after))
        XCTAssertGreaterThan(after, before)
        for i in 0..<3 {
            let d = (0..<32).reduce(Float(0)) { $0 + pow(moved[i * 32 + $1] - original[i * 32 + $1], 2) }.squareRoot()
            XCTAssertLessThanOrEqual(d, 0.5 + 1e-4)
            XCTAssertGreaterThan(d, 0.2)
        }
        // Bad moves are refused before anything moves.
        let empty = try Tensor(zeros: [0, 4, 4, 2])   // made outside the assertion: only perturb may throw
        XCTAssertThrowsError(try trainer.perturb(empty, labels: [], radius: 0.5, steps: 1)) { XCTAssertTrue("\($0)".contains("adversarial move")) }
        XCTAssertThrowsError(try trainer.perturb(x, labels: labels, radius: -1, steps: 1)) { XCTAssertTrue("\($0)".contains("adversarial move")) }
        XCTAssertThrowsError(try trainer.perturb(x, labels: labels, radius: .nan, steps: 1)) { XCTAssertTrue("\($0)".contains("adversarial move")) }
        XCTAssertEqual(x.toArray(), moved)
    }

    func testCrossEntropyConfigAndBadInputs() throws {
        let logits = try Tensor(shape: [2, 3], values: [0, 0, 0, 5, 1, 0])
        let ce = try LatentShapeClassifier.crossEntropy(logits: logits, labels: [1, -1])
        XCTAssertEqual(ce.loss, log(3), accuracy: 1e-6)
        XCTAssertEqual(ce.counted, 1)
        XCTAssertEqual(ce.correct, 0)   // a tie names the first class
        XCTAssertEqual(Array(ce.dLogits.toArray()[3...]), [0, 0, 0])   // the skipped row
        XCTAssertThrowsError(try LatentShapeClassifier.crossEntropy(logits: logits, labels: [3, 0]))
        XCTAssertThrowsError(try LatentShapeClassifier.crossEntropy(logits: logits, labels: [0]))
        XCTAssertThrowsError(try ShapeClassifierConfig(height: 6, width: 4, channels: 2, widths: [3, 4, 5], classes: 3).validate())
        XCTAssertThrowsError(try ShapeClassifierConfig(height: 4, width: 4, channels: 2, widths: [], classes: 3).validate())
        XCTAssertThrowsError(try ShapeClassifierConfig(height: 4, width: 4, channels: 2, widths: [3], classes: 1).validate())
        let c = try LatentShapeClassifier.initialized(tiny, seed: 1)
        var none: LatentShapeClassifier.Trace? = nil
        XCTAssertThrowsError(try c.logits(try ComputeContext(threads: 1), latents: try Tensor(zeros: [1, 4, 4, 3]), trace: &none))
        var p = c.parameters
        p["cls.head.bias"] = try Tensor(zeros: [4])
        XCTAssertThrowsError(try LatentShapeClassifier(config: tiny, parameters: p))
    }

    /// Classes told apart by which channel carries a bump somewhere on the grid: 150 steps name
    /// held-out frames right far above chance (1/3).
    func testTrainingSeparatesClassesAndTheFileRoundTrips() throws {
        let config = ShapeClassifierConfig(height: 4, width: 4, channels: 3, widths: [8, 8], classes: 3)
        var opt = OptimizerConfig(); opt.learningRate = 3e-3; opt.warmupSteps = 10; opt.totalSteps = 150; opt.emaDecay = 0
        let ctx = try ComputeContext(threads: 1)
        let trainer = try ShapeClassifierTrainer(classifier: try LatentShapeClassifier.initialized(config, seed: 2), optimizer: opt, context: ctx)
        var r = SeededRandom(seed: 9)
        func batch(_ n: Int) throws -> (Tensor, [Int]) {
            let x = try Tensor(zeros: [n, 4, 4, 3]); r.fillGaussian(x.floats, scale: 0.3)
            var labels: [Int] = []
            for i in 0..<n {
                let label = Int(r.next() % 3), p = Int(r.next() % 16)
                x.floats[(i * 16 + p) * 3 + label] += 2
                labels.append(label)
            }
            return (x, labels)
        }
        var first: Float = 0
        for step in 0..<150 {
            let (x, labels) = try batch(32)
            let s = try trainer.step(latents: x, labels: labels)
            if step == 0 { first = s.loss }
        }
        let (x, labels) = try batch(200)
        var none: LatentShapeClassifier.Trace? = nil
        let ce = try LatentShapeClassifier.crossEntropy(logits: try trainer.classifier.logits(ctx, latents: x, trace: &none), labels: labels)
        let accuracy = Float(ce.correct) / 200
        print(String(format: "  classifier: first step %.3f nats, held-out %.3f nats, %.2f right", first, ce.loss / 200, accuracy))
        XCTAssertGreaterThan(accuracy, 0.8)
        XCTAssertThrowsError(try trainer.step(latents: x, labels: Array(repeating: -1, count: 200)))

        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("vgrt-cls-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: dir) }
        let url = dir.appendingPathComponent("cls.safetensors")
        try trainer.classifier.save(asHalf: false, to: url)
        let back = try LatentShapeClassifier.load(url)
        XCTAssertEqual(back.config, config)
        let again = try LatentShapeClassifier.crossEntropy(logits: try back.logits(ctx, latents: x, trace: &none), labels: labels)
        XCTAssertEqual(again.loss, ce.loss, accuracy: 1e-9)
        // Written as f16, it loads as f32 weights within half precision of the originals.
        let half = dir.appendingPathComponent("cls-f16.safetensors")
        try trainer.classifier.save(asHalf: true, to: half)
        let fromHalf = try LatentShapeClassifier.load(half)
        for (name, _) in config.layout {
            let a = trainer.classifier.parameters[name]!.floats, b = fromHalf.parameters[name]!.floats
            XCTAssertEqual(fromHalf.parameters[name]!.dtype, .f32)
            for i in 0..<fromHalf.parameters[name]!.count { XCTAssertEqual(b[i], a[i], accuracy: abs(a[i]) * 1e-3 + 1e-6, name) }
        }
        let halfCE = try LatentShapeClassifier.crossEntropy(logits: try fromHalf.logits(ctx, latents: x, trace: &none), labels: labels)
        XCTAssertEqual(halfCE.loss / 200, ce.loss / 200, accuracy: 0.01)
        // A safetensors file that is not a classifier, and a file that is not safetensors.
        let other = dir.appendingPathComponent("other.safetensors")
        var w = SafeTensorsWriter(metadata: [:]); try w.add("x", tensor: try Tensor(zeros: [2])); try w.write(to: other)
        XCTAssertThrowsError(try LatentShapeClassifier.load(other)) { XCTAssertTrue("\($0)".contains("not a shape classifier")) }
        try Data("junk".utf8).write(to: dir.appendingPathComponent("junk"))
        XCTAssertThrowsError(try LatentShapeClassifier.load(dir.appendingPathComponent("junk")))
    }

    // The classifier term inside the trainer. Clip [4, 8, 8, 3], patches 2 x 4 x 4.
    let model: ModelConfig = ModelConfig(frames: 4, height: 8, width: 8, patchT: 2, patchH: 4, patchW: 4, modelWidth: 16, depth: 2,
                                         heads: 2, mlpRatio: 2, timeFrequencies: 8, vocabSize: 40, maxTextTokens: 6, textWidth: 12,
                                         textDepth: 1, textHeads: 2)

    func makeTrainer() throws -> FlowMatchingTrainer { try tinyTrainer(model, weightSeed: 61, seed: 7) }

    func frozenClassifier() throws -> LatentShapeClassifier {
        let c = try LatentShapeClassifier.initialized(ShapeClassifierConfig(height: 8, width: 8, channels: 3, widths: [4, 6], classes: 5), seed: 11)
        var r = SeededRandom(seed: 12)
        for (name, _) in c.config.layout { r.fillGaussian(c.parameters[name]!.floats, scale: 0.5) }   // layout order: a dictionary's is per instance
        return c
    }

    func sample(_ seed: UInt64, label: Int?) throws -> TrainingSample {
        TrainingSample(clip: try gaussian([4, 8, 8, 3], seed, 0.5), tokens: [1, 9, 3, 2], shapeLabel: label)
    }

    func loss(_ t: FlowMatchingTrainer, _ s: TrainingSample, weight: Float = 0) throws -> Float {
        let saved = t.rng
        defer { t.rng = saved }
        return try t.accumulate(s, weight: weight, level: 0.7)
    }

    /// The trainer's x̂0 `[4, 8, 8, 3]` for `s` at level 0.7 from the noise its next draw gives (what
    /// `loss` sees), computed with the runtime's forward.
    func predictedCleanClip(_ t: FlowMatchingTrainer, _ s: TrainingSample, _ ctx: ComputeContext) throws -> Tensor {
        var rr = t.rng
        let noise = try Tensor(zeros: [4, 8, 8, 3]); rr.fillGaussian(noise.floats)
        let xs = try Tensor(zeros: [4, 8, 8, 3])
        for i in 0..<xs.count { xs.floats[i] = 0.3 * s.clip.floats[i] + 0.7 * noise.floats[i] }
        let dit = try VideoDiT(weights: try ModelWeights(t.params, config: model))
        let acts = try ModelActivations(config: model, saveForBackward: false)
        try dit.encodeText(ctx, tokens: s.tokens, acts: acts)
        let x0 = try Tensor(zeros: [4, 8, 8, 3])
        try dit.unpatchify(try dit.predict(ctx, noisy: xs, level: 0.7, acts: acts), into: x0)
        return x0
    }

    /// The loss grows by γ times the mean frame cross-entropy of the classifier on x̂0 (computed here
    /// from the model's own prediction), every parameter's gradient matches central differences, and
    /// a sample without a label, or above the highest level, is left as it was bit for bit.
    func testTermLossGradientAndSkips() throws {
        let t = try makeTrainer(), labelled = try sample(21, label: 3)
        let flow = try loss(t, labelled)
        let classifier = try frozenClassifier()
        t.classifierTerm = try ClassifierOutlineLoss(classifier: classifier, weight: 0.7)
        let total = try loss(t, labelled)
        _ = t.classifierTerm!.takeSummary()

        // By hand: x̂0 at s = 0.7 from the same noise, unpatchified, through the classifier.
        let ctx = try ComputeContext(threads: 1), x0 = try predictedCleanClip(t, labelled, ctx)
        let ce = try summedLoss(classifier, x0, [3, 3, 3, 3], ctx) / 4
        print(String(format: "  loss with the classifier term %.6f (flow %.6f + 0.7 x %.6f)", total, flow, ce))
        XCTAssertEqual(Double(total), Double(flow) + 0.7 * ce, accuracy: 1e-4 * Double(total))

        let worst = try checkTrainerGradient(t, ["final.linear.weight", "blocks.1.mlp.fc2.weight", "blocks.0.attn.qkv.weight",
                                                 "blocks.0.cross.kv.weight", "text.blocks.0.attn.qkv.weight", "patch_embed.weight"],
                                             entries: 5) { w in try loss(t, labelled, weight: w) }
        print(String(format: "  classifier-term gradient: worst |error| / allowed = %.2f", worst))
        // The frozen classifier is not changed, and the term's figures were kept.
        let summary = try XCTUnwrap(t.classifierTerm!.takeSummary())
        XCTAssertEqual(summary.frames % 4, 0)
        XCTAssertNil(t.classifierTerm!.takeSummary())

        // No label, or above the highest level: the flow loss alone.
        XCTAssertEqual(try loss(t, try sample(21, label: nil)), flow)
        t.classifierTerm = try ClassifierOutlineLoss(classifier: classifier, weight: 0.7, maxLevel: 0.5)
        XCTAssertEqual(try loss(t, labelled), flow)
        XCTAssertThrowsError(try ClassifierOutlineLoss(classifier: classifier, weight: 0))
        XCTAssertThrowsError(try ClassifierOutlineLoss(classifier: classifier, weight: .nan))
        // A classifier of another grid is refused for this model.
        let other = try ClassifierOutlineLoss(classifier: try LatentShapeClassifier.initialized(tiny, seed: 1), weight: 1)
        XCTAssertThrowsError(try other.check(model))
        XCTAssertNoThrow(try t.classifierTerm!.check(model))
    }

    /// A multi-object scene read object by object: the loss grows by γ times the mean over objects
    /// of the classifier's mean frame cross-entropy on x̂0 inside each window and the object's context
    /// outside it; the gradient matches central differences; a window of ones reads x̂0 whole (the
    /// single-object term), a window of zeros only the context (the flow gradient alone); windows
    /// and contexts of the wrong size and labels outside the classes are refused.
    func testTermReadsEachObjectThroughItsWindow() throws {
        let t = try makeTrainer(), plain = try sample(23, label: nil)
        let flow = try loss(t, plain)
        let classifier = try frozenClassifier()
        t.classifierTerm = try ClassifierOutlineLoss(classifier: classifier, weight: 0.7)
        // Windows: the left half of every frame for the first object, a soft square for the second.
        let left = try Tensor(zeros: [4, 8, 8]), square = try Tensor(zeros: [4, 8, 8])
        for f in 0..<4 { for y in 0..<8 { for x in 0..<8 {
            left.floats[(f * 8 + y) * 8 + x] = x < 4 ? 1 : 0
            square.floats[(f * 8 + y) * 8 + x] = (2...5).contains(y) && (3...6).contains(x) ? 0.75 : 0
        } } }
        let contexts = [try gaussian([4, 8, 8, 3], 71, 0.5), try gaussian([4, 8, 8, 3], 72, 0.5)]
        var multi = plain
        multi.classifierObjects = [ClassifierOutlineLoss.Object(label: 1, window: left, context: contexts[0]),
                                   ClassifierOutlineLoss.Object(label: 4, window: square, context: contexts[1])]
        let total = try loss(t, multi)

        // By hand: x̂0 at s = 0.7 from the same noise, each object's frame m x̂0 + (1 - m) context.
        let ctx = try ComputeContext(threads: 1), x0 = try predictedCleanClip(t, plain, ctx)
        var ce = 0.0
        for (o, context) in zip(multi.classifierObjects, contexts) {
            let frame = try Tensor(zeros: [4, 8, 8, 3])
            for i in 0..<frame.count { let m = o.window.floats[i / 3]; frame.floats[i] = m * x0.floats[i] + (1 - m) * context.floats[i] }
            ce += try summedLoss(classifier, frame, [Int](repeating: o.label, count: 4), ctx) / 4 / 2
        }
        print(String(format: "  loss with the term on two objects %.6f (flow %.6f + 0.7 x %.6f)", total, flow, ce))
        XCTAssertEqual(Double(total), Double(flow) + 0.7 * ce, accuracy: 1e-4 * Double(total))
        XCTAssertGreaterThan(abs(Double(total - flow)), 1e-3, "the term is not empty")
        let worst = try checkTrainerGradient(t, ["final.linear.weight", "blocks.1.mlp.fc2.weight", "blocks.0.cross.kv.weight", "patch_embed.weight"],
                                             entries: 5) { w in try loss(t, multi, weight: w) }
        print(String(format: "  each-object classifier-term gradient: worst |error| / allowed = %.2f", worst))
        XCTAssertEqual(try XCTUnwrap(t.classifierTerm!.takeSummary()).frames % 4, 0)

        // γ_o = 3γ: the objects' part of the loss, and of the gradient, three times as large.
        let t3 = try makeTrainer()
        t3.classifierTerm = try ClassifierOutlineLoss(classifier: classifier, weight: 0.7, objectWeight: 2.1)
        XCTAssertEqual(Double(try loss(t3, multi)), Double(flow) + 2.1 * ce, accuracy: 1e-4 * Double(total))
        let t1 = try makeTrainer()
        t1.classifierTerm = try ClassifierOutlineLoss(classifier: classifier, weight: 0.7)
        let t0 = try makeTrainer()
        for trainer in [t0, t1, t3] { trainer.grads.zero() }
        _ = try loss(t0, plain, weight: 1); _ = try loss(t1, multi, weight: 1); _ = try loss(t3, multi, weight: 1)
        for name in ["final.linear.weight", "patch_embed.weight"] {
            let g0 = try t0.grads.tensor(name).toArray(), g1 = try t1.grads.tensor(name).toArray(), g3 = try t3.grads.tensor(name).toArray()
            let term1 = zip(g1, g0).map { $0 - $1 }, term3 = zip(g3, g0).map { $0 - $1 }
            let scale = term1.map { abs($0) }.max()!
            XCTAssertGreaterThan(scale, 0, name)
            XCTAssertEqual(zip(term3, term1).map { abs($0 - 3 * $1) }.max()!, 0, accuracy: 1e-4 * scale, name)
        }
        XCTAssertThrowsError(try ClassifierOutlineLoss(classifier: classifier, weight: 0.7, objectWeight: 0))
        XCTAssertThrowsError(try ClassifierOutlineLoss(classifier: classifier, weight: 0.7, objectWeight: .infinity))

        // A window of ones is the whole-frame reading of a single-object sample with that label.
        let ones = try Tensor(zeros: [4, 8, 8]); for i in 0..<ones.count { ones.floats[i] = 1 }
        var whole = plain
        whole.classifierObjects = [ClassifierOutlineLoss.Object(label: 2, window: ones, context: contexts[0])]
        XCTAssertEqual(try loss(t, whole), try loss(t, try sample(23, label: 2)), accuracy: 1e-6 * total)
        // A window of zeros reads only the context: the loss moves by a constant, the gradient does not.
        var blind = plain
        blind.classifierObjects = [ClassifierOutlineLoss.Object(label: 2, window: try Tensor(zeros: [4, 8, 8]), context: contexts[0])]
        let constant = try summedLoss(classifier, contexts[0], [2, 2, 2, 2], ctx) / 4
        XCTAssertEqual(Double(try loss(t, blind)), Double(flow) + 0.7 * constant, accuracy: 1e-4 * Double(flow))
        let t2 = try makeTrainer()
        t2.grads.zero(); t.grads.zero()
        _ = try loss(t2, plain, weight: 1)
        _ = try loss(t, blind, weight: 1)
        for name in ["final.linear.weight", "patch_embed.weight"] {
            let a = try t.grads.tensor(name).toArray(), b = try t2.grads.tensor(name).toArray()
            XCTAssertEqual(zip(a, b).map { abs($0 - $1) }.max() ?? 1, 0, accuracy: 1e-6, name)
        }
        // Refusals.
        var bad = plain
        bad.classifierObjects = [ClassifierOutlineLoss.Object(label: 1, window: try Tensor(zeros: [4, 8, 7]), context: contexts[0])]
        XCTAssertThrowsError(try loss(t, bad))
        bad.classifierObjects = [ClassifierOutlineLoss.Object(label: 1, window: left, context: try Tensor(zeros: [4, 8, 8, 2]))]
        XCTAssertThrowsError(try loss(t, bad))
        bad.classifierObjects = [ClassifierOutlineLoss.Object(label: 5, window: left, context: contexts[0])]
        XCTAssertThrowsError(try loss(t, bad))
    }

    /// Two lanes give the sequential step's gradient and figures.
    func testLanesAgree() throws {
        let batch = try (0..<4).map { try sample(30 + UInt64($0), label: $0 == 2 ? nil : $0) }
        var norms: [Float] = [], summaries: [ClassifierOutlineLoss.Summary] = []
        for lanes in [1, 2] {
            let t = try makeTrainer()
            t.classifierTerm = try ClassifierOutlineLoss(classifier: try frozenClassifier(), weight: 0.5)
            try t.useLanes(lanes)
            norms.append(try t.step(batch).gradNorm)
            summaries.append(try XCTUnwrap(t.classifierTerm!.takeSummary()))
        }
        XCTAssertEqual(norms[0], norms[1], accuracy: 1e-5 * norms[0])
        XCTAssertEqual(summaries[0].frames, 12)
        XCTAssertEqual(summaries[0].frames, summaries[1].frames)
        XCTAssertEqual(summaries[0].crossEntropy, summaries[1].crossEntropy, accuracy: 1e-5)
    }

    func testOptionsValidateAndDecode() throws {
        var o = PretrainOptions()
        o.classifierTerm = ClassifierTermOptions(file: "c.safetensors", weight: 0.1)
        XCTAssertNoThrow(try o.validate())
        let back = try JSONDecoder().decode(PretrainOptions.self, from: try JSONEncoder().encode(o))
        XCTAssertEqual(back.classifierTerm, o.classifierTerm)
        // eachObject: absent from the file unless set (older runs' options still compare equal), kept when set.
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(o), as: UTF8.self).contains("eachObject"))
        o.classifierTerm?.eachObject = true
        XCTAssertEqual(try JSONDecoder().decode(PretrainOptions.self, from: try JSONEncoder().encode(o)).classifierTerm?.eachObject, true)
        // objectWeight likewise; it needs the term on each object, finite and > 0.
        XCTAssertFalse(String(decoding: try JSONEncoder().encode(o.classifierTerm), as: UTF8.self).contains("objectWeight"))
        o.classifierTerm?.objectWeight = 0.3
        XCTAssertNoThrow(try o.validate())
        XCTAssertEqual(try JSONDecoder().decode(PretrainOptions.self, from: try JSONEncoder().encode(o)).classifierTerm?.objectWeight, 0.3)
        for bad: Float in [0, -1, .nan] {
            o.classifierTerm?.objectWeight = bad
            XCTAssertThrowsError(try o.validate(), "\(bad)")
        }
        o.classifierTerm?.objectWeight = 0.3; o.classifierTerm?.eachObject = nil
        XCTAssertThrowsError(try o.validate())
        o.classifierTerm?.objectWeight = nil; o.classifierTerm?.eachObject = true
        for bad in [ClassifierTermOptions(file: "", weight: 0.1), ClassifierTermOptions(file: "c", weight: -1),
                    ClassifierTermOptions(file: "c", weight: 0.1, maxLevel: 1.5)] {
            o.classifierTerm = bad
            XCTAssertThrowsError(try o.validate())
        }
    }
}

import Foundation
import XCTest
import VGCore
import VGFormat
import VGModel
import VGTestSupport
@testable import VGPack

final class ConverterTests: XCTestCase {
    func tempDir() throws -> URL {
        let u = FileManager.default.temporaryDirectory.appendingPathComponent("vgpack-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: u, withIntermediateDirectories: true)
        return u
    }

    /// A checkpoint written by Python's `safetensors` (a real client) with the model's tensor names and
    /// its config in the metadata converts to .vgpk; at f32 every value comes back bit for bit.
    func testConvertsCheckpointWrittenByPython() throws {
        let python = try TestProcess.safetensorsPython()
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let layout = ParameterSet.layout(packConfig).map { ["name": $0.name, "shape": $0.shape] as [String: Any] }
        let layoutURL = dir.appendingPathComponent("layout.json"), st = dir.appendingPathComponent("py.safetensors")
        try JSONSerialization.data(withJSONObject: layout).write(to: layoutURL)
        let config = String(decoding: try JSONEncoder().encode(packConfig), as: UTF8.self)
        let script = """
        import sys, json, numpy as np
        from safetensors.numpy import save_file
        layout = json.load(open(sys.argv[1]))
        rng = np.random.default_rng(7)
        t = {e["name"]: (rng.standard_normal(e["shape"]) * 0.2).astype(np.float32) for e in layout}
        save_file(t, sys.argv[2], metadata={"vgrt.config": sys.argv[3], "vgrt.tokenizer": "{}"})
        print(json.dumps({"n": len(t)}))
        """
        let r = try TestProcess.run(python, ["-c", script, layoutURL.path, st.path, config])
        XCTAssertEqual(r.status, 0, r.output)
        let source = try SafeTensorsFile(contentsOf: st)
        for quant in [VGPKType.f32, .q8] {
            var o = VGPKConverter.Options(); o.quant = quant
            let out = dir.appendingPathComponent("m-\(quant).vgpk")
            let s = try VGPKConverter.convert(input: st, output: out, options: o)
            XCTAssertEqual(s.tensors, ParameterSet.layout(packConfig).count)
            let reader = try VGPKReader(contentsOf: out)
            try reader.verify()
            XCTAssertEqual(try reader.architecture(), packConfig)
            XCTAssertEqual(reader.header.metadata.tokenizer, "{}")
            _ = try reader.modelWeights()
            if quant == .f32 {
                for name in source.tensorNames {
                    XCTAssertEqual(try reader.tensor(name).toArray(), try source.tensor(named: name).toArray(), name)
                }
            }
            print("  python checkpoint -> \(quant): \(s.inputBytes) -> \(s.outputBytes) bytes")
        }
    }

    /// A model checkpoint with its config, and an enhancer checkpoint of `config`'s layout
    /// (minus `drop`, with `reshape` given another shape).
    func writeModelAndEnhancer(_ dir: URL, _ ec: EnhancerConfig, drop: String? = nil, reshape: String? = nil,
                               configJSON: String? = nil, tokenizer: String = "{}") throws -> (URL, URL, [String: [Float]]) {
        var mw = SafeTensorsWriter(metadata: ["vgrt.config": String(decoding: try JSONEncoder().encode(packConfig), as: UTF8.self),
                                              "vgrt.tokenizer": "{}"])
        let p = try packParams(seed: 3)
        for n in p.names { try mw.add(n, tensor: try p.tensor(n)) }
        let model = dir.appendingPathComponent("model.safetensors"); try mw.write(to: model)
        var ew = SafeTensorsWriter(metadata: [VGPKConverter.enhancerConfigKey: configJSON ?? ec.jsonString(), "vgrt.tokenizer": tokenizer])
        var rng = SeededRandom(seed: 4)
        var values: [String: [Float]] = [:]
        for (name, shape) in EnhancerConfig.layout(ec) where name != drop {
            let s = name == reshape ? [shape.reduce(1, *)] : shape
            let t = try Tensor(zeros: s); rng.fillGaussian(t.floats, scale: 0.1)
            values[name] = t.toArray()
            try ew.add(name, tensor: t)
        }
        let enh = dir.appendingPathComponent("enhancer.safetensors"); try ew.write(to: enh)
        return (model, enh, values)
    }

    /// `--enhancer`: the enhancer's tensors are packed under `enhancer.` with its config in the header,
    /// bit-exact at f32, typed by the policy at q8; bad enhancer checkpoints are named errors.
    func testConvertWithEnhancer() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        let ec = EnhancerConfig(vocabSize: 40, contextLength: 24, width: 16, depth: 2, heads: 2, mlpRatio: 2)
        let (model, enh, values) = try writeModelAndEnhancer(dir, ec)
        for quant in [VGPKType.f32, .q8] {
            var o = VGPKConverter.Options(); o.quant = quant; o.enhancer = enh
            let out = dir.appendingPathComponent("with-enhancer-\(quant).vgpk")
            let s = try VGPKConverter.convert(input: model, output: out, options: o)
            XCTAssertEqual(s.tensors, ParameterSet.layout(packConfig).count + EnhancerConfig.layout(ec).count)
            let r = try VGPKReader(contentsOf: out)
            try r.verify()
            XCTAssertTrue(r.hasEnhancer)
            _ = try r.modelWeights()
            let (config, tensors) = try r.enhancerWeights()
            XCTAssertEqual(config, ec)
            XCTAssertEqual(Set(tensors.keys), Set(EnhancerConfig.layout(ec).map(\.name)))
            XCTAssertEqual(try r.entry("enhancer.blocks.0.attn.qkv.weight").type, quant)
            XCTAssertEqual(try r.entry("enhancer.norm.bias").type, .f32)
            if quant == .f32 { for (n, v) in values { XCTAssertEqual(tensors[n]?.toArray(), v, n) } }
        }
        // A model file without the section answers with an error, not a crash.
        var plain = VGPKConverter.Options(); plain.quant = .f32
        let noEnh = dir.appendingPathComponent("plain.vgpk")
        _ = try VGPKConverter.convert(input: model, output: noEnh, options: plain)
        XCTAssertFalse(try VGPKReader(contentsOf: noEnh).hasEnhancer)
        XCTAssertThrowsError(try VGPKReader(contentsOf: noEnh).enhancerWeights())
        // Bad enhancer checkpoints: each names what is wrong.
        let cases: [(String, (URL) throws -> (URL, URL, [String: [Float]]))] = [
            ("blocks.1.mlp.fc2.weight", { try self.writeModelAndEnhancer($0, ec, drop: "blocks.1.mlp.fc2.weight") }),
            ("shape", { try self.writeModelAndEnhancer($0, ec, reshape: "blocks.0.attn.out.weight") }),
            ("heads", { try self.writeModelAndEnhancer($0, ec, configJSON: #"{"vocabSize":40,"contextLength":24,"width":16,"depth":2,"heads":3,"mlpRatio":2}"#) }),
            ("JSON", { try self.writeModelAndEnhancer($0, ec, configJSON: "not json") }),
            ("tokenizer", { try self.writeModelAndEnhancer($0, ec, tokenizer: #"{"other":1}"#) }),
        ]
        for (expect, make) in cases {
            let sub = try tempDir()
            defer { try? FileManager.default.removeItem(at: sub) }
            let (m, e, _) = try make(sub)
            var o = VGPKConverter.Options(); o.enhancer = e
            XCTAssertThrowsError(try VGPKConverter.convert(input: m, output: sub.appendingPathComponent("x.vgpk"), options: o)) {
                XCTAssertTrue("\($0)".contains(expect), "\(expect): \($0)")
            }
        }
        // A model checkpoint passed as the enhancer is refused.
        var o = VGPKConverter.Options(); o.enhancer = model
        XCTAssertThrowsError(try VGPKConverter.convert(input: model, output: dir.appendingPathComponent("y.vgpk"), options: o)) {
            XCTAssertTrue("\($0)".contains("not an enhancer checkpoint"), "\($0)")
        }
    }

    /// Any safetensors file packs (float tensors, no architecture section) and round-trips.
    func testGenericSafetensorsRoundTrip() throws {
        let dir = try tempDir()
        defer { try? FileManager.default.removeItem(at: dir) }
        var w = SafeTensorsWriter()
        var rng = SeededRandom(seed: 1)
        let a = try Tensor(zeros: [3, 5]); rng.fillGaussian(a.floats)
        let b = try Tensor(zeros: [7]); rng.fillGaussian(b.floats)
        try w.add("layer.weight", tensor: a); try w.add("layer.bias", tensor: b)
        let st = dir.appendingPathComponent("g.safetensors"); try w.write(to: st)
        var o = VGPKConverter.Options(); o.quant = .f32
        let out = dir.appendingPathComponent("g.vgpk")
        _ = try VGPKConverter.convert(input: st, output: out, options: o)
        let r = try VGPKReader(contentsOf: out)
        XCTAssertNil(r.header.metadata.architecture)
        XCTAssertEqual(try r.tensor("layer.weight").toArray(), a.toArray())
        XCTAssertEqual(try r.tensor("layer.bias").toArray(), b.toArray())
        // A missing input names the file.
        XCTAssertThrowsError(try VGPKConverter.convert(input: dir.appendingPathComponent("none.safetensors"), output: out, options: o)) {
            XCTAssertTrue("\($0)".contains("none.safetensors"), "\($0)")
        }
    }
}

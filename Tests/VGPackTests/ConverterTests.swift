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

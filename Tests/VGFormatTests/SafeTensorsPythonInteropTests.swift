import Foundation
import XCTest
import VGCore
@testable import VGFormat

/// Interchange with the real Python `safetensors` package (Hugging Face's reference implementation,
/// whose core is Rust). A venv with `safetensors` and `numpy` is made once under
/// `/tmp/vgrt-safetensors-venv` and reused; where python3, venv or the network is missing the tests
/// are skipped with the reason, never passed.
final class SafeTensorsPythonInteropTests: XCTestCase {
    static let venv = "/tmp/vgrt-safetensors-venv"

    /// The venv's python, creating the venv when needed, or `XCTSkip` with the reason.
    func venvPython() throws -> String {
        let python = Self.venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python),
           (try? Support.run(python, ["-c", "import safetensors.numpy, numpy"]))?.status == 0 {
            return python
        }
        guard let made = try? Support.run("/usr/bin/env", ["python3", "-m", "venv", "--clear", Self.venv]), made.status == 0 else {
            throw XCTSkip("python3 with the venv module is not available, so the interop with Python safetensors was not tested")
        }
        let pip = try Support.run(Self.venv + "/bin/pip",
                                  ["install", "--quiet", "--disable-pip-version-check", "safetensors", "numpy"])
        guard pip.status == 0 else {
            throw XCTSkip("pip could not install safetensors and numpy (offline?), interop not tested: \(pip.output.suffix(400))")
        }
        return python
    }

    /// Runs a Python script with arguments and decodes the JSON it prints last.
    func runPython(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let python = try venvPython()
        let result = try Support.run(python, ["-c", script] + arguments)
        XCTAssertEqual(result.status, 0, result.output)
        let lastLine = result.output.split(separator: "\n").last.map(String.init) ?? ""
        let object = try JSONSerialization.jsonObject(with: Data(lastLine.utf8)) as? [String: Any]
        return try XCTUnwrap(object, "python printed: \(result.output)")
    }

    func testReadsFileWrittenByPython() throws {
        let dir = try Support.temporaryDirectory()
        let path = dir.appendingPathComponent("from-python.safetensors").path
        let script = """
        import sys, json, numpy as np
        from safetensors.numpy import save_file
        t = {
            "blocks.0.weight": (np.arange(24, dtype=np.float32).reshape(2, 3, 4) * np.float32(0.37) - np.float32(3.1)),
            "a.half": np.linspace(-2, 2, 10, dtype=np.float32).astype(np.float16),
            "c.int64": np.array([[1, -2], [3, 2**40]], dtype=np.int64),
            "d.int8": np.array([-128, 0, 127], dtype=np.int8),
            "e.scalar": np.array(3.5, dtype=np.float32),
        }
        save_file(t, sys.argv[1], metadata={"config": '{"width": 64, "name": "tiny \\u00fc"}', "format": "np"})
        print(json.dumps({
            "weight_bits": t["blocks.0.weight"].view(np.uint32).ravel().tolist(),
            "half_bits": t["a.half"].view(np.uint16).ravel().tolist(),
            "version": __import__("safetensors").__version__,
        }))
        """
        let expected = try runPython(script, [path])
        let file = try SafeTensorsFile(contentsOf: URL(fileURLWithPath: path))

        XCTAssertEqual(file.metadata, ["config": #"{"width": 64, "name": "tiny ü"}"#, "format": "np"])
        XCTAssertEqual(Set(file.tensorNames), ["blocks.0.weight", "a.half", "c.int64", "d.int8", "e.scalar"])
        let weight = try file.tensor(named: "blocks.0.weight")
        XCTAssertEqual(weight.shape, [2, 3, 4])
        XCTAssertEqual(weight.toArray().map { Int($0.bitPattern) }, expected["weight_bits"] as? [Int])
        let half = try file.tensor(named: "a.half")
        XCTAssertEqual(try file.info("a.half").dtype, .f16)
        let halfBits = try XCTUnwrap(expected["half_bits"] as? [Int])
        XCTAssertEqual(half.toArray(), halfBits.map { Float16Conversion.toFloat(UInt16($0)) })
        XCTAssertEqual(half.toArray().first, -2)
        XCTAssertEqual(half.toArray().last, 2)

        let ints = try file.rawBytes(named: "c.int64").withUnsafeBytes { raw in
            (0..<4).map { Int64(littleEndian: raw.loadUnaligned(fromByteOffset: 8 * $0, as: Int64.self)) }
        }
        XCTAssertEqual(ints, [1, -2, 3, 1 << 40])
        XCTAssertEqual(try file.info("c.int64").shape, [2, 2])
        XCTAssertEqual(Array(try file.rawBytes(named: "d.int8")).map { Int8(bitPattern: $0) }, [-128, 0, 127])
        XCTAssertEqual(try file.tensor(named: "e.scalar").shape, [])
        XCTAssertEqual(try file.tensor(named: "e.scalar").toArray(), [3.5])
        print("read a file written by Python safetensors \(expected["version"] ?? "?")")
    }

    func testPythonReadsFileWrittenBySwift() throws {
        let dir = try Support.temporaryDirectory()
        let url = dir.appendingPathComponent("from-swift.safetensors")
        let weights = (0..<60).map { Float(cos(Double($0) * 0.61)) * 7 } + SafeTensorsRoundTripTests.specialFloats
        let halves: [Float] = [0.5, -1.25, 1000, 0.1]
        var ids = Data()
        for v: Int32 in [7, -1, Int32.max] { withUnsafeBytes(of: v.littleEndian) { ids.append(contentsOf: $0) } }
        var writer = SafeTensorsWriter(metadata: ["config": #"{"depth": 2}"#, "note": "quote \" newline \n ünï 🎬"])
        try writer.add("w", shape: [weights.count], values: weights)
        try writer.add("h", shape: [2, 2], values: halves, as: .f16)
        try writer.addRaw("ids", dtype: .i32, shape: [3], bytes: ids)
        try writer.write(to: url)

        let script = """
        import sys, json, numpy as np
        from safetensors import safe_open
        from safetensors.numpy import load_file
        out = {"tensors": {}}
        with safe_open(sys.argv[1], framework="np") as f:
            out["metadata"] = f.metadata()
            for k in f.keys():
                a = f.get_tensor(k)
                bits = a.view(np.uint32) if a.dtype == np.float32 else a.view(np.uint16) if a.dtype == np.float16 else a
                out["tensors"][k] = {"dtype": str(a.dtype), "shape": list(a.shape), "bits": bits.ravel().tolist()}
        out["load_file_keys"] = sorted(load_file(sys.argv[1]).keys())
        print(json.dumps(out))
        """
        let result = try runPython(script, [url.path])
        XCTAssertEqual(result["metadata"] as? [String: String], writer.metadata)
        XCTAssertEqual(result["load_file_keys"] as? [String], ["h", "ids", "w"])
        let tensors = try XCTUnwrap(result["tensors"] as? [String: [String: Any]])
        XCTAssertEqual(tensors["w"]?["dtype"] as? String, "float32")
        XCTAssertEqual(tensors["w"]?["shape"] as? [Int], [weights.count])
        XCTAssertEqual(tensors["w"]?["bits"] as? [Int], weights.map { Int($0.bitPattern) })
        XCTAssertEqual(tensors["h"]?["dtype"] as? String, "float16")
        XCTAssertEqual(tensors["h"]?["shape"] as? [Int], [2, 2])
        XCTAssertEqual(tensors["h"]?["bits"] as? [Int], halves.map { Int(Float16Conversion.toHalf($0)) })
        XCTAssertEqual(tensors["ids"]?["dtype"] as? String, "int32")
        XCTAssertEqual(tensors["ids"]?["bits"] as? [Int], [7, -1, Int(Int32.max)])
    }
}

import Foundation
import XCTest
import VGCore
import VGTestSupport
@testable import VGFormat

/// Interchange with the real Python `safetensors` package (Hugging Face's reference implementation,
/// whose core is Rust). A venv with `safetensors` and `numpy` is made once under
/// `/tmp/vgrt-safetensors-venv` and reused; where python3, venv or the network is missing the tests
/// are skipped with the reason, never passed.
final class SafeTensorsPythonInteropTests: XCTestCase {
    /// The venv's python (shared with the other interop tests), or `XCTSkip` with the reason.
    func venvPython() throws -> String { try TestProcess.safetensorsPython() }

    /// Runs a Python script with arguments and decodes the JSON it prints last.
    func runPython(_ script: String, _ arguments: [String]) throws -> [String: Any] {
        let python = try venvPython()
        let result = try TestProcess.run(python, ["-c", script] + arguments)
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

    /// Hand-made edge cases go through both readers: this one and the reference must agree on
    /// which files are valid.
    func testAcceptsAndRejectsWhatPythonDoes() throws {
        let u8 = { (name: String, shape: String, offsets: String) in
            #""\#(name)":{"dtype":"U8","shape":\#(shape),"data_offsets":\#(offsets)}"#
        }
        let cases: [String: Data] = [
            "plain": Support.craft("{" + u8("w", "[3]", "[0,3]") + "}", dataBytes: 3),
            "leading-space": Support.craft(" {" + u8("w", "[3]", "[0,3]") + "}", dataBytes: 3),
            "padded": Support.craft("{" + u8("w", "[3]", "[0,3]") + "}      ", dataBytes: 3),
            "extra-field": Support.craft(#"{"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3],"x":1}}"#, dataBytes: 3),
            "metadata-null": Support.craft(#"{"__metadata__":null,"# + u8("w", "[2]", "[0,2]") + "}", dataBytes: 2),
            "zero-size-last": Support.craft("{" + u8("a", "[2]", "[0,2]") + "," + u8("z", "[0]", "[2,2]") + "}", dataBytes: 2),
            "scalar": Support.craft("{" + u8("s", "[]", "[0,1]") + "}", dataBytes: 1),
            "empty": Support.craft("{}"),
            "duplicate": Support.craft("{" + u8("w", "[1]", "[0,1]") + "," + u8("w", "[1]", "[1,2]") + "}", dataBytes: 2),
            "gap": Support.craft("{" + u8("a", "[4]", "[0,4]") + "," + u8("b", "[4]", "[5,9]") + "}", dataBytes: 9),
            "overlap": Support.craft("{" + u8("a", "[4]", "[0,4]") + "," + u8("b", "[4]", "[2,6]") + "}", dataBytes: 6),
            "trailing-bytes": Support.craft("{}", dataBytes: 1),
            "metadata-number": Support.craft(#"{"__metadata__":{"k":1}}"#),
            "offset-2^63": Support.craft("{" + u8("w", "[8]", "[9223372036854775808,9223372036854775816]") + "}", dataBytes: 8),
            "negative-dim": Support.craft("{" + u8("w", "[-2]", "[0,2]") + "}", dataBytes: 2),
            "float-dim": Support.craft("{" + u8("w", "[2.0]", "[0,2]") + "}", dataBytes: 2),
            "size-mismatch": Support.craft("{" + u8("w", "[3]", "[0,2]") + "}", dataBytes: 2),
            "past-end": Support.craft("{" + u8("w", "[4]", "[0,4]") + "}", dataBytes: 2),
            "bad-dtype": Support.craft(#"{"w":{"dtype":"F31","shape":[1],"data_offsets":[0,4]}}"#, dataBytes: 4),
            "not-json": Support.craft("{w}"),
            "empty-header": Support.craft(""),
            "header-past-end": Support.craft("{}", length: 64),
            "short": Data([1, 0, 0]),
        ]
        let dir = try Support.temporaryDirectory()
        for (name, data) in cases { try data.write(to: dir.appendingPathComponent(name)) }
        let script = """
        import sys, os, json
        from safetensors.numpy import load
        out = {}
        for name in os.listdir(sys.argv[1]):
            try:
                load(open(os.path.join(sys.argv[1], name), "rb").read()); out[name] = True
            except Exception:
                out[name] = False
        print(json.dumps(out))
        """
        let python = try runPython(script, [dir.path])
        var accepted: [String] = []
        for (name, data) in cases.sorted(by: { $0.key < $1.key }) {
            let ours = (try? SafeTensorsFile(data: data)) != nil
            if ours { accepted.append(name) }
            XCTAssertEqual(ours, python[name] as? Bool, "\(name): this reader \(ours ? "accepts" : "rejects") it, Python safetensors does not")
        }
        XCTAssertEqual(accepted, ["empty", "extra-field", "leading-space", "metadata-null", "padded", "plain", "scalar", "zero-size-last"])
    }
}

import Foundation
import XCTest

/// Subprocesses and the Python venv that interop tests share (safetensors written and read by the
/// real Hugging Face package). The venv is made once under /tmp and reused; where python3, venv or
/// the network is missing, tests are skipped with the reason, never passed.
public enum TestProcess {
    /// Runs a program, returning its exit status and its stdout and stderr together.
    public static func run(_ executable: String, _ arguments: [String]) throws -> (status: Int32, output: String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }

    public static let venv = "/tmp/vgrt-safetensors-venv"

    /// The venv's python with `safetensors` and `numpy`, creating the venv when needed, or `XCTSkip`.
    public static func safetensorsPython() throws -> String {
        let python = venv + "/bin/python"
        if FileManager.default.isExecutableFile(atPath: python),
           (try? run(python, ["-c", "import safetensors.numpy, numpy"]))?.status == 0 {
            return python
        }
        let made = try? run("/usr/bin/env", ["python3", "-m", "venv", "--clear", venv])
        guard let made, made.status == 0 else {
            throw XCTSkip("could not make a venv with python3 at \(venv), so the interop with Python safetensors "
                          + "was not tested: \(made?.output.suffix(300) ?? "python3 could not be started")")
        }
        let pip = try run(venv + "/bin/pip", ["install", "--quiet", "--disable-pip-version-check", "safetensors", "numpy"])
        guard pip.status == 0 else {
            throw XCTSkip("pip could not install safetensors and numpy (offline?), interop not tested: \(pip.output.suffix(400))")
        }
        return python
    }
}

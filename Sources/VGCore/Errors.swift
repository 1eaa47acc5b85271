/// Errors of the compute core. Every public entry validates its arguments and throws one of these
/// instead of trapping; messages name the operation and the offending sizes.
public enum VGError: Error, Equatable, CustomStringConvertible, Sendable {
    /// Tensor shapes do not fit the operation, e.g. "matmul: x is [4, 7] but w is [8, 6]".
    case shapeMismatch(String)
    /// An argument is outside its valid range (negative size, zero heads, odd head dimension...).
    case invalidArgument(String)
    /// A size computation overflowed `Int` (element counts, byte counts, offsets).
    case sizeOverflow(String)
    /// The allocator refused a request of this many bytes.
    case allocationFailed(bytes: Int)
    /// The operation or type is not supported here (for example the AVX2 path on a CPU without it).
    case unsupported(String)

    public var description: String {
        switch self {
        case .shapeMismatch(let m): return "shape mismatch: \(m)"
        case .invalidArgument(let m): return "invalid argument: \(m)"
        case .sizeOverflow(let m): return "size overflow: \(m)"
        case .allocationFailed(let b): return "allocation of \(b) bytes failed"
        case .unsupported(let m): return "unsupported: \(m)"
        }
    }
}

/// Overflow-checked size arithmetic for shapes read from untrusted input.
public enum CheckedSize {
    /// The product of `dims`, or `VGError.sizeOverflow` / `.invalidArgument` for negative dims.
    public static func product(_ dims: [Int], _ what: @autoclosure () -> String = "shape") throws -> Int {
        var n = 1
        for d in dims {
            guard d >= 0 else { throw VGError.invalidArgument("\(what()): negative dimension \(d) in \(dims)") }
            let (r, o) = n.multipliedReportingOverflow(by: d)
            guard !o else { throw VGError.sizeOverflow("\(what()): \(dims) has more than Int.max elements") }
            n = r
        }
        return n
    }

    /// a * b, or `VGError.sizeOverflow`.
    public static func multiply(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "size") throws -> Int {
        let (r, o) = a.multipliedReportingOverflow(by: b)
        guard !o, a >= 0, b >= 0 else { throw VGError.sizeOverflow("\(what()): \(a) x \(b)") }
        return r
    }

    /// a + b, or `VGError.sizeOverflow`.
    public static func add(_ a: Int, _ b: Int, _ what: @autoclosure () -> String = "size") throws -> Int {
        let (r, o) = a.addingReportingOverflow(b)
        guard !o, a >= 0, b >= 0 else { throw VGError.sizeOverflow("\(what()): \(a) + \(b)") }
        return r
    }

    /// `n` rounded up to a multiple of `m` (m > 0).
    public static func roundUp(_ n: Int, to m: Int) throws -> Int {
        let r = try add(n, m - 1, "round up \(n) to \(m)")
        return r / m * m
    }
}

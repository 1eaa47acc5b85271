import CVGKernels

/// A code path of the SIMD kernels. The fastest one the CPU runs is chosen at run time;
/// the portable path is always available (and is what the SIMD paths are tested against).
public enum KernelPath: String, Sendable, CaseIterable {
    case portable, avx2, neon

    var isa: vgk_isa {
        switch self {
        case .portable: return VGK_ISA_PORTABLE
        case .avx2: return VGK_ISA_AVX2
        case .neon: return VGK_ISA_NEON
        }
    }

    /// The fastest path this CPU runs.
    public static var best: KernelPath {
        switch vgk_isa_best() {
        case VGK_ISA_AVX2: return .avx2
        case VGK_ISA_NEON: return .neon
        default: return .portable
        }
    }

    /// Whether this CPU runs the path.
    public var isAvailable: Bool { vgk_ops_get(isa) != nil }

    /// The operation table (nil when unavailable).
    var ops: UnsafePointer<vgk_ops>? { vgk_ops_get(isa) }
}

/// IEEE binary16 conversions on the fastest path (F16C on x86-64, NEON on arm64).
public enum Float16Conversion {
    nonisolated(unsafe) private static let ops = vgk_ops_get(vgk_isa_best())!

    /// Widens `n` binary16 values.
    public static func toFloat(_ src: UnsafePointer<UInt16>, _ dst: UnsafeMutablePointer<Float>, _ n: Int) {
        ops.pointee.f16_to_f32(src, dst, n)
    }

    /// Narrows `n` values, rounding to nearest even (overflow gives infinity).
    public static func toHalf(_ src: UnsafePointer<Float>, _ dst: UnsafeMutablePointer<UInt16>, _ n: Int) {
        ops.pointee.f32_to_f16(src, dst, n)
    }

    /// One value each way.
    public static func toFloat(_ h: UInt16) -> Float { vgk_f16_to_f32_1(h) }
    public static func toHalf(_ f: Float) -> UInt16 { vgk_f32_to_f16_1(f) }
}

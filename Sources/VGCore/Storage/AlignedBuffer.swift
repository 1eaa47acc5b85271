#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A block of raw memory aligned to 64 bytes (a cache line; the widest SIMD load), owned by this
/// object and freed when it goes away. Contents start zeroed.
///
/// Reference type so that tensors can share storage; `@unchecked Sendable` because callers
/// coordinate writes (the compute core writes disjoint ranges from its worker threads).
public final class AlignedBuffer: @unchecked Sendable {
    /// Alignment of every buffer, in bytes.
    public static let alignment = 64

    /// Size in bytes.
    public let byteCount: Int
    /// The memory: `byteCount` bytes, 64-byte aligned (a valid non-null pointer even when empty).
    public let raw: UnsafeMutableRawPointer

    /// Allocates `byteCount` zeroed bytes.
    /// - Throws: `VGError.invalidArgument` for a negative size, `.allocationFailed` when refused.
    public convenience init(byteCount: Int) throws { try self.init(byteCount: byteCount, zeroed: true) }

    /// Allocates `byteCount` bytes, zeroed or not: `zeroed: false` is for a buffer the caller fills
    /// completely before reading it (a decoder's target); the padding up to the 64-byte boundary is
    /// zeroed either way.
    public init(byteCount: Int, zeroed: Bool) throws {
        guard byteCount >= 0 else { throw VGError.invalidArgument("buffer size \(byteCount) is negative") }
        var p: UnsafeMutableRawPointer?
        let rounded = max(AlignedBuffer.alignment, (byteCount &+ 63) & ~63)
        guard rounded >= byteCount, posix_memalign(&p, AlignedBuffer.alignment, rounded) == 0, let ptr = p else {
            throw VGError.allocationFailed(bytes: byteCount)
        }
        if zeroed { memset(ptr, 0, rounded) } else { memset(ptr + byteCount, 0, rounded - byteCount) }
        self.byteCount = byteCount
        self.raw = ptr
    }

    deinit { free(raw) }

    /// Typed view of the whole buffer (`byteCount / stride` elements).
    @inlinable public func pointer<T>(as: T.Type) -> UnsafeMutablePointer<T> {
        raw.assumingMemoryBound(to: T.self)
    }
}

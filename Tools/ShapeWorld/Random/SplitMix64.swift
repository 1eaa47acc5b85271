#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A small, fast, seeded random number generator (SplitMix64, Steele et al. 2014).
///
/// ShapeWorld never uses the system generator: the same seed gives the same clips, captions and
/// degradations on every machine. `SplitMix64` conforms to `RandomNumberGenerator`, so it also works
/// with the standard library's `Int.random(in:using:)` and friends.
public struct SplitMix64: RandomNumberGenerator, Sendable {
    /// The generator's whole state.
    public private(set) var state: UInt64

    /// Creates a generator from a seed; every seed, including 0, is valid.
    public init(seed: UInt64) { state = seed }

    /// Returns the next 64 random bits.
    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// A uniform `Float` in [0, 1) with 24 random bits.
    public mutating func unitFloat() -> Float { Float(next() >> 40) * (1.0 / 16_777_216.0) }

    /// A uniform `Float` in [lo, hi).
    public mutating func uniform(_ lo: Float, _ hi: Float) -> Float { lo + (hi - lo) * unitFloat() }

    /// A standard normal sample (Box-Muller).
    public mutating func gaussian() -> Float {
        let u1 = max(unitFloat(), 1e-7)
        let u2 = unitFloat()
        return (-2 * logf(u1)).squareRoot() * cosf(2 * Float.pi * u2)
    }

    /// A uniform index in 0..<n (n > 0; returns 0 for n <= 0).
    public mutating func index(_ n: Int) -> Int { n <= 0 ? 0 : Int(next() % UInt64(n)) }

    /// True with probability `p`.
    public mutating func chance(_ p: Float) -> Bool { unitFloat() < p }

    /// A uniformly chosen element (nil for an empty collection).
    public mutating func pick<T>(_ items: [T]) -> T? { items.isEmpty ? nil : items[index(items.count)] }

    /// A derived generator for a sub-stream, so adding draws in one place does not shift another.
    public func derived(_ salt: UInt64) -> SplitMix64 {
        var g = SplitMix64(seed: state ^ (salt &* 0xD6E8_FEB8_6659_FD93))
        _ = g.next()
        return g
    }
}


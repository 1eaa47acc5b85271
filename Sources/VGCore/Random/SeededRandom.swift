import Foundation

/// A small, fast, seeded random number generator (SplitMix64): the same seed gives the same stream
/// on every machine, which is what "same seed, same video" needs. Not for cryptography.
public struct SeededRandom: RandomNumberGenerator, Sendable, Codable, Equatable {
    /// The whole state: save it to resume a stream exactly.
    public private(set) var state: UInt64

    public init(seed: UInt64) { state = seed }

    public mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }

    /// Uniform in (0, 1), never 0 (safe for log).
    public mutating func uniform() -> Double { (Double(next() >> 11) + 0.5) / 9_007_199_254_740_992.0 }

    /// Standard normal values (Box-Muller, both outputs used).
    public mutating func fillGaussian(_ out: UnsafeMutableBufferPointer<Float>, scale: Float = 1) {
        var i = 0
        while i < out.count {
            let r = (-2 * Foundation.log(uniform())).squareRoot(), a = 2 * Double.pi * uniform()
            out[i] = Float(r * Foundation.cos(a)) * scale
            if i + 1 < out.count { out[i + 1] = Float(r * Foundation.sin(a)) * scale }
            i += 2
        }
    }

    /// A standard normal value.
    public mutating func gaussian() -> Float {
        Float((-2 * Foundation.log(uniform())).squareRoot() * Foundation.cos(2 * Double.pi * uniform()))
    }
}

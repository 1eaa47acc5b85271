/// Reusable scratch memory so that hot loops do no heap allocation: a buffer per (slot, worker)
/// that only grows. After the first call of an operation at a given size, later calls allocate nothing.
///
/// Not thread-safe by itself: a compute context hands worker `w` only the buffers of worker `w`.
public final class ScratchArena: @unchecked Sendable {
    /// What a scratch buffer is for; each purpose has its own buffers.
    public enum Slot: Int, CaseIterable, Sendable {
        case quantizedActivations, activationScales, attentionScores, attentionOutput, attentionStats
        /// Used by the training backward passes (VGTraining).
        case backwardProbabilities, backwardScores
    }

    private var buffers: [[AlignedBuffer?]]
    /// Bytes currently held.
    public private(set) var bytesHeld = 0

    init(workers: Int) {
        buffers = Array(repeating: Array(repeating: nil, count: workers), count: Slot.allCases.count)
    }

    /// At least `bytes` bytes for `slot` of `worker`, 64-byte aligned. Contents are unspecified.
    package func buffer(_ slot: Slot, worker: Int = 0, bytes: Int) throws -> UnsafeMutableRawPointer {
        if let b = buffers[slot.rawValue][worker], b.byteCount >= bytes { return b.raw }
        let old = buffers[slot.rawValue][worker]?.byteCount ?? 0
        let b = try AlignedBuffer(byteCount: max(bytes, old + old / 2))
        bytesHeld += b.byteCount - old
        buffers[slot.rawValue][worker] = b
        return b.raw
    }
}

#if canImport(Glibc)
// glibc's `int mallopt(int param, int value)` (malloc.h, which the Glibc module does not export);
// M_TRIM_THRESHOLD is -1 and M_MMAP_THRESHOLD -3 in glibc's ABI.
@_silgen_name("mallopt") private func glibcMallopt(_ param: Int32, _ value: Int32) -> Int32
private let mTrimThreshold: Int32 = -1, mMmapThreshold: Int32 = -3
#endif

/// The C allocator's settings for a training process.
///
/// A training step allocates and frees the same large buffers again and again (clips, latents,
/// per-call scratch of the autoencoder and the data source). glibc serves a request above its mmap
/// threshold with a fresh mapping and returns it to the kernel on free, so every such buffer is
/// zero-filled page by page on each use: in a phase-56 pretraining step that was 5-10 s of system
/// time in 40 steps. Raising the threshold to 256 MiB and the trim threshold to 1 GiB keeps freed
/// memory in the heap for the next request (docs/BENCHMARKS.md, "Training the shipped base's recipe").
///
/// Process-wide, so only executables call it (`vgtrain`, `vgbench`), never the library.
public enum ProcessAllocator {
    /// Applies the settings; returns whether the allocator took them (false off glibc).
    @discardableResult
    public static func keepFreedMemoryForReuse() -> Bool {
        #if canImport(Glibc)
        // Order matters: the mmap threshold first (setting either turns glibc's own adjustment off).
        return glibcMallopt(mMmapThreshold, 256 << 20) == 1 && glibcMallopt(mTrimThreshold, 1 << 30) == 1
        #else
        return false
        #endif
    }
}

#if canImport(Glibc)
import Glibc
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
/// Process-wide, so only executables call it (`vgtrain`), never the library.
public enum ProcessAllocator {
    /// Applies the settings; returns whether the allocator took them (false where there is no
    /// glibc `mallopt`).
    @discardableResult
    public static func keepFreedMemoryForReuse() -> Bool {
        #if canImport(Glibc)
        // `int mallopt(int, int)` is in malloc.h, which the Glibc module does not export: looked up
        // by name and called through a C function pointer. glibc's ABI: M_TRIM_THRESHOLD -1,
        // M_MMAP_THRESHOLD -3.
        typealias Mallopt = @convention(c) (Int32, Int32) -> Int32
        guard let process = dlopen(nil, RTLD_NOW), let symbol = dlsym(process, "mallopt") else { return false }
        let mallopt = unsafeBitCast(symbol, to: Mallopt.self)
        // Order matters: the mmap threshold first (setting either turns glibc's own adjustment off).
        return mallopt(-3, 256 << 20) == 1 && mallopt(-1, 1 << 30) == 1
        #else
        return false
        #endif
    }
}

import CBLAS
import CVGKernels

/// Everything a computation needs that must not be global: the thread pool, the kernel code path,
/// and scratch memory. One context runs one computation at a time; make one per thread of use.
///
/// Threading and OpenBLAS: the context's pool does all the parallel work, and OpenBLAS runs with one
/// thread inside each pool task (docs/DESIGN-NOTES.md, "Threads"). Two thread pools that both spin up
/// one thread per core would oversubscribe the cores; and OpenBLAS's thread count is process-wide,
/// so letting it follow a context's setting would make contexts fight. With the pool in charge the
/// thread count is per context and results do not depend on it.
public final class ComputeContext: @unchecked Sendable {
    /// The pool that runs parallel work.
    public let pool: ThreadPool
    /// The kernel code path.
    public let path: KernelPath
    /// Scratch buffers reused across calls.
    public let scratch: ScratchArena

    package let ops: UnsafePointer<vgk_ops>
    var kernels: vgk_ops { ops.pointee }

    /// - Parameters:
    ///   - threads: threads of this context (1...256); the calling thread counts as one.
    ///   - path: kernel code path; defaults to the fastest one this CPU runs.
    /// - Throws: `VGError.invalidArgument` for a bad thread count, `.unsupported` for a path the CPU lacks.
    public init(threads: Int = 1, path: KernelPath = .best) throws {
        guard let ops = path.ops else { throw VGError.unsupported("kernel path \(path.rawValue) on this CPU") }
        self.ops = ops
        self.path = path
        self.pool = try ThreadPool(threads: threads)
        self.scratch = ScratchArena(workers: threads)
        ComputeContext.pinOpenBLASToOneThread()
    }

    /// Threads of this context.
    public var threadCount: Int { pool.threadCount }

    private static let openBLASOnce: Void = { openblas_set_num_threads(1) }()
    static func pinOpenBLASToOneThread() { _ = openBLASOnce }
}

/// A mutable pointer that may cross into pool tasks; each task writes a disjoint part.
package struct SharedPointer<T>: @unchecked Sendable {
    package let p: UnsafeMutablePointer<T>
    package init(_ p: UnsafeMutablePointer<T>) { self.p = p }
}

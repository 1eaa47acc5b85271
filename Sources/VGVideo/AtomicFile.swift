#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Writes a file atomically: the content goes to a temporary file beside the target, which is
/// renamed over the target only when writing succeeded (readers never see a half-written file).
public enum AtomicFile {
    nonisolated(unsafe) private static var counter: UInt64 = 0
    private static let lock = Mutex()

    /// A temporary path in the same directory as `path`.
    static func temporaryPath(for path: String) -> String {
        let n: UInt64 = lock.withLock { counter &+= 1; return counter }
        return "\(path).tmp-\(getpid())-\(n)"
    }

    /// Calls `body` with a temporary path to fill, then renames it to `path`; on error removes it.
    public static func write(to path: String, _ body: (String) throws -> Void) throws {
        let tmp = temporaryPath(for: path)
        do {
            try body(tmp)
        } catch {
            unlink(tmp)
            throw error
        }
        if rename(tmp, path) != 0 {
            let e = errno
            unlink(tmp)
            throw VideoError.io("rename to \(path): \(String(cString: strerror(e)))")
        }
    }

    /// Writes `bytes` to `path` atomically.
    public static func write(_ bytes: [UInt8], to path: String) throws {
        try write(to: path) { tmp in
            guard let f = fopen(tmp, "wb") else {
                throw VideoError.io("open \(tmp): \(String(cString: strerror(errno)))")
            }
            let n = bytes.withUnsafeBufferPointer { fwrite($0.baseAddress, 1, $0.count, f) }
            let closed = fclose(f)
            guard n == bytes.count, closed == 0 else { throw VideoError.io("write \(tmp): short write") }
        }
    }
}

/// A tiny pthread mutex (no Foundation needed).
final class Mutex: @unchecked Sendable {
    private var m = pthread_mutex_t()
    init() { pthread_mutex_init(&m, nil) }
    deinit { pthread_mutex_destroy(&m) }
    func withLock<T>(_ body: () throws -> T) rethrows -> T {
        pthread_mutex_lock(&m)
        defer { pthread_mutex_unlock(&m) }
        return try body()
    }
}

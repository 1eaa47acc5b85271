#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// A fixed set of worker threads owned by one compute context (no process-wide pool).
///
/// `parallelFor(n)` runs tasks 0..<n on the workers plus the calling thread, taking tasks from a
/// shared counter. Callers make each task's result independent of which thread runs it (the task
/// grid depends on the problem shape only), which is what makes outputs bit-identical for any
/// thread count. A nested `parallelFor` from inside a task, or a second concurrent caller, runs its
/// tasks inline on its own thread instead of deadlocking.
public final class ThreadPool: @unchecked Sendable {
    /// Threads that execute tasks, including the caller of `parallelFor`.
    public let threadCount: Int

    private var workers: [pthread_t] = []
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    private let wake = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    private let done = UnsafeMutablePointer<pthread_cond_t>.allocate(capacity: 1)
    // Guarded by mutex:
    private var generation = 0
    private var running = 0
    private var shuttingDown = false
    private var job: ((Int, Int) -> Void)?
    private var taskCount = 0
    // Lock-free:
    private let nextTask = Atomic<Int>(0)
    private let busy = Atomic<Bool>(false)

    /// Creates `threads - 1` workers (the caller is the last thread).
    /// - Throws: `VGError.invalidArgument` unless 1 <= threads <= 256, `.unsupported` if a thread
    ///   cannot be created.
    public init(threads: Int) throws {
        guard (1...256).contains(threads) else {
            throw VGError.invalidArgument("thread count \(threads) is outside 1...256")
        }
        threadCount = threads
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(wake, nil)
        pthread_cond_init(done, nil)
        for index in 1..<threads {
            let start = Unmanaged.passRetained(WorkerStart(pool: self, index: index)).toOpaque()
            var tid = pthread_t()
            let rc = pthread_create(&tid, nil, { arg in
                let start = Unmanaged<WorkerStart>.fromOpaque(arg!).takeRetainedValue()
                let (pool, index) = (start.pool, start.index)
                pool.workerLoop(index: index)
                return nil
            }, start)
            guard rc == 0 else {
                Unmanaged<WorkerStart>.fromOpaque(start).release()
                shutdown()
                throw VGError.unsupported("pthread_create failed (\(rc))")
            }
            workers.append(tid)
        }
    }

    deinit {
        shutdown()
        pthread_cond_destroy(wake); pthread_cond_destroy(done); pthread_mutex_destroy(mutex)
        wake.deallocate(); done.deallocate(); mutex.deallocate()
    }

    private func shutdown() {
        pthread_mutex_lock(mutex)
        shuttingDown = true
        pthread_cond_broadcast(wake)
        pthread_mutex_unlock(mutex)
        for t in workers { pthread_join(t, nil) }
        workers.removeAll()
    }

    /// Runs `body(task, worker)` for every task in 0..<n, in parallel; returns when all are done.
    /// `worker` in 0..<threadCount names the thread (0 is the caller), for per-thread scratch.
    public func parallelFor(_ n: Int, _ body: (_ task: Int, _ worker: Int) -> Void) {
        guard n > 0 else { return }
        if n == 1 || workers.isEmpty || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            for i in 0..<n { body(i, 0) }
            return
        }
        defer { busy.store(false, ordering: .releasing) }
        withoutActuallyEscaping(body) { body in
            pthread_mutex_lock(mutex)
            job = body
            taskCount = n
            nextTask.store(0, ordering: .relaxed)
            running = workers.count
            generation &+= 1
            pthread_cond_broadcast(wake)
            pthread_mutex_unlock(mutex)

            runTasks(body, n, worker: 0)

            pthread_mutex_lock(mutex)
            while running > 0 { pthread_cond_wait(done, mutex) }
            job = nil
            pthread_mutex_unlock(mutex)
        }
    }

    private func runTasks(_ body: (Int, Int) -> Void, _ n: Int, worker: Int) {
        while true {
            let i = nextTask.wrappingAdd(1, ordering: .relaxed).oldValue
            if i >= n { break }
            body(i, worker)
        }
    }

    private func workerLoop(index: Int) {
        var seen = 0
        pthread_mutex_lock(mutex)
        while true {
            while generation == seen && !shuttingDown { pthread_cond_wait(wake, mutex) }
            if shuttingDown { break }
            seen = generation
            let body = job!, n = taskCount
            pthread_mutex_unlock(mutex)
            runTasks(body, n, worker: index)
            pthread_mutex_lock(mutex)
            running -= 1
            if running == 0 { pthread_cond_signal(done) }
        }
        pthread_mutex_unlock(mutex)
    }
}

/// What a new worker thread needs: its pool (unowned: the pool joins its workers before it dies)
/// and its index.
private final class WorkerStart: @unchecked Sendable {
    unowned(unsafe) let pool: ThreadPool
    let index: Int
    init(pool: ThreadPool, index: Int) { self.pool = pool; self.index = index }
}

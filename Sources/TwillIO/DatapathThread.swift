import CLiburing
import Glibc

/// A dedicated OS thread for a datapath loop (the loop owns its ring, so it must not hop threads
/// the way Swift concurrency tasks do).
public final class DatapathThread: Sendable {
    private let thread: pthread_t

    private final class Context {
        let name: String
        let body: @Sendable () -> Void
        init(_ name: String, _ body: @escaping @Sendable () -> Void) {
            self.name = name
            self.body = body
        }
    }

    /// Starts `body` on a new thread named `name` (at most 15 characters are kept).
    public init(name: String, _ body: @escaping @Sendable () -> Void) {
        let context = Unmanaged.passRetained(Context(String(name.prefix(15)), body)).toOpaque()
        var t = pthread_t()
        // Context goes through the argument pointer: a capturing closure here crashed Swift 6's compiler.
        let rc = pthread_create(&t, nil, { arg in
            let c = Unmanaged<Context>.fromOpaque(arg!).takeRetainedValue()
            twill_set_thread_name(c.name)
            c.body()
            return nil
        }, context)
        precondition(rc == 0, "pthread_create failed: \(rc)")
        thread = t
    }

    /// Waits for the thread to end.
    public func join() {
        _ = pthread_join(thread, nil)
    }
}

import NIOCore
import NIOPosix

/// Schedules the timeout of a lock wait. ``LockWaiters`` takes it as a parameter so tests can fire a timer at
/// a chosen moment (for example at once, before the wait is stored).
protocol LockWaitTimer: Sendable {
    /// What ``cancel(_:)`` needs to stop a scheduled timer.
    associatedtype Handle: Sendable

    /// Calls `fire` once after `delay`, unless cancelled first. May call it before returning.
    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Handle

    /// Stops a timer that has not fired; does nothing to one that has.
    func cancel(_ handle: Handle)
}

/// The production timer: a task scheduled on a NIO event loop.
struct EventLoopWaitTimer: LockWaitTimer {
    let eventLoop: any EventLoop

    init(eventLoop: any EventLoop = MultiThreadedEventLoopGroup.singleton.any()) {
        self.eventLoop = eventLoop
    }

    func schedule(after delay: Duration, _ fire: @escaping @Sendable () -> Void) -> Scheduled<Void> {
        self.eventLoop.scheduleTask(in: .nanoseconds(delay.clampedNanoseconds), fire)
    }

    func cancel(_ handle: Scheduled<Void>) {
        handle.cancel()
    }
}

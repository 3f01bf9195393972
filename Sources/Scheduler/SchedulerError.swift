/// A failure of the scheduler library (Redis errors are passed through as `RedisError`).
public struct SchedulerError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Code: String, Sendable, Hashable {
        case invalidSchedule, invalidJob, duplicateJob, unknownJob, alreadyRunning, notRunning
    }

    private let code: Code
    /// Details: the job's name, or what is wrong.
    public let detail: String

    private init(_ code: Code, _ detail: String) {
        self.code = code
        self.detail = detail
    }

    /// A schedule that cannot be used (an interval under a millisecond, an unknown time zone).
    public static func invalidSchedule(_ reason: String) -> Self { Self(.invalidSchedule, reason) }
    /// A job definition that cannot be used (a bad name, inconsistent durations).
    public static func invalidJob(_ reason: String) -> Self { Self(.invalidJob, reason) }
    /// Two jobs with the same name.
    public static func duplicateJob(_ name: String) -> Self { Self(.duplicateJob, name) }
    /// No job has this name.
    public static func unknownJob(_ name: String) -> Self { Self(.unknownJob, String(name.prefix(100))) }
    /// A manual run was refused because the job is running (on this or another instance).
    public static func alreadyRunning(_ name: String) -> Self { Self(.alreadyRunning, name) }
    /// A manual run was refused because this scheduler is not running (not started, or shutting down).
    public static let notRunning = Self(.notRunning, "")

    /// True for ``unknownJob(_:)``.
    public var isUnknownJob: Bool { self.code == .unknownJob }
    /// True for ``alreadyRunning(_:)``.
    public var isAlreadyRunning: Bool { self.code == .alreadyRunning }
    /// True for ``notRunning``.
    public var isNotRunning: Bool { self.code == .notRunning }

    public var description: String {
        switch self.code {
        case .invalidSchedule: "invalid schedule: \(self.detail)"
        case .invalidJob: "invalid job: \(self.detail)"
        case .duplicateJob: "two jobs are named \"\(self.detail)\""
        case .unknownJob: "no job is named \"\(self.detail)\""
        case .alreadyRunning: "job \"\(self.detail)\" is already running"
        case .notRunning: "the scheduler is not running"
        }
    }
}

/// Why a cron expression was refused. The description is one line that quotes the expression and names the
/// field, for example `invalid cron expression "61 * * * *": minute value 61 is outside 0-59`.
public struct CronExpressionError: Error, Sendable, Hashable, CustomStringConvertible {
    /// The expression as given.
    public let expression: String
    /// What is wrong with it.
    public let reason: String

    init(_ expression: String, _ reason: String) {
        self.expression = expression
        self.reason = reason
    }

    public var description: String {
        "invalid cron expression \"\(self.expression)\": \(self.reason)"
    }
}

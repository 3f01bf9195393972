/// Collects every offending field of a request, then throws them all at once.
public struct Validator: Sendable {
    /// The problems found so far.
    public private(set) var errors: [FieldError] = []

    /// Creates an empty validator.
    public init() {}

    /// Records a problem with `field` unless `condition` holds.
    /// - Parameters:
    ///   - condition: What must be true.
    ///   - field: The field it is about.
    ///   - code: The field code when it is not.
    ///   - message: The explanation when it is not.
    public mutating func require(
        _ condition: Bool,
        field: String,
        code: FieldError.Code,
        message: @autoclosure () -> String
    ) {
        if !condition {
            self.errors.append(FieldError(field: field, code: code, message: message()))
        }
    }

    /// Records a problem unconditionally.
    /// - Parameter error: The problem.
    public mutating func add(_ error: FieldError) {
        self.errors.append(error)
    }

    /// Throws `422 VALIDATION_FAILED` with every problem, if there is any.
    public func throwIfInvalid() throws(APIError) {
        if !self.errors.isEmpty { throw APIError.validationFailed(self.errors) }
    }

    /// Throws `400 INVALID_PARAMETER` with every problem, if there is any (for path and query parameters).
    public func throwIfInvalidParameters() throws(APIError) {
        if !self.errors.isEmpty { throw APIError.invalidParameters(self.errors) }
    }
}

public import Hummingbird

/// `page` and `size` query parameters, validated (`docs/api/success-response.md`).
public struct Pagination: Sendable, Equatable {
    /// The page, from 1.
    public var page: Int
    /// Items per page.
    public var size: Int

    /// The largest page size.
    public static let maxSize = 100
    /// The page size when none is asked for.
    public static let defaultSize = 20
    /// The largest page number (keeps `OFFSET` arithmetic far from overflow).
    public static let maxPage = 1_000_000

    /// Rows to skip.
    public var offset: Int { (self.page - 1) * self.size }

    /// Reads and validates `page` and `size` from the query of `request`.
    /// - Parameter request: The request.
    /// - Throws: `400 INVALID_PARAMETER` naming each bad parameter.
    public init(request: Request) throws(APIError) {
        let query = request.uri.queryParameters
        var validator = Validator()
        self.page = Self.integer(
            query["page"].map(String.init),
            name: "page",
            default: 1,
            range: 1...Self.maxPage,
            &validator
        )
        self.size = Self.integer(
            query["size"].map(String.init),
            name: "size",
            default: Self.defaultSize,
            range: 1...Self.maxSize,
            &validator
        )
        try validator.throwIfInvalidParameters()
    }

    private static func integer(
        _ text: String?,
        name: String,
        default defaultValue: Int,
        range: ClosedRange<Int>,
        _ validator: inout Validator
    ) -> Int {
        guard let text else { return defaultValue }
        guard let value = Int(text) else {
            validator.add(FieldError(field: name, code: .invalidType, message: "must be an integer"))
            return defaultValue
        }
        guard range.contains(value) else {
            validator.add(
                FieldError(
                    field: name,
                    code: .outOfRange,
                    message: "must be between \(range.lowerBound) and \(range.upperBound)"
                )
            )
            return defaultValue
        }
        return value
    }
}

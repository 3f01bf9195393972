/// The one set of rules for free text a client sends that the service stores: no NUL or other control
/// characters (PostgreSQL refuses U+0000 in `text` with SQLSTATE 22021), and lengths counted the way the
/// database's `CHECK (length(...) ...)` counts them — in Unicode scalars (code points), not in grapheme
/// clusters, so a decomposed accent or a ZWJ emoji sequence cannot pass validation and then violate the CHECK.
///
/// Every text field of a request body goes through ``Validator/text(_:field:rule:)``; the rules differ only in
/// their limits and in whether line breaks and tabs are allowed.
public struct TextRule: Sendable {
    /// The fewest Unicode scalars (after trimming, when the rule trims).
    public var minLength: Int
    /// The most Unicode scalars (after trimming, when the rule trims) — the database's limit.
    public var maxLength: Int
    /// Whether `\n`, `\r` and `\t` are allowed (multi-line text); every other control character never is.
    public var allowsLineBreaks: Bool
    /// Whether leading and trailing white space is removed before the checks (and from the value kept).
    public var trims: Bool

    /// Creates a rule.
    /// - Parameters:
    ///   - minLength: The fewest Unicode scalars; 1 or more means "not blank".
    ///   - maxLength: The most Unicode scalars.
    ///   - allowsLineBreaks: Whether `\n`, `\r` and `\t` are allowed.
    ///   - trims: Whether surrounding white space is removed first.
    public init(minLength: Int, maxLength: Int, allowsLineBreaks: Bool = false, trims: Bool = false) {
        self.minLength = minLength
        self.maxLength = maxLength
        self.allowsLineBreaks = allowsLineBreaks
        self.trims = trims
    }

    /// Whether `scalar` is a control character this rule refuses: C0 (U+0000–U+001F, less the allowed line
    /// breaks), DEL and C1 (U+007F–U+009F).
    func refuses(_ scalar: Unicode.Scalar) -> Bool {
        if self.allowsLineBreaks && (scalar == "\n" || scalar == "\r" || scalar == "\t") { return false }
        return scalar.value < 0x20 || (0x7F...0x9F).contains(scalar.value)
    }

    /// The value as kept: trimmed when the rule trims.
    func kept(_ value: String) -> String {
        self.trims ? Self.trimmed(value) : value
    }

    /// The field error that refuses `kept` (a value as ``kept(_:)`` returns it), or nil when it is acceptable.
    func problem(with kept: String, field: String) -> FieldError? {
        if let scalar = kept.unicodeScalars.first(where: self.refuses) {
            let what = scalar.value == 0 ? "NUL (U+0000)" : "control characters"
            let allowed = self.allowsLineBreaks ? " other than line breaks and tabs" : ""
            return FieldError(field: field, code: .invalidFormat, message: "must not contain \(what)\(allowed)")
        }
        let length = kept.unicodeScalars.count
        if length < self.minLength || (self.minLength > 0 && kept.unicodeScalars.allSatisfy(\.properties.isWhitespace))
        {
            let message = self.minLength <= 1 ? "must not be blank" : "must have at least \(self.minLength) characters"
            return FieldError(field: field, code: .tooShort, message: message)
        }
        if length > self.maxLength {
            return FieldError(
                field: field,
                code: .tooLong,
                message: "must have at most \(self.maxLength) characters (Unicode code points)"
            )
        }
        return nil
    }

    private static func trimmed(_ value: String) -> String {
        let scalars = value.unicodeScalars
        guard let first = scalars.firstIndex(where: { !$0.properties.isWhitespace }),
            let last = scalars.lastIndex(where: { !$0.properties.isWhitespace })
        else { return "" }
        return String(scalars[first...last])
    }
}

extension Validator {
    /// Checks `value` against `rule`, recording a field error when it breaks it.
    /// - Parameters:
    ///   - value: The text as decoded.
    ///   - field: The field it came from (`name`, `items[0].note`).
    ///   - rule: The rule.
    /// - Returns: The value as kept (trimmed when the rule trims); nil when it was refused.
    @discardableResult
    public mutating func text(_ value: String, field: String, rule: TextRule) -> String? {
        let kept = rule.kept(value)
        guard let problem = rule.problem(with: kept, field: field) else { return kept }
        self.add(problem)
        return nil
    }
}

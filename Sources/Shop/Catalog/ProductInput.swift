/// The body of `POST /api/v1/products` and `PUT /api/v1/products/{id}`: the product's writable fields.
///
/// Every member is decoded as optional so that validation can report every missing or bad field at once
/// (`422 VALIDATION_FAILED`); a member of the wrong JSON type is reported by the decoder. The read-only members
/// of the resource (`id`, `updatedAt`) are ignored if present.
public struct ProductInput: Decodable, Sendable, Equatable {
    /// 1–200 characters, not blank, no control characters.
    public var name: String?
    /// Up to 5,000 characters; optional, empty when absent.
    public var description: String?
    /// A decimal string with exactly two places, `"0.00"` to `"9999999999.99"`.
    public var price: String?
    /// An ISO 4217 code (`USD`).
    public var currency: String?
    /// 0 to 2,147,483,647.
    public var stock: Int?

    /// Creates an input.
    public init(
        name: String? = nil,
        description: String? = nil,
        price: String? = nil,
        currency: String? = nil,
        stock: Int? = nil
    ) {
        self.name = name
        self.description = description
        self.price = price
        self.currency = currency
        self.stock = stock
    }

    enum CodingKeys: String, CodingKey {
        case name, description, price, currency, stock
    }

    public init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        self.name = try container.decodeIfPresent(String.self, forKey: .name)
        self.description = try container.decodeIfPresent(String.self, forKey: .description)
        self.price = try container.decodeIfPresent(String.self, forKey: .price)
        self.currency = try container.decodeIfPresent(String.self, forKey: .currency)
        if let stock = try? container.decodeIfPresent(Int.self, forKey: .stock) {
            self.stock = stock
        } else if (try? container.decode(Double.self, forKey: .stock)) != nil {
            // A number, but not an integer (1.5, 1e30): a type error of that member, not broken JSON.
            throw DecodingError.typeMismatch(
                Int.self,
                DecodingError.Context(codingPath: [CodingKeys.stock], debugDescription: "not an integer")
            )
        } else {
            self.stock = try container.decodeIfPresent(Int.self, forKey: .stock)
        }
    }

    /// The limits of the fields, as the database enforces them too.
    public enum Limits {
        /// Longest name, in characters (Unicode scalars, as PostgreSQL's `length`).
        public static let nameLength = 200
        /// Longest description.
        public static let descriptionLength = 5000
        /// The name: 1–200 code points, not blank, no control characters.
        public static let name = TextRule(minLength: 1, maxLength: nameLength)
        /// The description: up to 5,000 code points, line breaks and tabs allowed.
        public static let description = TextRule(minLength: 0, maxLength: descriptionLength, allowsLineBreaks: true)
        /// Largest price (`numeric(12, 2)`).
        public static let maxPrice = "9999999999.99"
        /// Largest stock (`integer`).
        public static let maxStock = Int(Int32.max)
    }

    /// The validated fields.
    /// - Throws: `422 VALIDATION_FAILED` listing every offending field.
    public func validated() throws(APIError) -> ProductDraft {
        var validator = Validator()
        let name = self.name ?? ""
        if self.name == nil {
            validator.add(FieldError(field: "name", code: .required, message: "is required"))
        } else {
            validator.text(name, field: "name", rule: Limits.name)
        }
        let description = self.description ?? ""
        validator.text(description, field: "description", rule: Limits.description)

        if let price = self.price {
            if let problem = Self.priceProblem(price) { validator.add(problem) }
        } else {
            validator.add(FieldError(field: "price", code: .required, message: "is required"))
        }

        if let currency = self.currency {
            if currency.utf8.count != 3
                || !currency.utf8.allSatisfy({ (UInt8(ascii: "A")...UInt8(ascii: "Z")).contains($0) })
            {
                validator.add(
                    FieldError(
                        field: "currency",
                        code: .invalidFormat,
                        message: "must be an ISO 4217 code of three upper-case letters, like \"USD\""
                    )
                )
            } else if !CurrencyCodes.iso4217.contains(currency) {
                validator.add(
                    FieldError(field: "currency", code: .invalidFormat, message: "is not an ISO 4217 currency code")
                )
            }
        } else {
            validator.add(FieldError(field: "currency", code: .required, message: "is required"))
        }

        if let stock = self.stock {
            if stock < 0 {
                validator.add(FieldError(field: "stock", code: .outOfRange, message: "must be at least 0"))
            } else if stock > Limits.maxStock {
                validator.add(
                    FieldError(field: "stock", code: .outOfRange, message: "must be at most \(Limits.maxStock)")
                )
            }
        } else {
            validator.add(FieldError(field: "stock", code: .required, message: "is required"))
        }

        try validator.throwIfInvalid()
        return ProductDraft(
            name: name,
            description: description,
            price: self.price ?? "",
            currency: self.currency ?? "",
            stock: self.stock ?? 0
        )
    }

    /// Nil for `1234.50`; a field error for anything else.
    static func priceProblem(_ price: String) -> FieldError? {
        let bytes = Array(price.utf8)
        let isDigit = { (byte: UInt8) in (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(byte) }
        let unsigned = bytes.first == UInt8(ascii: "-") ? Array(bytes.dropFirst()) : bytes
        let shaped =
            unsigned.count >= 4 && unsigned[unsigned.count - 3] == UInt8(ascii: ".")
            && unsigned.prefix(unsigned.count - 3).allSatisfy(isDigit) && unsigned.suffix(2).allSatisfy(isDigit)
        guard shaped else {
            return FieldError(
                field: "price",
                code: .invalidFormat,
                message: "must be a decimal string with two places, like \"12.50\""
            )
        }
        let integerDigits = unsigned.prefix(unsigned.count - 3).drop { $0 == UInt8(ascii: "0") }
        let isZero = integerDigits.isEmpty && unsigned.suffix(2).allSatisfy { $0 == UInt8(ascii: "0") }
        if bytes.first == UInt8(ascii: "-") && !isZero {
            return FieldError(field: "price", code: .outOfRange, message: "must be at least 0.00")
        }
        if integerDigits.count > 10 {
            return FieldError(field: "price", code: .outOfRange, message: "must be at most \(Limits.maxPrice)")
        }
        return nil
    }
}

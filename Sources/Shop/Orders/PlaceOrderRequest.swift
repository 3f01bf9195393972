import Crypto

#if canImport(FoundationEssentials)
    public import FoundationEssentials
#else
    public import Foundation
#endif

/// The body of `POST /api/v1/orders`: `{"items": [{"productId": UUID, "quantity": Int}]}`.
///
/// Members decode as optional so validation can report every bad field at once (`422 VALIDATION_FAILED`).
public struct PlaceOrderRequest: Decodable, Sendable {
    /// One requested line.
    public struct Item: Decodable, Sendable {
        /// The product's id, as a string (validated as a UUID).
        public var productId: String?
        /// Units, 1–1000.
        public var quantity: Int?
    }

    /// The lines, 1–100.
    public var items: [Item]?

    /// Limits of a request.
    public enum Limits {
        /// Most lines in one order.
        public static let items = 100
        /// Most units of one line.
        public static let quantity = 1000
    }

    /// The validated lines, normalized (merged per product, in product order).
    /// - Throws: `422 VALIDATION_FAILED` listing every offending field.
    public func lines() throws(APIError) -> [StockLine] {
        var validator = Validator()
        guard let items else {
            validator.require(false, field: "items", code: .required, message: "is required")
            try validator.throwIfInvalid()
            return []
        }
        validator.require(!items.isEmpty, field: "items", code: .tooShort, message: "must have at least 1 item")
        validator.require(
            items.count <= Limits.items,
            field: "items",
            code: .tooLong,
            message: "must have at most \(Limits.items) items"
        )
        var lines: [StockLine] = []
        for (index, item) in items.enumerated() {
            let path = "items[\(index)]"
            var id: UUID?
            if let text = item.productId {
                id = UUID(uuidString: text)
                validator.require(
                    id != nil,
                    field: "\(path).productId",
                    code: .invalidFormat,
                    message: "must be a UUID"
                )
            } else {
                validator.require(false, field: "\(path).productId", code: .required, message: "is required")
            }
            if let quantity = item.quantity {
                validator.require(
                    (1...Limits.quantity).contains(quantity),
                    field: "\(path).quantity",
                    code: .outOfRange,
                    message: "must be from 1 to \(Limits.quantity)"
                )
                if let id, (1...Limits.quantity).contains(quantity) {
                    lines.append(StockLine(productID: id, quantity: quantity))
                }
            } else {
                validator.require(false, field: "\(path).quantity", code: .required, message: "is required")
            }
        }
        try validator.throwIfInvalid()
        let merged = StockLine.normalized(lines)
        // Lines of one product are merged; the merged line obeys the same per-line limit.
        for line in merged where line.quantity > Limits.quantity {
            validator.add(
                FieldError(
                    field: "items",
                    code: .outOfRange,
                    message:
                        "asks for \(line.quantity) units of product \(line.productID.uuidString.lowercased()) in all; at most \(Limits.quantity) units of one product"
                )
            )
        }
        try validator.throwIfInvalid()
        return merged
    }

    /// A hash of the normalized lines: two bodies that order the same things hash the same, whatever their
    /// member order or spacing.
    static func hash(_ lines: [StockLine]) -> String {
        let canonical = lines.map { "\($0.productID.uuidString.lowercased()):\($0.quantity)" }.joined(separator: ",")
        return Array(SHA256.hash(data: Array(canonical.utf8))).hex
    }
}

public import Hummingbird

/// The success template: `{"data": ..., "meta": {...}}` (`docs/api/success-response.md`).
public struct Envelope<Payload: Encodable & Sendable, Meta: Encodable & Sendable>: ResponseEncodable, Sendable {
    /// The resource or list of resources.
    public var data: Payload
    /// Information about the answer; `{}` when there is none.
    public var meta: Meta

    /// Creates an envelope.
    /// - Parameters:
    ///   - data: The resource or list.
    ///   - meta: Information about it.
    public init(data: Payload, meta: Meta) {
        self.data = data
        self.meta = meta
    }
}

extension Envelope where Meta == EmptyMeta {
    /// An envelope whose `meta` is `{}`.
    /// - Parameter data: The resource.
    public init(data: Payload) {
        self.init(data: data, meta: EmptyMeta())
    }
}

/// `{}`.
public struct EmptyMeta: Codable, Sendable, Equatable {
    /// Creates the empty object.
    public init() {}
}

/// `meta` of a paged list.
public struct PageMeta: Codable, Sendable, Equatable {
    /// The page returned, from 1.
    public var page: Int
    /// The page size used.
    public var size: Int
    /// How many items there are in all.
    public var totalItems: Int
    /// `ceil(totalItems / size)`.
    public var totalPages: Int

    /// Creates the meta of page `page` of `size` items out of `totalItems`.
    /// - Parameters:
    ///   - page: The page returned.
    ///   - size: The page size.
    ///   - totalItems: How many there are in all.
    public init(page: Int, size: Int, totalItems: Int) {
        self.page = page
        self.size = size
        self.totalItems = totalItems
        self.totalPages = size > 0 ? (totalItems + size - 1) / size : 0
    }
}

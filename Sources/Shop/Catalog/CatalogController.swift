public import Hummingbird

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/products` and `GET /api/v1/products/{id}`.
public struct CatalogController<Repository: ProductRepository>: Sendable {
    let repository: Repository

    /// Creates the controller.
    /// - Parameter repository: Where products come from.
    public init(repository: Repository) {
        self.repository = repository
    }

    /// The routes, to add under `/api/v1/products`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.get(use: self.list)
        routes.get(":id", use: self.show)
        return routes
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[Product], PageMeta> {
        let pagination = try Pagination(request: request)
        let page = try await self.repository.list(offset: pagination.offset, limit: pagination.size)
        return Envelope(
            data: page.items,
            meta: PageMeta(page: pagination.page, size: pagination.size, totalItems: page.totalItems)
        )
    }

    @Sendable func show(_ request: Request, context: ShopRequestContext) async throws -> Envelope<Product, EmptyMeta> {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else {
            throw APIError.invalidParameters([FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
        }
        guard let product = try await self.repository.find(id: id) else {
            throw APIError.notFound("No product has the id \(id.uuidString.lowercased()).")
        }
        return Envelope(data: product)
    }
}

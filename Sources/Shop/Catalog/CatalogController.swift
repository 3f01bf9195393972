public import Hummingbird
import NIOCore

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

/// `GET /api/v1/products`, `GET /api/v1/products/{id}` (anyone), and `POST /api/v1/products`,
/// `PUT /api/v1/products/{id}`, `DELETE /api/v1/products/{id}` (admins).
public struct CatalogController<Repository: ProductRepository>: Sendable {
    let service: CatalogService<Repository>
    /// Converts prices for `?currency=`; nil answers such requests with the product's own currency only.
    var rates: RatesService?

    /// Creates the controller.
    /// - Parameter service: The catalog logic (reads through the cache, writes evict it).
    public init(service: CatalogService<Repository>) {
        self.service = service
    }

    init(service: CatalogService<Repository>, rates: RatesService?) {
        self.service = service
        self.rates = rates
    }

    /// The routes, to add under `/api/v1/products`.
    public var routes: RouteCollection<ShopRequestContext> {
        let routes = RouteCollection(context: ShopRequestContext.self)
        routes.get(use: self.list)
        routes.get(":id", use: self.show)
        let admin = routes.group().add(middleware: RequireRole(.admin))
        admin.post(use: self.create)
        admin.put(":id", use: self.update)
        admin.delete(":id", use: self.delete)
        return routes
    }

    @Sendable func list(_ request: Request, context: ShopRequestContext) async throws -> Envelope<[Product], PageMeta> {
        let pagination = try Pagination(request: request)
        let page = try await self.service.page(offset: pagination.offset, limit: pagination.size)
        return Envelope(
            data: page.items,
            meta: PageMeta(page: pagination.page, size: pagination.size, totalItems: page.totalItems)
        )
    }

    @Sendable func show(_ request: Request, context: ShopRequestContext) async throws -> Response {
        let id = try Self.id(context)
        guard let product = try await self.service.productJSON(id: id) else {
            throw Self.notFound(id)
        }
        if let currency = request.uri.queryParameters["currency"] {
            return try await self.converted(product, to: String(currency), request: request, context: context)
        }
        // The product's API JSON (cached as such) inside the envelope: byte for byte what
        // `Envelope(data: product)` encodes, without decoding and re-encoding it on every hit.
        let body = ProductJSON.envelope(product)
        return Response(
            status: .ok,
            headers: [.contentType: "application/json; charset=utf-8", .contentLength: String(body.readableBytes)],
            body: ResponseBody(byteBuffer: body)
        )
    }

    /// The product with its price converted at the provider's rate (the last good rate, marked stale, when the
    /// provider is down).
    private func converted(
        _ json: ByteBuffer,
        to currency: String,
        request: Request,
        context: ShopRequestContext
    ) async throws -> Response {
        let target = try RatesController.currency(currency, field: "currency")
        let product = try ProductJSON.decode(json)
        let answer: RateAnswer
        if target == product.currency {
            answer = RateAnswer(quote: RateQuote(base: target, quote: target, rate: "1.000000", asOf: ""), stale: false)
        } else if let rates = self.rates {
            answer = try await RatesController.lookup(rates, base: product.currency, quote: target)
        } else {
            throw APIError(
                status: .serviceUnavailable,
                code: .providerUnavailable,
                detail: "Price conversion is not configured."
            )
        }
        guard let price = PriceConversion.convert(price: product.price, rate: answer.quote.rate) else {
            throw APIError(
                status: .serviceUnavailable,
                code: .providerUnavailable,
                detail: "The provider's rate is not usable."
            )
        }
        let converted = ConvertedPrice(
            currency: target,
            price: price,
            rate: answer.quote.rate,
            asOf: answer.quote.asOf,
            stale: answer.stale
        )
        return try Envelope(data: ConvertedProduct(product: product, converted: converted)).response(
            from: request,
            context: context
        )
    }

    @Sendable func create(
        _ request: Request,
        context: ShopRequestContext
    ) async throws -> EditedResponse<Envelope<Product, EmptyMeta>> {
        let draft = try await request.decodeJSON(as: ProductInput.self, context: context).validated()
        let product = try await self.service.create(draft)
        return EditedResponse(
            status: .created,
            headers: [.location: "/api/v1/products/\(product.id.uuidString.lowercased())"],
            response: Envelope(data: product)
        )
    }

    @Sendable func update(_ request: Request, context: ShopRequestContext) async throws -> Envelope<Product, EmptyMeta>
    {
        let id = try Self.id(context)
        let draft = try await request.decodeJSON(as: ProductInput.self, context: context).validated()
        guard let product = try await self.service.update(id: id, draft) else {
            throw Self.notFound(id)
        }
        return Envelope(data: product)
    }

    @Sendable func delete(_ request: Request, context: ShopRequestContext) async throws -> HTTPResponse.Status {
        let id = try Self.id(context)
        do {
            guard try await self.service.delete(id: id) else { throw Self.notFound(id) }
        } catch is ProductInUseError {
            throw APIError(
                status: .conflict,
                code: .conflict,
                detail: "The product \(id.uuidString.lowercased()) is part of orders and cannot be deleted."
            )
        }
        return .noContent
    }

    static func id(_ context: ShopRequestContext) throws(APIError) -> UUID {
        let text = context.parameters.get("id") ?? ""
        guard let id = UUID(uuidString: text) else {
            throw APIError.invalidParameters([FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
        }
        return id
    }

    static func notFound(_ id: UUID) -> APIError {
        APIError.notFound("No product has the id \(id.uuidString.lowercased()).")
    }
}

/// A product with its price in another currency (`GET /api/v1/products/{id}?currency=EUR`).
struct ConvertedProduct: Encodable, Sendable {
    var product: Product
    var converted: ConvertedPrice

    enum CodingKeys: String, CodingKey {
        case converted
    }

    func encode(to encoder: any Encoder) throws {
        try self.product.encode(to: encoder)
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(self.converted, forKey: .converted)
    }
}

/// The converted price: `price` is the product's price × `rate`, rounded to two decimals.
struct ConvertedPrice: Codable, Sendable, Equatable {
    var currency: String
    var price: String
    var rate: String
    var asOf: String
    /// True when the rate is the last good one, served because the provider could not be asked.
    var stale: Bool
}

import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Shop
import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
#else
    import Foundation
#endif

@Suite("Catalog admin: authorization and validation")
struct CatalogAdminTests {
    static let valid = #"{"name":"Cupping spoon","description":"","price":"7.90","currency":"USD","stock":30}"#

    static let writes: [(HTTPRequest.Method, String, String?)] = [
        (.post, "/api/v1/products", valid),
        (.put, "/api/v1/products/\(mugID)", valid),
        (.delete, "/api/v1/products/\(mugID)", nil),
        (.get, "/api/v1/admin/cache/stats", nil),
    ]

    @Test("anonymous callers get 401 UNAUTHORIZED and users 403 FORBIDDEN, in the template; nothing changes")
    func authorization() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let user = try await client.userCookie()
            for (method, uri, body) in Self.writes {
                let anonymous = try await client.catalogRequest(method, uri, json: body)
                #expect(anonymous.status == .unauthorized, "\(method) \(uri)")
                #expect(try anonymous.problem().code == "UNAUTHORIZED")
                #expect(try anonymous.problem().instance == uri)
                let forbidden = try await client.catalogRequest(method, uri, cookie: user, json: body)
                #expect(forbidden.status == .forbidden, "\(method) \(uri)")
                #expect(try forbidden.problem().code == "FORBIDDEN")
            }
            #expect(try await client.product(mugID).name == "Limited edition mug")
            let list = try await client.catalogRequest(.get, "/api/v1/products")
            #expect(list.text.contains(#""totalItems":12"#))
        }
    }

    static let invalid: [(body: String, expected: [String])] = [
        (#"{}"#, ["name:REQUIRED", "price:REQUIRED", "currency:REQUIRED", "stock:REQUIRED"]),
        (#"{"name":"","price":"1.00","currency":"USD","stock":1}"#, ["name:TOO_SHORT"]),
        (#"{"name":"   ","price":"1.00","currency":"USD","stock":1}"#, ["name:TOO_SHORT"]),
        (
            #"{"name":"\#(String(repeating: "n", count: 201))","price":"1.00","currency":"USD","stock":1}"#,
            ["name:TOO_LONG"]
        ),
        (#"{"name":"a\u0000b","price":"1.00","currency":"USD","stock":1}"#, ["name:INVALID_FORMAT"]),
        (
            #"{"name":"a","description":"\#(String(repeating: "d", count: 5001))","price":"1.00","currency":"USD","stock":1}"#,
            ["description:TOO_LONG"]
        ),
        (#"{"name":"a","price":"1.5","currency":"USD","stock":1}"#, ["price:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1.505","currency":"USD","stock":1}"#, ["price:INVALID_FORMAT"]),
        (#"{"name":"a","price":"12","currency":"USD","stock":1}"#, ["price:INVALID_FORMAT"]),
        (#"{"name":"a","price":".50","currency":"USD","stock":1}"#, ["price:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1e3.00","currency":"USD","stock":1}"#, ["price:INVALID_FORMAT"]),
        (#"{"name":"a","price":"-1.00","currency":"USD","stock":1}"#, ["price:OUT_OF_RANGE"]),
        (#"{"name":"a","price":"10000000000.00","currency":"USD","stock":1}"#, ["price:OUT_OF_RANGE"]),
        (#"{"name":"a","price":"1.00","currency":"usd","stock":1}"#, ["currency:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1.00","currency":"DOLLAR","stock":1}"#, ["currency:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1.00","currency":"ABC","stock":1}"#, ["currency:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1.00","currency":"XAU","stock":1}"#, ["currency:INVALID_FORMAT"]),
        (#"{"name":"a","price":"1.00","currency":"USD","stock":-1}"#, ["stock:OUT_OF_RANGE"]),
        (#"{"name":"a","price":"1.00","currency":"USD","stock":2147483648}"#, ["stock:OUT_OF_RANGE"]),
        (#"{"name":"a","price":1.00,"currency":"USD","stock":1}"#, ["price:INVALID_TYPE"]),
        (#"{"name":"a","price":"1.00","currency":"USD","stock":"1"}"#, ["stock:INVALID_TYPE"]),
        (#"{"name":"a","price":"1.00","currency":"USD","stock":1.5}"#, ["stock:INVALID_TYPE"]),
        (#"{"name":"a","price":"1.00","currency":"USD","stock":1e30}"#, ["stock:INVALID_TYPE"]),
        (#"{"name":null,"price":"1.00","currency":"USD","stock":null}"#, ["name:REQUIRED", "stock:REQUIRED"]),
        (
            #"{"name":"","price":"-2.00","currency":"us","stock":-3}"#,
            [
                "name:TOO_SHORT", "price:OUT_OF_RANGE", "currency:INVALID_FORMAT", "stock:OUT_OF_RANGE",
            ]
        ),
    ]

    @Test("invalid products: 422 VALIDATION_FAILED naming every offending field, for POST and PUT")
    func validation() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            for (body, expected) in Self.invalid {
                for (method, uri) in [
                    (HTTPRequest.Method.post, "/api/v1/products"), (.put, "/api/v1/products/\(mugID)"),
                ] {
                    let response = try await client.catalogRequest(method, uri, cookie: admin, json: body)
                    #expect(response.status == .unprocessableContent, "\(method) \(body.prefix(80))")
                    let problem = try response.problem()
                    #expect(problem.code == "VALIDATION_FAILED")
                    #expect(problem.errors?.map { "\($0.field):\($0.code)" } == expected, "\(body.prefix(80))")
                }
            }
            #expect(try await client.product(mugID).name == "Limited edition mug")
            let list = try await client.catalogRequest(.get, "/api/v1/products")
            #expect(list.text.contains(#""totalItems":12"#))
        }
    }

    @Test("bodies that are not JSON products: 415, 400 and 413 in the template")
    func badBodies() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            var headers: HTTPFields = [.cookie: admin, .contentType: "text/plain"]
            let wrongType = try await client.executeRequest(
                uri: "/api/v1/products",
                method: .post,
                headers: headers,
                body: ByteBuffer(string: Self.valid)
            )
            #expect(wrongType.status == .unsupportedMediaType)
            #expect(try wrongType.problem().code == "UNSUPPORTED_MEDIA_TYPE")
            let broken = try await client.catalogRequest(.post, "/api/v1/products", cookie: admin, json: "{\"name\":")
            #expect(broken.status == .badRequest)
            #expect(try broken.problem().code == "MALFORMED_JSON")
            headers[.contentType] = "application/json"
            let huge = try await client.executeRequest(
                uri: "/api/v1/products",
                method: .post,
                headers: headers,
                body: ByteBuffer(repeating: UInt8(ascii: " "), count: (1 << 20) + 1)
            )
            #expect(huge.status == .contentTooLarge)
            #expect(try huge.problem().code == "PAYLOAD_TOO_LARGE")
        }
    }

    @Test("a valid product is stored as given; prices with leading zeros are normalised by PostgreSQL")
    func stored() async throws {
        try await withCatalogApps { clients, _ in
            let client = clients[0]
            let admin = try await client.adminCookie()
            let response = try await client.catalogRequest(
                .post,
                "/api/v1/products",
                cookie: admin,
                json:
                    #"{"name":"Grinder ✨","description":"Line one\nline two","price":"0099.00","currency":"JPY","stock":0,"id":"ignored","updatedAt":"ignored"}"#
            )
            #expect(response.status == .created, "\(response.text)")
            let product = try response.json(Envelope1<ProductBody>.self).data
            #expect(product.name == "Grinder ✨")
            #expect(product.description == "Line one\nline two")
            #expect(product.price == "99.00")
            #expect(product.currency == "JPY")
            #expect(product.stock == 0)
            #expect(UUID(uuidString: product.id) != nil)
            #expect(try await client.product(product.id) == product)
        }
    }
}

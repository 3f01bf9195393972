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

@Suite("Catalog")
struct CatalogTests {
    struct ListBody: Decodable {
        var data: [ProductJSON]
        var meta: PageMeta
    }

    struct ProductJSON: Decodable, Equatable {
        var id: String
        var name: String
        var description: String
        var price: String
        var currency: String
        var stock: Int
        var updatedAt: String
    }

    @Test("the first page has the default size and the totals")
    func defaultPage() async throws {
        try await withTestApp(seed: true) { client in
            try await client.execute(uri: "/api/v1/products", method: .get) { response in
                #expect(response.status == .ok)
                let body = try response.json(ListBody.self)
                #expect(body.meta == PageMeta(page: 1, size: 20, totalItems: 12))
                #expect(body.meta.totalPages == 1)
                #expect(body.data.count == 12)
                #expect(body.data.map(\.name) == body.data.map(\.name).sorted())
            }
        }
    }

    @Test("pages partition the catalog", arguments: [1, 5, 7, 12, 100])
    func pagesPartition(size: Int) async throws {
        try await withTestApp(seed: true) { client in
            var seen: [String] = []
            let pages = (12 + size - 1) / size
            for page in 1...pages {
                try await client.execute(uri: "/api/v1/products?page=\(page)&size=\(size)", method: .get) { response in
                    #expect(response.status == .ok)
                    let body = try response.json(ListBody.self)
                    #expect(body.meta == PageMeta(page: page, size: size, totalItems: 12))
                    #expect(body.meta.totalPages == pages)
                    #expect(body.data.count == min(size, 12 - (page - 1) * size))
                    seen += body.data.map(\.id)
                }
            }
            #expect(seen.count == 12)
            #expect(Set(seen).count == 12)
        }
    }

    @Test("a page past the end is empty, with the totals")
    func pastTheEnd() async throws {
        try await withTestApp(seed: true) { client in
            try await client.execute(uri: "/api/v1/products?page=4&size=5", method: .get) { response in
                #expect(response.status == .ok)
                #expect(response.text == #"{"data":[],"meta":{"page":4,"size":5,"totalItems":12,"totalPages":3}}"#)
            }
            try await client.execute(uri: "/api/v1/products?page=1000000&size=100", method: .get) { response in
                #expect(response.status == .ok)
                let body = try response.json(ListBody.self)
                #expect(body.data.isEmpty)
            }
        }
    }

    @Test("an empty catalog has zero pages")
    func emptyCatalog() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/api/v1/products", method: .get) { response in
                #expect(response.text == #"{"data":[],"meta":{"page":1,"size":20,"totalItems":0,"totalPages":0}}"#)
            }
        }
    }

    @Test(
        "bad page or size: 400 INVALID_PARAMETER naming it",
        arguments: [
            ("page=0", "page", "OUT_OF_RANGE"),
            ("page=-1", "page", "OUT_OF_RANGE"),
            ("page=1000001", "page", "OUT_OF_RANGE"),
            ("page=abc", "page", "INVALID_TYPE"),
            ("page=", "page", "INVALID_TYPE"),
            ("page=1.5", "page", "INVALID_TYPE"),
            ("page=99999999999999999999999", "page", "INVALID_TYPE"),
            ("size=0", "size", "OUT_OF_RANGE"),
            ("size=101", "size", "OUT_OF_RANGE"),
            ("size=-5", "size", "OUT_OF_RANGE"),
            ("size=ten", "size", "INVALID_TYPE"),
            ("size=%00", "size", "INVALID_TYPE"),
        ]
    )
    func badParameters(query: String, field: String, code: String) async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/api/v1/products?\(query)", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try response.problem()
                #expect(problem.code == "INVALID_PARAMETER")
                #expect(problem.instance == "/api/v1/products")
                #expect(problem.errors?.map(\.field) == [field])
                #expect(problem.errors?.map(\.code) == [code])
            }
        }
    }

    @Test("both parameters bad: both are listed")
    func bothBad() async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/api/v1/products?page=0&size=1000", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try response.problem()
                #expect(problem.detail == "The request has 2 invalid parameters.")
                #expect(
                    problem.errors == [
                        FieldError(field: "page", code: .outOfRange, message: "must be between 1 and 1000000"),
                        FieldError(field: "size", code: .outOfRange, message: "must be between 1 and 100"),
                    ]
                )
            }
        }
    }

    @Test("one product by id, in the documented shape")
    func showProduct() async throws {
        try await withTestApp(seed: true) { client in
            try await client.execute(uri: "/api/v1/products/0b5c4b1e-7d1f-4c55-9f4e-000000000004", method: .get) {
                response in
                #expect(response.status == .ok)
                #expect(
                    response.text
                        == #"{"data":{"currency":"USD","description":"Hand-glazed stoneware; only ten were made.","id":"0b5c4b1e-7d1f-4c55-9f4e-000000000004","name":"Limited edition mug","price":"12.50","stock":10,"updatedAt":"2026-01-01T00:00:00Z"},"meta":{}}"#
                )
            }
            // Upper-case ids name the same product.
            try await client.execute(uri: "/api/v1/products/0B5C4B1E-7D1F-4C55-9F4E-000000000004", method: .get) {
                response in
                #expect(response.status == .ok)
            }
        }
    }

    @Test("a missing product: 404 NOT_FOUND")
    func missingProduct() async throws {
        try await withTestApp(seed: true) { client in
            let id = "0b5c4b1e-7d1f-4c55-9f4e-0000000000ff"
            try await client.execute(uri: "/api/v1/products/\(id)", method: .get) { response in
                #expect(response.status == .notFound)
                let problem = try response.problem()
                #expect(problem.code == "NOT_FOUND")
                #expect(problem.detail == "No product has the id \(id).")
                #expect(problem.instance == "/api/v1/products/\(id)")
            }
        }
    }

    @Test(
        "a malformed id: 400 INVALID_PARAMETER",
        arguments: [
            "nope", "123", "0b5c4b1e-7d1f-4c55-9f4e-00000000000g", "%27%20OR%201=1--",
            String(repeating: "a", count: 2000),
        ]
    )
    func malformedID(id: String) async throws {
        try await withTestApp { client in
            try await client.execute(uri: "/api/v1/products/\(id)", method: .get) { response in
                #expect(response.status == .badRequest)
                let problem = try response.problem()
                #expect(problem.code == "INVALID_PARAMETER")
                #expect(problem.errors == [FieldError(field: "id", code: .invalidFormat, message: "must be a UUID")])
            }
        }
    }
}

import Testing

#if canImport(FoundationEssentials)
    import FoundationEssentials
    import Foundation
#else
    import Foundation
#endif

/// The Grafana dashboard and the metrics table of `docs/operations.md` name the same metrics.
@Suite struct MetricsDocumentationTests {
    @Test func everyMetricOfTheDashboardIsInTheMetricsTable() throws {
        let dashboard = try repositoryFile("docs/grafana-dashboard.json")
        let operations = try repositoryFile("docs/operations.md")
        let object = try #require(try JSONSerialization.jsonObject(with: Data(dashboard.utf8)) as? [String: Any])
        let panels = try #require(object["panels"] as? [[String: Any]])
        let expressions = panels.flatMap {
            ($0["targets"] as? [[String: Any]] ?? []).compactMap { $0["expr"] as? String }
        }
        #expect(expressions.count >= 18)
        let names = Set(
            expressions.flatMap { expression in
                expression.split(whereSeparator: { !($0.isLetter || $0 == "_") }).map(String.init).filter { word in
                    [
                        "hb_", "http_server_", "redis_", "cache_", "queue_", "scheduler_", "resilience_", "shop_",
                        "session", "auth_",
                    ]
                    .contains { word.hasPrefix($0) }
                }
            }.map { $0.hasSuffix("_bucket") ? String($0.dropLast(7)) : $0 }
        )
        #expect(names.count >= 20)
        for name in names.sorted() {
            #expect(
                operations.contains("`\(name)`"),
                "\(name) is on the dashboard but not in operations.md's metrics table"
            )
        }
    }
}

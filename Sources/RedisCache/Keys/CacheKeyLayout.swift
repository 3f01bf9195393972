import RedisClient

/// Where one namespace keeps its keys in Redis.
///
/// ```
/// <prefix>{<namespace>:<key>}          the entry (header + encoded value)
/// <prefix>{<namespace>:<key>}:lease    the fill token of the caller loading it, while it loads
/// <prefix>{<namespace>}:epoch          the namespace epoch (a random token; replaced to evict the namespace)
/// <prefix>fills                        pub/sub channel: "an entry was filled", payload = the entry key
/// ```
///
/// The entry and its lease share a hash tag (`{namespace:key}`), so the scripts that touch both are valid on a
/// Redis Cluster; the epoch is only ever read on its own (in the same pipeline, not in the same script), so it
/// may live in another slot. Different keys spread over the cluster.
struct CacheKeyLayout: Sendable, Hashable {
    let prefix: String
    let namespace: String

    /// The entry key of `key`.
    func entry(_ key: String) -> String {
        self.prefix + "{" + self.namespace + ":" + key + "}"
    }

    /// The lease (fill token) key of an entry key.
    func lease(ofEntry entry: String) -> String {
        entry + ":lease"
    }

    /// The namespace epoch key.
    var epoch: String {
        self.prefix + "{" + self.namespace + "}:epoch"
    }

    /// A `SCAN MATCH` pattern for every entry and lease of the namespace.
    var scanPattern: String {
        RedisGlob.escaping(self.prefix) + "{" + self.namespace + ":*"
    }

    /// The channel fills are announced on (one per prefix, shared by every namespace).
    static func fillChannel(prefix: String) -> String {
        prefix + "fills"
    }

    /// Whether `namespace` is 1–64 characters of `A-Z a-z 0-9 . _ -`.
    static func isValidNamespace(_ namespace: String) -> Bool {
        !namespace.isEmpty && namespace.utf8.count <= 64
            && namespace.utf8.allSatisfy { byte in
                switch byte {
                case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                    UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "-"):
                    true
                default: false
                }
            }
    }

    /// Whether `prefix` is at most 128 bytes without `{` or `}` (which would change the hash tags).
    static func isValidPrefix(_ prefix: String) -> Bool {
        prefix.utf8.count <= 128 && !prefix.utf8.contains(UInt8(ascii: "{")) && !prefix.utf8.contains(UInt8(ascii: "}"))
    }
}

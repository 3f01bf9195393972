/// Glob patterns as `SCAN MATCH`, `KEYS` and `PSUBSCRIBE` read them.
public enum RedisGlob {
    /// `text` with the characters a pattern gives a meaning (`*`, `?`, `[`, `]`, `\`) escaped, so that a key prefix
    /// matches only itself.
    public static func escaping(_ text: String) -> String {
        var escaped = ""
        escaped.reserveCapacity(text.utf8.count)
        for character in text {
            if "*?[]\\".contains(character) { escaped.append("\\") }
            escaped.append(character)
        }
        return escaped
    }
}

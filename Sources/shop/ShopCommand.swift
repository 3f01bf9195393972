import ArgumentParser

/// `shop`: the reference service's command line.
@main
struct ShopCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "shop",
        abstract: "The redis-jobs reference service: an online shop on Redis and PostgreSQL.",
        discussion: """
            Every option can also be set through the environment (HTTP_PORT, DATABASE_URL, ...); a flag wins \
            over the environment. See docs/operations.md for every key.
            """,
        subcommands: [Serve.self, Migrate.self, Seed.self, Provider.self]
    )
}

import Logging
import PostgresNIO
import RedisClient
import RedisSessions

/// The accounts module as `buildApplication` wires it: service, controller and the two middlewares.
struct Accounts: Sendable {
    let service: AccountService
    let controller: AccountsController
    let sessionMiddleware: SessionMiddleware<ShopRequestContext>
    let crossSiteGuard: CrossSiteRequestGuard<ShopRequestContext>

    init(
        configuration: AccountsConfiguration,
        redis: RedisClient,
        postgres: Database,
        points: PointsReader,
        logger: Logger
    ) {
        do {
            self.service = try AccountService(
                configuration: configuration,
                redis: redis,
                users: PostgresUserRepository(client: postgres, logger: logger),
                logger: logger
            )
        } catch {
            // ShopConfiguration validated every value (touch interval shorter than the idle timeout, ...).
            preconditionFailure("invalid accounts configuration: \(error)")
        }
        let cookie = SessionCookie(name: configuration.sessionCookieName, secure: configuration.sessionCookieSecure)
        self.controller = AccountsController(
            service: self.service,
            cookie: cookie,
            trustProxy: configuration.trustProxy,
            points: points
        )
        self.sessionMiddleware = SessionMiddleware(store: self.service.sessions, cookie: cookie)
        self.crossSiteGuard = CrossSiteRequestGuard(
            policy: CrossSiteRequestPolicy(trustedOrigins: configuration.trustedOrigins)
        ) { _, _, rejection in
            APIError(status: .forbidden, code: .crossSiteRequest, detail: rejection.description)
        }
    }
}

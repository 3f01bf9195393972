import AsyncHTTPClient
public import Hummingbird
public import Logging
import Metrics
import PostgresNIO
public import Prometheus
import RedisCache
import RedisClient
import RedisLock
import RedisSessions
import Scheduler
import ServiceLifecycle
import StreamQueue

/// What tests may add to the application: extra routes, other readiness checks.
public struct ApplicationOptions: Sendable {
    /// The registry `GET /metrics` exposes. `shop serve` passes the one it bootstrapped the `MetricsSystem` with.
    public var metricsRegistry: PrometheusCollectorRegistry
    /// Routes added after the service's own (tests use this for routes that exist only in tests).
    public var extraRoutes: (@Sendable (RegisteringRouter<ShopRequestContext>) -> Void)?

    /// Creates options.
    /// - Parameters:
    ///   - metricsRegistry: The registry `/metrics` exposes.
    ///   - extraRoutes: Routes to add after the service's own.
    public init(
        metricsRegistry: PrometheusCollectorRegistry = PrometheusCollectorRegistry(),
        extraRoutes: (@Sendable (RegisteringRouter<ShopRequestContext>) -> Void)? = nil
    ) {
        self.metricsRegistry = metricsRegistry
        self.extraRoutes = extraRoutes
    }
}

/// Builds the whole service: clients, services in dependency order, middleware, routes, start-up work.
///
/// This is the one place the application is assembled; `shop serve` runs what it returns with
/// `runService()`, tests call it with their own configuration and database.
///
/// - Parameters:
///   - configuration: Validated configuration.
///   - logger: The application's logger.
///   - options: Metrics registry and test-only additions.
/// - Returns: The application, ready to run.
public func buildApplication(
    configuration: ShopConfiguration,
    logger: Logger,
    options: ApplicationOptions = ApplicationOptions()
) -> some ApplicationProtocol {
    let logger = {
        var logger = logger
        logger[metadataKey: "instance"] = .string(configuration.instanceID)
        return logger
    }()

    let pool = PostgresClient(
        configuration: configuration.database.clientConfiguration(
            maxConnections: configuration.databaseMaxConnections,
            idleTransactionTimeout: configuration.databaseIdleTransactionTimeout
        ),
        backgroundLogger: logger
    )
    // Requests wait at most DATABASE_REQUEST_WAIT_MS for a connection (503 after that); background work waits.
    let postgres = Database(client: pool, databaseName: configuration.database.database)
    var redisConfiguration = configuration.redis
    redisConfiguration.clientName = configuration.instanceID
    redisConfiguration.connectTimeout = min(configuration.healthTimeout, .seconds(2))
    let redis = RedisClient(configuration: redisConfiguration, logger: logger)
    // Catalog reads through Redis (nil with CACHE_ENABLED=false); its manager runs after the Redis client.
    let catalogCache = CatalogCache.make(configuration: configuration.cache, redis: redis, logger: logger)
    let readinessChecks: [any ReadinessCheck] = [
        PostgresReadinessCheck(client: pool),
        RedisReadinessCheck(client: redis),
    ]

    let registry = RouteRegistry()
    let router = Router(context: ShopRequestContext.self, options: .autoGenerateHeadEndpoints)
    // Order matters. Metrics sees the final status of every response (the problem middleware never
    // throws); the problem middleware sees every error thrown below it, including the router's not-found.
    // The request's SERVER span (a no-op without a bootstrapped tracer), continuing an incoming `traceparent`;
    // outermost, so it ends with the response the client gets.
    router.add(middleware: TracingMiddleware())
    router.add(middleware: MetricsMiddleware())
    // The console dashboard's per-minute figures, written to Redis by the recorder (a service, below).
    let dashboard = DashboardSeries()
    router.add(middleware: DashboardMiddleware(series: dashboard))
    router.add(middleware: ProblemMiddleware(registry: registry))
    router.add(middleware: LogRequestsMiddleware(.debug))
    // A request waits at most DATABASE_REQUEST_WAIT_MS for a database connection, then answers 503.
    router.add(middleware: DatabaseWaitMiddleware(wait: configuration.databaseRequestWait))
    // Accounts: refuse cross-site state changes before any work, then load the session the cookie names
    // (one Redis round trip, none without the cookie). Both apply to every route registered below.
    let points = PointsReader.make(
        postgres: postgres,
        redis: catalogCache == nil ? nil : redis,
        keyPrefix: configuration.cache.keyPrefix,
        ttl: configuration.cache.pointsTTL,
        logger: logger
    )
    let accounts = Accounts(
        configuration: configuration.accounts,
        redis: redis,
        postgres: postgres,
        points: points,
        logger: logger
    )
    router.add(middleware: accounts.crossSiteGuard)
    router.add(middleware: accounts.sessionMiddleware)

    let routes = RegisteringRouter(router: router, registry: registry)
    routes.addRoutes(
        HealthController(
            instanceID: configuration.instanceID,
            checks: readinessChecks,
            timeout: configuration.healthTimeout
        )
        .routes,
        atPath: "/health"
    )
    MetricsController(registry: options.metricsRegistry, redis: redis).addRoutes(to: routes)
    // The OpenAPI document of every route (docs/api/openapi.json).
    OpenAPIDocument.addRoutes(to: routes)
    // Orders: stock taken with the configured strategy; the lock manager wakes lock waiters on release.
    var lockConfiguration = RedisLockConfiguration()
    lockConfiguration.keyPrefix = configuration.orders.keyPrefix + "lock:"
    lockConfiguration.owner = configuration.instanceID
    let locks = RedisLocks(client: redis, configuration: lockConfiguration, logger: logger)
    // Notifications: an inbox in PostgreSQL, announced on Redis pub/sub, pushed to open SSE streams here.
    // A session ended on any instance (announced on Redis by the session store) closes its streams here.
    let notifications = Notifications(
        configuration: configuration.notifications,
        postgres: postgres,
        redis: redis,
        sessions: accounts.service.sessions,
        logger: logger
    )
    // The message queue: the outbox relay publishes what transactions wrote, consumers post-process.
    let messaging = Messaging(
        configuration: configuration.queue,
        instanceID: configuration.instanceID,
        redis: redis,
        postgres: postgres,
        locks: locks,
        notifications: notifications,
        points: points,
        lowStockThreshold: configuration.notifications.lowStockThreshold,
        productChanged: { id in await catalogCache?.stockChanged(id: id) ?? true },
        metricsFactory: DashboardMetricsFactory(series: dashboard, forward: MetricsSystem.factory),
        logger: logger
    )
    let orders = Orders(
        configuration: configuration.orders,
        postgres: postgres,
        redis: redis,
        locks: locks,
        catalogCache: catalogCache,
        logger: logger,
        orderPlaced: { _, _ in
            dashboard.orderPlaced()
            // The order's event is in the outbox: publish it now rather than at the relay's next pass.
            messaging.relay.nudge()
        }
    )
    // Product reads are counted (per instance, flushed to Redis) for the scheduled rebuild of hot entries.
    let readCounter = catalogCache.map { _ in
        CatalogReadCounter(
            redis: redis,
            keyPrefix: configuration.cache.keyPrefix,
            flushInterval: configuration.jobs.readCountsFlushInterval,
            logger: logger
        )
    }
    let catalog = CatalogService(
        repository: PostgresProductRepository(client: postgres, logger: logger),
        cache: catalogCache,
        productWritten: { id in await orders.productWritten(id, logger: logger) },
        reads: readCounter
    )
    // External sync: exchange rates through retries and a breaker, cached, with the last good rate as fallback.
    let ratesCache = catalogCache.flatMap { cache in
        var options = RedisCacheOptions(ttl: configuration.rates.cacheTTL)
        options.negativeTTL = .seconds(60)
        return try? cache.manager.cache(namespace: "rates", of: RateQuote.self, options: options)
    }
    let rates = RatesService(
        client: RatesClient(configuration: configuration.rates, http: HTTPClient.shared, logger: logger),
        cache: ratesCache,
        redis: redis,
        lastGoodPrefix: configuration.cache.keyPrefix + "rates:last:",
        logger: logger
    )
    routes.addRoutes(CatalogController(service: catalog, rates: rates).routes, atPath: "/api/v1/products")
    routes.addRoutes(RatesController(service: rates).routes, atPath: "/api/v1/rates")
    routes.addRoutes(
        CacheAdminController(
            instanceID: configuration.instanceID,
            cache: catalogCache,
            evict: { namespace, key in
                if namespace == "rates", let ratesCache {
                    if let key { return await ratesCache.evict(key) }
                    return await ratesCache.evictNamespace()
                }
                return await catalogCache?.evict(namespace: namespace, key: key)
            }
        ).routes,
        atPath: "/api/v1/admin/cache"
    )
    routes.addRoutes(orders.controller.routes, atPath: "/api/v1/orders")
    routes.addRoutes(accounts.controller.authRoutes, atPath: "/api/v1/auth")
    routes.addRoutes(accounts.controller.meRoutes, atPath: "/api/v1/me")
    routes.addRoutes(SessionsAdminController(service: accounts.service).routes, atPath: "/api/v1/admin/sessions")
    // Scheduled jobs: every instance registers them; each tick runs on one instance (job lock + tick claim).
    let scheduler = makeScheduler(
        configuration: configuration,
        redis: redis,
        postgres: postgres,
        catalog: catalogCache == nil ? nil : catalog,
        readCounter: readCounter,
        accounts: accounts,
        logger: logger
    )
    routes.addRoutes(
        JobsController(
            scheduler: scheduler,
            instanceID: configuration.instanceID,
            schedulerRunning: configuration.jobs.enabled
        ).routes,
        atPath: "/api/v1/admin/jobs"
    )
    routes.addRoutes(
        SalesReportController(
            repository: DailySalesRepository(client: postgres, logger: logger),
            calendar: SalesCalendar(timeZone: configuration.jobs.timeZone)
        ).routes,
        atPath: "/api/v1/admin/sales"
    )
    routes.addRoutes(notifications.controller.routes, atPath: "/api/v1/notifications")
    routes.addRoutes(notifications.controller.adminRoutes, atPath: "/api/v1/admin/notifications")
    routes.addRoutes(messaging.controller.routes, atPath: "/api/v1/admin/queues")
    // External async: pay at the provider; its signed webhooks are queued and applied by a consumer.
    // The provider calls back this instance's own port (learned at bind time with HTTP_PORT=0), never the port of
    // a request's Host.
    let listening = ListeningAddress(httpHost: configuration.httpHost, httpPort: configuration.httpPort)
    let payments = Payments(
        configuration: configuration.payments,
        postgres: postgres,
        locks: locks,
        messaging: messaging,
        notifications: notifications,
        listening: listening,
        logger: logger
    )
    routes.addRoutes(payments.controller.orderRoutes, atPath: "/api/v1/orders")
    routes.addRoutes(payments.controller.webhookRoutes, atPath: "/api/v1/webhooks")
    // The fleet's instance registry: a heartbeat per instance, listed for admins.
    let instances = makeInstanceRegistry(
        configuration: configuration,
        redis: redis,
        listening: listening,
        locks: locks,
        logger: logger
    )
    let dashboardRecorder = DashboardRecorder(
        redis: redis,
        keyPrefix: configuration.jobs.keyPrefix,
        instanceID: configuration.instanceID,
        series: dashboard,
        interval: configuration.dashboardWriteInterval,
        cacheTotals: catalogCache.map { cache in
            { @Sendable () -> CacheSample in
                var namespaces: [String: CacheCounts] = [:]
                for statistics in cache.manager.statistics {
                    namespaces[statistics.namespace] = CacheCounts(
                        hits: statistics.hits,
                        misses: statistics.misses,
                        waits: statistics.waits,
                        errors: statistics.errors,
                        bypassed: statistics.bypassed
                    )
                }
                return CacheSample(
                    namespaces: namespaces,
                    breakerOpenings: cache.manager.circuitOpenings,
                    breakerOpen: cache.manager.circuitState == .open
                )
            }
        },
        logger: logger
    )
    let sessions = accounts.service.sessions
    routes.addRoutes(
        DashboardController(
            reader: DashboardReader(
                redis: redis,
                keys: dashboardRecorder.keys,
                writeInterval: dashboardRecorder.interval
            ),
            series: dashboard,
            sessionIsLive: { id in (try? await sessions.exists(id)) ?? true }
        ).routes,
        atPath: "/api/v1/admin/dashboard"
    )
    routes.addRoutes(
        LocksAdminController(
            managers: [
                ("orders", locks), ("jobs", makeJobLocks(configuration: configuration, redis: redis, logger: logger)),
            ],
            registry: instances,
            instanceID: configuration.instanceID
        ).routes,
        atPath: "/api/v1/admin/locks"
    )
    routes.addRoutes(ConsoleController().routes, atPath: "/admin")
    routes.addRoutes(
        InstancesController(
            registry: instances,
            instanceID: configuration.instanceID,
            liveness: ShopConfiguration.instanceLiveness
        ).routes,
        atPath: "/api/v1/admin/instances"
    )
    options.extraRoutes?(routes)

    var app = Application(
        router: router,
        configuration: .init(
            address: .hostname(configuration.httpHost, port: configuration.httpPort),
            serverName: "shop"
        ),
        onServerRunning: { channel in listening.serverRunning(channel) },
        logger: logger
    )
    // Services start in this order and stop in reverse: the HTTP server (added by the application
    // after these) stops first and drains in-flight requests while PostgreSQL is still up.
    app.addServices(pool, redis)
    if let catalogCache { app.addServices(catalogCache.manager) }
    app.addServices(locks, notifications.listeners)
    if let readCounter { app.addServices(readCounter) }
    app.addServices(instances, dashboardRecorder)
    if configuration.queue.relayEnabled { app.addServices(messaging.relay) }
    if configuration.queue.consumersEnabled {
        for consumer in messaging.consumers { app.addServices(consumer) }
        app.addServices(payments.consumer)
    }
    // Last to start, first to stop after the HTTP server: running jobs finish while their dependencies are up.
    if configuration.jobs.enabled { app.addServices(scheduler) }
    app.beforeServerStarts {
        if configuration.migrateOnStart {
            try await configuration.database.waitUntilReachable(
                timeout: configuration.databaseStartupTimeout,
                logger: logger
            )
            try await Migrator(client: pool, logger: logger).migrate()
        }
        logger.info("starting", metadata: ["configuration": "\(configuration.redactedDescription)"])
    }
    return app
}

/// The scheduler's lock manager. Jobs only try their lock once per tick, so it needs no release listener (no service).
func makeJobLocks(configuration: ShopConfiguration, redis: RedisClient, logger: Logger) -> RedisLocks {
    var lockConfiguration = RedisLockConfiguration()
    lockConfiguration.keyPrefix = configuration.jobs.keyPrefix + "lock:"
    lockConfiguration.owner = configuration.instanceID
    return RedisLocks(client: redis, configuration: lockConfiguration, logger: logger)
}

/// The scheduler with the reference service's jobs (``ShopJobs``); run it only when `JOBS_ENABLED`.
func makeScheduler(
    configuration: ShopConfiguration,
    redis: RedisClient,
    postgres: Database,
    catalog: (any CatalogRefreshing)?,
    readCounter: CatalogReadCounter?,
    accounts: Accounts,
    logger: Logger
) -> Scheduler {
    let locks = makeJobLocks(configuration: configuration, redis: redis, logger: logger)
    var settings = SchedulerConfiguration()
    settings.keyPrefix = configuration.jobs.keyPrefix
    settings.instance = configuration.instanceID
    settings.shutdownGracePeriod = configuration.jobs.shutdownGracePeriod
    let jobs = ShopJobs(
        configuration: configuration.jobs,
        postgres: postgres,
        catalog: catalog,
        readCounter: readCounter,
        sessions: accounts.service.sessions,
        idempotencyRetention: configuration.orders.idempotencyRetention,
        sales: DailySalesRepository(client: postgres, logger: logger),
        logger: logger
    )
    do {
        return try Scheduler(
            jobs: try jobs.jobs(),
            client: redis,
            locks: locks,
            configuration: settings,
            logger: logger
        )
    } catch {
        // Only reachable with a configuration that bypassed ShopConfiguration's validation.
        preconditionFailure("invalid jobs configuration: \(error)")
    }
}

import AsyncHTTPClient
import Foundation
import HTTPTypes
import Hummingbird
import Logging
import OpenAPIHummingbird
import OpenAPIRuntime
import PostgresNIO
import PyTakeAPI
import PyTakeCore
import ServiceLifecycle

/// The long-lived pieces a server needs, built once at start-up.
public struct AppServices: Sendable {
    public let settings: Settings
    /// The pool, through row-level security's scopes (`db.client` is the pool itself).
    public let db: DB
    public let logger: Logger
    public let hasher: PasswordHasher
    public let tokens: TokenService
    public let tenants: TenantService
    public let users: UserService
    public let auth: AuthService
    public let sessions: SessionRegistry
    public let providers: ProviderService
    public let outbound: Outbound
    /// Outbound HTTP to providers; shut down with the application (see `HTTPClientService`).
    public let httpClient: HTTPClient
    public let credentialCache: CredentialCache
    public let conversations: ConversationService
    public let metaWebhook: MetaWebhook
    public let ingestor: WebhookIngestor
    public let signup: MetaSignup
    public let flows: FlowService
    public let modules: ModuleRegistry
    public let engine: FlowEngine
    public let metrics: MetricsService
    /// The periodic jobs, when this server also runs them (`SCHEDULER_IN_SERVER`).
    public let scheduler: SchedulerServices?

    /// What must run next to the HTTP server, after the database pool (which comes first).
    public var backgroundServices: [any Service] {
        [HTTPClientService(client: httpClient), CredentialInvalidationListener(db: db, cache: credentialCache, logger: logger), ingestor, engine]
            + (scheduler?.services ?? [])
    }

    public init(settings: Settings, db client: PostgresClient, jwtSecret: [UInt8], secrets: SecretBox, logger: Logger) async {
        let db = DB(client)
        self.settings = settings
        self.db = db
        self.logger = logger
        hasher = PasswordHasher(parameters: settings.argon2, concurrency: settings.passwordHashConcurrency)
        tokens = await TokenService(secret: jwtSecret, issuer: settings.jwtIssuer, audience: settings.jwtAudience,
                                    accessTTL: settings.accessTokenTTL, refreshTTL: settings.refreshTokenTTL)
        credentialCache = CredentialCache(ttl: .seconds(settings.outbound.credentialCacheSeconds))
        tenants = TenantService(db: db, logger: logger, secrets: secrets, cache: credentialCache)
        users = UserService(db: db, logger: logger, hasher: hasher)
        auth = AuthService(db: db, logger: logger, hasher: hasher, tokens: tokens,
                           throttle: LoginThrottle(db: db, logger: logger, policy: settings.loginThrottle))
        sessions = SessionRegistry(db: db, logger: logger, recheckInterval: TimeInterval(settings.sessionRecheckSeconds))
        providers = ProviderService(db: db, logger: logger, secrets: secrets, cache: credentialCache)
        httpClient = SenderFactory.makeHTTPClient(settings: settings.outbound)
        outbound = Outbound(
            resolver: CredentialResolver(db: db, logger: logger, secrets: secrets, outbound: settings.outbound, cache: credentialCache),
            senders: SenderFactory(client: httpClient, settings: settings.outbound, logger: logger),
            providers: providers, db: db, logger: logger)
        conversations = ConversationService(db: db, logger: logger, outbound: outbound)
        let routes = PhoneRoutes(db: db, logger: logger, secrets: secrets, ttl: .seconds(max(settings.outbound.credentialCacheSeconds, 1)))
        credentialCache.onInvalidate { routes.invalidateAll() }
        metaWebhook = MetaWebhook(routes: routes, appSecret: settings.meta.appSecret, logger: logger)
        ingestor = WebhookIngestor(db: db, logger: logger, writers: settings.meta.ingestWriters, batchMax: settings.meta.ingestBatchMax,
                                   writeTimeout: .seconds(max(1, settings.requestTimeoutSeconds - 2)))
        modules = ModuleRegistry.builtIn()
        let catalog = FlowCatalog(db: db, logger: logger)
        let engineTenants = EngineTenantSettings(db: db, logger: logger, secrets: secrets)
        credentialCache.onInvalidate { engineTenants.invalidateAll() }
        engine = FlowEngine(db: db, logger: logger, settings: settings.engine, catalog: catalog, tenants: engineTenants,
                            modules: modules, outbound: outbound, http: httpClient, databaseConnections: settings.databasePoolSize,
                            sendBudgetSeconds: settings.outbound.timeoutSeconds * settings.outbound.retryAttempts + 5)
        ingestor.onStored { [engine] in engine.wake() }
        flows = FlowService(db: db, logger: logger, modules: modules, tester: engine, catalog: catalog)
        metrics = MetricsService(db: db, logger: logger)
        scheduler = settings.scheduler.inServer ? SchedulerServices(settings: settings, db: db, secrets: secrets, logger: logger) : nil
        signup = MetaSignup(db: db, logger: logger, secrets: secrets, settings: settings.meta, outbound: settings.outbound,
                            client: httpClient, providers: providers, signingSecret: jwtSecret)
    }
}

/// Routes: static admin files, every operation of `openapi.yaml`, 405 for any other method on a
/// path the spec declares, and problem+json for everything that fails.
public func buildRouter(_ services: AppServices) throws -> Router<AppRequestContext> {
    let handler = APIHandler(services: services)
    let configuration = OpenAPIRuntime.Configuration(dateTranscoder: .iso8601, jsonEncodingOptions: [.sortedKeys, .withoutEscapingSlashes])
    // The operations are listed once up front: the outermost middleware needs them to tell
    // "no such path" (404) from "no such method here" (405), and it must be added before any route.
    let listing = OperationListing()
    try handler.registerHandlers(on: listing, configuration: configuration)

    let router = Router(context: AppRequestContext.self)
    let limits = services.settings.rateLimits
    router.add(middleware: RequestMiddleware(
        tokens: services.tokens, sessions: services.sessions, routes: RouteTable(listing.operations + MetaRoutes.operations),
        maxBodyBytes: services.settings.maxBodyBytes, webhookMaxBodyBytes: services.settings.meta.webhookMaxBodyBytes,
        timeout: .seconds(services.settings.requestTimeoutSeconds),
        logger: services.logger,
        ipLimiter: limits.ipPerMinute > 0 ? RateLimiter(perMinute: limits.ipPerMinute, burst: limits.ipBurst) : nil,
        userLimiter: limits.userPerMinute > 0 ? RateLimiter(perMinute: limits.userPerMinute, burst: limits.userBurst) : nil,
        trustedProxies: limits.trustedProxies))
    router.add(middleware: StaticFilesMiddleware(directory: services.settings.publicDirectory, sdkURL: services.settings.meta.sdkURL, logger: services.logger))
    let cache = ResponseCache(ttl: .seconds(services.settings.metricsCacheSeconds))
    try handler.registerHandlers(on: RouterTransport(router: router, cached: cache.enabled ? [("/api/v1/tenants/{tenantId}/metrics/daily", cache)] : []),
                                 configuration: configuration)
    MetaRoutes.register(on: router, services: services)
    return router
}

/// Registers generated operations on the router.
struct RouterTransport: ServerTransport {
    let router: Router<AppRequestContext>
    /// GET operations whose responses may be reused briefly (see `ResponseCache`).
    var cached: [(path: String, cache: ResponseCache)] = []

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method, path: String
    ) throws {
        let handler = method == .get ? cached.first { $0.path == path }.map { $0.cache.wrap(handler) } ?? handler : handler
        // The Hummingbird transport always hands over a body; an empty one must read as absent so
        // optional bodies work and required ones fail as "missing".
        router.register({ request, body, metadata in
            try await handler(request, body?.length == .known(0) ? nil : body, metadata)
        }, method: method, path: path)
    }
}

/// Collects the (path template, method) pairs the generated code would register.
final class OperationListing: ServerTransport {
    private(set) var operations: [(path: String, method: HTTPRequest.Method)] = []

    func register(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?),
        method: HTTPRequest.Method, path: String
    ) throws {
        operations.append((path, method))
    }
}

/// The spec's path templates and their methods, to answer 405 with `Allow` for any other method.
struct RouteTable: Sendable {
    /// Segments of each template (nil: a `{parameter}`), with its methods for `Allow`.
    let routes: [(segments: [String?], allow: String)]

    init(_ operations: [(path: String, method: HTTPRequest.Method)]) {
        let grouped = Dictionary(grouping: operations, by: \.path)
        routes = grouped.map { path, operations in
            let segments = path.split(separator: "/").map { $0.hasPrefix("{") ? nil : String($0) }
            return (segments, operations.map(\.method.rawValue).sorted().joined(separator: ", "))
        }
    }

    /// The methods of the declared path that `path` matches, if any.
    func allowedMethods(for path: String) -> String? {
        let parts = path.split(separator: "/")
        return routes.first { route in
            route.segments.count == parts.count
                && zip(route.segments, parts).allSatisfy { template, part in template.map { $0 == part } ?? true }
        }?.allow
    }
}

/// Prepares the database (embedded cluster or `DATABASE_URL`), the schema and the first admin,
/// then builds the HTTP application with the database pool as one of its services.
public func buildApplication(settings: Settings, logger: Logger) async throws -> some ApplicationProtocol {
    let url = try Bootstrap.databaseURL(settings: settings, logger: logger)
    let jwtSecret = try Bootstrap.jwtSecret(settings: settings)
    let secrets = try Bootstrap.secretBox(settings: settings)
    let embedded = settings.databaseURL == nil
    if embedded { try await Bootstrap.ensureDatabaseExists(url, logger: logger) }
    try await Database.checkReachable(url, logger: logger)

    let migrator = try Migrator(directory: settings.migrationsDirectory)
    try await Database.withClient(url: url, logger: logger) { db in
        if embedded {
            try await migrator.migrate(client: db, logger: logger)
            let users = UserService(db: DB(db), logger: logger, hasher: PasswordHasher(parameters: settings.argon2, concurrency: 1))
            if let admin = try await Bootstrap.ensurePlatformAdmin(users: users, db: DB(db), logger: logger) {
                print("""

                    PyTake created its first platform admin. This password is shown only once:
                        email:    \(admin.email)
                        password: \(admin.password)

                    """)
                fflush(nil)
            }
        } else {
            let pending = try await migrator.status(client: db, logger: logger).filter { !$0.isApplied }
            if !pending.isEmpty {
                throw ConfigurationError("the database schema is not current (\(pending.map(\.name).joined(separator: ", "))): run 'pytake-admin migrate' first")
            }
        }
    }

    // Row-level security applies to the role that serves: never a superuser or BYPASSRLS role.
    let appURL = try await Bootstrap.applicationDatabaseURL(settings: settings, ownerURL: url, logger: logger)
    try await Database.withClient(url: appURL, poolSize: 1, logger: logger) { db in
        try await DatabaseRole.requireSubjectToRowSecurity(db, logger: logger)
    }
    let db = Database.makeClient(url: appURL, poolSize: settings.databasePoolSize, logger: logger)
    let services = await AppServices(settings: settings, db: db, jwtSecret: jwtSecret, secrets: secrets, logger: logger)
    let router = try buildRouter(services)
    var app = Application(
        router: router,
        configuration: .init(address: .hostname(settings.httpHost, port: settings.httpPort), serverName: "PyTake"),
        logger: logger
    )
    app.addServices(db)
    app.addServices(services.backgroundServices)
    app.beforeServerStarts {
        logger.info("PyTake listening", metadata: ["url": "http://\(settings.httpHost):\(settings.httpPort)", "database": "\(appURL.username)@\(appURL.host):\(appURL.port)/\(appURL.database)"])
    }
    return app
}

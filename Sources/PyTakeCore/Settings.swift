import Configuration
import Foundation
import Logging

/// A configuration problem, reported to operators as one line.
public struct ConfigurationError: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// Everything PyTake reads from its environment, validated once at start-up.
public struct Settings: Sendable {
    /// Absent means "use the embedded cluster in `dataDirectory`".
    public var databaseURL: String?
    public var databasePoolSize: Int
    public var httpHost: String
    public var httpPort: Int
    /// HS256 key material; absent means "generate one and keep it in `dataDirectory`" (embedded mode only).
    public var jwtSecret: [UInt8]?
    /// AES-256 key for secrets at rest (base64); absent means "generate one and keep it in
    /// `dataDirectory`" (embedded mode only). Older keys stay readable during a rotation.
    public var encryptionKey: String?
    public var encryptionOldKeys: [String]
    public var jwtIssuer: String
    public var jwtAudience: String
    public var accessTokenTTL: Int
    public var refreshTokenTTL: Int
    /// How long a confirmation that a session is alive is trusted before asking the database again.
    public var sessionRecheckSeconds: Int
    public var logLevel: Logger.Level
    public var dataDirectory: String
    /// Port of the embedded cluster (used only without `DATABASE_URL`).
    public var embeddedPostgresPort: Int
    public var publicDirectory: String
    public var migrationsDirectory: String
    public var maxBodyBytes: Int
    /// A request still running after this many seconds answers 503 (typically: the database is away).
    public var requestTimeoutSeconds: Int
    public var loginThrottle: LoginThrottle.Policy
    public var argon2: PasswordHasher.Parameters
    public var passwordHashConcurrency: Int
    public var outbound: OutboundSettings
    public var meta: MetaSettings
    public var engine: EngineSettings
    public var scheduler: SchedulerSettings
    /// Seconds one server process reuses an encoded daily-metrics response for the same tenant and
    /// range (0: off).
    public var metricsCacheSeconds: Int
    /// API rate limits (token buckets per user and per client address) and the proxies whose
    /// `X-Forwarded-For` is believed.
    public var rateLimits: RateLimitSettings
    /// When set, `GET /metrics` (and the scheduler's) require `Authorization: Bearer <token>`.
    public var metricsToken: String?

    public init(config: ConfigReader) throws(ConfigurationError) {
        func int(_ key: String, _ env: String, default value: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
            guard let raw = config.string(forKey: ConfigKey(key)) else { return value }
            guard let parsed = Int(raw.trimmingCharacters(in: .whitespaces)), range.contains(parsed) else {
                throw ConfigurationError("\(env) must be an integer in \(range.lowerBound)...\(range.upperBound), got '\(raw)'")
            }
            return parsed
        }
        func string(_ key: String, default value: String) -> String {
            let raw = config.string(forKey: ConfigKey(key))?.trimmingCharacters(in: .whitespaces) ?? ""
            return raw.isEmpty ? value : raw
        }

        if let url = config.string(forKey: "database.url", isSecret: true), !url.isEmpty {
            _ = try DatabaseURL(parsing: url)
            databaseURL = url
        } else {
            databaseURL = nil
        }
        // Small by default: on a box shared with Postgres, more backends than cores mostly adds
        // context switches (measured: 8 connections outran 20 by a fifth on 2 cores).
        databasePoolSize = try int("database.pool.size", "DATABASE_POOL_SIZE",
                                   default: max(4, min(20, 4 * ProcessInfo.processInfo.activeProcessorCount)), range: 1...500)
        httpHost = string("http.host", default: "127.0.0.1")
        httpPort = try int("http.port", "HTTP_PORT", default: 8080, range: 0...65535)

        if let secret = config.string(forKey: "jwt.secret", isSecret: true), !secret.isEmpty {
            guard secret.utf8.count >= 32 else {
                throw ConfigurationError("JWT_SECRET must be at least 32 bytes (generate one with: openssl rand -base64 48)")
            }
            jwtSecret = Array(secret.utf8)
        } else if databaseURL != nil {
            throw ConfigurationError("JWT_SECRET is required when DATABASE_URL is set (generate one with: openssl rand -base64 48)")
        } else {
            jwtSecret = nil
        }
        if let key = config.string(forKey: "pytake.encryption.key", isSecret: true), !key.isEmpty {
            encryptionKey = key
        } else if databaseURL != nil {
            throw ConfigurationError("PYTAKE_ENCRYPTION_KEY is required when DATABASE_URL is set (generate one with: openssl rand -base64 32)")
        } else {
            encryptionKey = nil
        }
        encryptionOldKeys = (config.string(forKey: "pytake.encryption.old.keys", isSecret: true) ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        if let encryptionKey { _ = try SecretBox(current: encryptionKey, previous: encryptionOldKeys) }
        jwtIssuer = string("jwt.issuer", default: "pytake")
        jwtAudience = string("jwt.audience", default: "pytake-api")
        accessTokenTTL = try int("access.token.ttl.seconds", "ACCESS_TOKEN_TTL_SECONDS", default: 900, range: 30...86_400)
        refreshTokenTTL = try int("refresh.token.ttl.seconds", "REFRESH_TOKEN_TTL_SECONDS", default: 30 * 86_400, range: 60...(365 * 86_400))
        sessionRecheckSeconds = try int("session.recheck.seconds", "SESSION_RECHECK_SECONDS", default: 5, range: 0...300)

        let level = string("log.level", default: "info").lowercased()
        guard let parsedLevel = Logger.Level(rawValue: level) else {
            throw ConfigurationError("LOG_LEVEL must be one of trace, debug, info, notice, warning, error, critical; got '\(level)'")
        }
        logLevel = parsedLevel
        dataDirectory = string("pytake.data.dir", default: ".pytake")
        embeddedPostgresPort = try int("pytake.embedded.pg.port", "PYTAKE_EMBEDDED_PG_PORT", default: 54329, range: 1024...65535)
        publicDirectory = string("pytake.public.dir", default: "public")
        migrationsDirectory = string("pytake.migrations.dir", default: "migrations")
        maxBodyBytes = try int("max.body.bytes", "MAX_BODY_BYTES", default: 1 << 20, range: 1024...(64 << 20))
        requestTimeoutSeconds = try int("request.timeout.seconds", "REQUEST_TIMEOUT_SECONDS", default: 15, range: 1...600)

        loginThrottle = LoginThrottle.Policy(
            maxFailuresPerAccount: try int("login.max.failures.per.account", "LOGIN_MAX_FAILURES_PER_ACCOUNT", default: 5, range: 1...10_000),
            maxFailuresPerIP: try int("login.max.failures.per.ip", "LOGIN_MAX_FAILURES_PER_IP", default: 30, range: 1...100_000),
            windowSeconds: try int("login.throttle.window.seconds", "LOGIN_THROTTLE_WINDOW_SECONDS", default: 900, range: 1...86_400)
        )
        argon2 = PasswordHasher.Parameters(
            memoryKiB: try int("argon2.memory.kib", "ARGON2_MEMORY_KIB", default: 19_456, range: 19_456...(4 << 20)),
            iterations: try int("argon2.iterations", "ARGON2_ITERATIONS", default: 2, range: 2...64),
            parallelism: try int("argon2.parallelism", "ARGON2_PARALLELISM", default: 1, range: 1...16)
        )
        passwordHashConcurrency = try int(
            "password.hash.concurrency", "PASSWORD_HASH_CONCURRENCY",
            default: max(1, ProcessInfo.processInfo.activeProcessorCount), range: 1...256
        )
        func url(_ key: String, _ env: String, default value: String) throws(ConfigurationError) -> String {
            let raw = string(key, default: value)
            guard let parsed = URL(string: raw), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host != nil else {
                throw ConfigurationError("\(env) must be an absolute http(s) URL, got '\(raw)'")
            }
            return raw.hasSuffix("/") ? String(raw.dropLast()) : raw
        }
        let graphVersion = string("meta.graph.version", default: "v22.0")
        guard graphVersion.wholeMatch(of: /v\d{1,3}\.\d{1,3}/) != nil else {
            throw ConfigurationError("META_GRAPH_VERSION must look like v22.0, got '\(graphVersion)'")
        }
        let allowPrivate = string("provider.allow.private.networks", default: "false").lowercased()
        guard ["true", "false", "1", "0"].contains(allowPrivate) else {
            throw ConfigurationError("PROVIDER_ALLOW_PRIVATE_NETWORKS must be true or false, got '\(allowPrivate)'")
        }
        outbound = OutboundSettings(
            metaGraphURL: try url("meta.graph.url", "META_GRAPH_URL", default: "https://graph.facebook.com"),
            metaGraphVersion: graphVersion,
            lancePilotURL: try url("lancepilot.api.url", "LANCEPILOT_API_URL", default: "https://lancepilot.com/api/v3"),
            timeoutSeconds: try int("provider.timeout.seconds", "PROVIDER_TIMEOUT_SECONDS", default: 10, range: 1...120),
            retryAttempts: try int("provider.retry.attempts", "PROVIDER_RETRY_ATTEMPTS", default: 3, range: 1...10),
            retryBaseMilliseconds: try int("provider.retry.base.ms", "PROVIDER_RETRY_BASE_MS", default: 250, range: 1...60_000),
            breakerThreshold: try int("provider.breaker.threshold", "PROVIDER_BREAKER_THRESHOLD", default: 5, range: 1...1000),
            breakerCooldownSeconds: try int("provider.breaker.cooldown.seconds", "PROVIDER_BREAKER_COOLDOWN_SECONDS", default: 30, range: 1...3600),
            allowPrivateNetworks: allowPrivate == "true" || allowPrivate == "1",
            credentialCacheSeconds: try int("credential.cache.seconds", "CREDENTIAL_CACHE_SECONDS", default: 10, range: 0...3600)
        )
        func optional(_ key: String, secret: Bool = false) -> String? {
            let value = config.string(forKey: ConfigKey(key), isSecret: secret)?.trimmingCharacters(in: .whitespaces)
            return value?.isEmpty == false ? value : nil
        }
        meta = MetaSettings(
            appId: optional("meta.app.id"),
            appSecret: optional("meta.app.secret", secret: true),
            verifyToken: optional("meta.verify.token", secret: true),
            configId: optional("meta.config.id"),
            sdkURL: try url("meta.sdk.url", "META_SDK_URL", default: "https://connect.facebook.net/en_US/sdk.js"),
            adminURL: string("pytake.admin.url", default: "/"),
            redirectURL: optional("meta.oauth.redirect.url"),
            webhookMaxBodyBytes: try int("meta.webhook.max.body.bytes", "META_WEBHOOK_MAX_BODY_BYTES", default: 3 << 20, range: 1024...(64 << 20)),
            ingestWriters: try int("webhook.ingest.writers", "WEBHOOK_INGEST_WRITERS", default: 2, range: 1...64),
            ingestBatchMax: try int("webhook.ingest.batch.max", "WEBHOOK_INGEST_BATCH_MAX", default: 500, range: 1...10_000)
        )
        func flag(_ key: String, _ env: String, default value: Bool) throws(ConfigurationError) -> Bool {
            let raw = string(key, default: value ? "true" : "false").lowercased()
            guard ["true", "false", "1", "0"].contains(raw) else { throw ConfigurationError("\(env) must be true or false, got '\(raw)'") }
            return raw == "true" || raw == "1"
        }
        engine = EngineSettings(
            enabled: try flag("engine.enabled", "ENGINE_ENABLED", default: true),
            concurrency: try int("engine.concurrency", "ENGINE_CONCURRENCY", default: 64, range: 1...512),
            leaseSeconds: try int("engine.lease.seconds", "ENGINE_LEASE_SECONDS", default: 60, range: 1...3600),
            pollMilliseconds: try int("engine.poll.ms", "ENGINE_POLL_MS", default: 250, range: 10...60_000),
            maxFailures: try int("engine.max.failures", "ENGINE_MAX_FAILURES", default: 5, range: 1...100),
            moduleAllowPrivateNetworks: try flag("module.allow.private.networks", "MODULE_ALLOW_PRIVATE_NETWORKS", default: false),
            moduleRatePerMinute: try int("module.rate.per.minute", "MODULE_RATE_PER_MINUTE", default: 600, range: 1...1_000_000),
            moduleMaxTimeoutMilliseconds: try int("module.max.timeout.ms", "MODULE_MAX_TIMEOUT_MS", default: 30_000, range: 100...300_000)
        )
        metricsToken = optional("metrics.token", secret: true)
        rateLimits = RateLimitSettings(
            ipPerMinute: try int("rate.limit.ip.per.minute", "RATE_LIMIT_IP_PER_MINUTE", default: 600, range: 0...10_000_000),
            ipBurst: try int("rate.limit.ip.burst", "RATE_LIMIT_IP_BURST", default: 200, range: 1...10_000_000),
            userPerMinute: try int("rate.limit.user.per.minute", "RATE_LIMIT_USER_PER_MINUTE", default: 1200, range: 0...10_000_000),
            userBurst: try int("rate.limit.user.burst", "RATE_LIMIT_USER_BURST", default: 300, range: 1...10_000_000),
            trustedProxies: Set(string("trusted.proxies", default: "").split(separator: ",")
                .map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }))
        metricsCacheSeconds = try int("metrics.cache.seconds", "METRICS_CACHE_SECONDS", default: 5, range: 0...300)
        scheduler = SchedulerSettings(
            metricsIntervalSeconds: try int("scheduler.metrics.interval.seconds", "SCHEDULER_METRICS_INTERVAL_SECONDS", default: 300, range: 1...86_400),
            followUpIntervalSeconds: try int("scheduler.followup.interval.seconds", "SCHEDULER_FOLLOWUP_INTERVAL_SECONDS", default: 300, range: 1...86_400),
            leaseSeconds: try int("scheduler.lease.seconds", "SCHEDULER_LEASE_SECONDS", default: 60, range: 2...3600),
            pollSeconds: try int("scheduler.poll.seconds", "SCHEDULER_POLL_SECONDS", default: 5, range: 1...300),
            followUpBatchSize: try int("scheduler.followup.batch", "SCHEDULER_FOLLOWUP_BATCH", default: 5000, range: 1...100_000),
            followUpConcurrency: try int("scheduler.followup.concurrency", "SCHEDULER_FOLLOWUP_CONCURRENCY", default: 8, range: 1...256),
            followUpMaxTries: try int("scheduler.followup.max.tries", "SCHEDULER_FOLLOWUP_MAX_TRIES", default: 3, range: 1...20),
            inServer: try flag("scheduler.in.server", "SCHEDULER_IN_SERVER", default: databaseURL == nil),
            httpPort: try int("scheduler.http.port", "SCHEDULER_HTTP_PORT", default: 0, range: 0...65535)
        )
    }

    static let secretKeys: Set<String> = ["DATABASE_URL", "JWT_SECRET", "PYTAKE_ENCRYPTION_KEY", "PYTAKE_ENCRYPTION_OLD_KEYS",
                                          "META_APP_SECRET", "META_VERIFY_TOKEN", "METRICS_TOKEN"]

    /// Settings from the process environment.
    public static func fromEnvironment() throws(ConfigurationError) -> Settings {
        try Settings(config: ConfigReader(provider: EnvironmentVariablesProvider(
            secretsSpecifier: .specific(Self.secretKeys)
        )))
    }

    /// Settings from explicit values (tests, tools), keyed like the environment (`HTTP_PORT`).
    public static func from(environment: [String: String]) throws(ConfigurationError) -> Settings {
        try Settings(config: ConfigReader(provider: EnvironmentVariablesProvider(
            environmentVariables: environment,
            secretsSpecifier: .specific(Self.secretKeys)
        )))
    }
}

/// The flow engine and the modules it runs.
public struct EngineSettings: Sendable {
    /// Whether this process runs flow turns (the webhook still queues them when false).
    public var enabled: Bool
    /// Turns one process runs at once (different conversations).
    public var concurrency: Int
    /// How long a claimed turn is reserved for its worker; a dead worker's turn is taken over after it.
    public var leaseSeconds: Int
    /// How often idle workers look for due turns (debounce and wait timers; other replicas' messages).
    public var pollMilliseconds: Int
    /// Failed attempts of one turn before it is given up (its messages stay for the agents).
    public var maxFailures: Int
    /// Whether module URLs (http_request, webhook_notify, ai_reply) may point at loopback, private or link-local addresses.
    public var moduleAllowPrivateNetworks: Bool
    /// Module runs per tenant per minute (token bucket per process); beyond it a module node fails.
    public var moduleRatePerMinute: Int
    /// Upper bound of a module node's `timeout_ms`.
    public var moduleMaxTimeoutMilliseconds: Int
}

/// How PyTake talks to WhatsApp providers.
public struct SchedulerSettings: Sendable {
    public var metricsIntervalSeconds: Int
    public var followUpIntervalSeconds: Int
    /// How long a replica may go silent before another takes its run over (renewed every third of it).
    public var leaseSeconds: Int
    /// Longest sleep between looks at the schedule (a run's due time usually wakes it sooner).
    public var pollSeconds: Int
    /// Most conversations one follow-up run handles, the longest silences first (the rest wait for the next run).
    public var followUpBatchSize: Int
    public var followUpConcurrency: Int
    /// Sends of one follow-up attempt before it is given up.
    public var followUpMaxTries: Int
    /// Run the scheduler inside `pytake-server` (the default with the embedded database, so one
    /// command runs everything; with `DATABASE_URL`, run `pytake-scheduler` replicas instead).
    public var inServer: Bool
    /// `pytake-scheduler`'s port for `/healthz`, `/readyz` and `/metrics` (0: none).
    public var httpPort: Int
}

public struct OutboundSettings: Sendable {
    /// Meta Graph API base URL (no trailing slash) and version, e.g. `https://graph.facebook.com`, `v22.0`.
    public var metaGraphURL: String
    public var metaGraphVersion: String
    /// LancePilot API base URL used when a provider row has no `api_url` of its own.
    public var lancePilotURL: String
    /// Per attempt, connect plus response.
    public var timeoutSeconds: Int
    /// Attempts per send, counting the first; only transient failures (timeouts, 429, 5xx) are retried.
    public var retryAttempts: Int
    /// First backoff; it doubles per attempt, with full jitter.
    public var retryBaseMilliseconds: Int
    /// Consecutive failed sends that open a provider's circuit breaker.
    public var breakerThreshold: Int
    /// How long an open breaker refuses sends before letting one trial through.
    public var breakerCooldownSeconds: Int
    /// Whether provider URLs may point at loopback, private or link-local addresses.
    public var allowPrivateNetworks: Bool
    /// How long a resolution may be served from memory (0: always ask the database). Changes are
    /// pushed to every process at once (NOTIFY); this only bounds staleness if one is missed.
    public var credentialCacheSeconds: Int
}

/// Per-process token buckets for the API (0 per minute: that limit is off). Meta's webhook, the
/// health and metrics endpoints and the admin page's files are not limited.
public struct RateLimitSettings: Sendable {
    public var ipPerMinute: Int
    public var ipBurst: Int
    public var userPerMinute: Int
    public var userBurst: Int
    /// Addresses of load balancers / reverse proxies (`TRUSTED_PROXIES`, comma separated).
    public var trustedProxies: Set<String>
}

/// Meta (WhatsApp Cloud API) app settings: webhooks and Embedded Signup.
public struct MetaSettings: Sendable {
    public var appId: String?
    /// Verifies webhook signatures (a meta provider may override it with its own) and exchanges
    /// Embedded Signup codes.
    public var appSecret: String?
    /// Answers Meta's webhook verification handshake.
    public var verifyToken: String?
    /// Embedded Signup configuration id (Facebook Login for Business).
    public var configId: String?
    /// Meta's JavaScript SDK, loaded by the admin page for Embedded Signup (tests serve a fake
    /// from loopback). Its origin is allowed by the page's Content-Security-Policy.
    public var sdkURL: String
    /// Where the OAuth callback sends the browser back to (the admin page).
    public var adminURL: String
    /// The public URL of `GET /meta/oauth/callback`, as registered with Meta (redirect flow).
    public var redirectURL: String?
    public var webhookMaxBodyBytes: Int
    /// Concurrent transactions writing webhook batches.
    public var ingestWriters: Int
    /// Messages and statuses per shared transaction, at most.
    public var ingestBatchMax: Int
}

/// A parsed `postgres://user:password@host:port/database?sslmode=...` URL.
public struct DatabaseURL: Sendable, Equatable {
    public var host: String
    public var port: Int
    public var username: String
    public var password: String?
    public var database: String
    public var requireTLS: Bool

    public init(host: String, port: Int, username: String, password: String?, database: String, requireTLS: Bool = false) {
        self.host = host
        self.port = port
        self.username = username
        self.password = password
        self.database = database
        self.requireTLS = requireTLS
    }

    public init(parsing string: String) throws(ConfigurationError) {
        guard let components = URLComponents(string: string),
              let scheme = components.scheme, ["postgres", "postgresql"].contains(scheme),
              let host = components.host, !host.isEmpty
        else {
            throw ConfigurationError("DATABASE_URL must look like postgres://user:password@host:5432/database")
        }
        let database = String(components.path.drop(while: { $0 == "/" }))
        guard !database.isEmpty else {
            throw ConfigurationError("DATABASE_URL must name a database (postgres://user@host:5432/DATABASE)")
        }
        let sslmode = components.queryItems?.first(where: { $0.name == "sslmode" })?.value ?? "disable"
        guard ["disable", "require", "verify-full"].contains(sslmode) else {
            throw ConfigurationError("DATABASE_URL sslmode must be disable, require or verify-full, got '\(sslmode)'")
        }
        self.init(
            host: host,
            port: components.port ?? 5432,
            username: components.percentEncodedUser?.removingPercentEncoding ?? "postgres",
            password: components.percentEncodedPassword?.removingPercentEncoding,
            database: database.removingPercentEncoding ?? database,
            requireTLS: sslmode != "disable"
        )
    }

    /// The same server, another database.
    public func with(database: String) -> DatabaseURL {
        var copy = self
        copy.database = database
        return copy
    }

    public var string: String {
        var userInfo = username.addingPercentEncoding(withAllowedCharacters: .urlUserAllowed) ?? username
        if let password {
            userInfo += ":" + (password.addingPercentEncoding(withAllowedCharacters: .urlPasswordAllowed) ?? password)
        }
        return "postgres://\(userInfo)@\(host):\(port)/\(database)\(requireTLS ? "?sslmode=require" : "")"
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import NIOCore
import PostgresNIO
import PyTakeCore
import PyTakeServer

/// A PyTake server on its own fresh database, with helpers to seed tenants and users.
public struct TestApp: Sendable {
    public static let jwtSecret = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz"
    public static let encryptionKey = "ZW5jcnlwdGlvbi1rZXktZm9yLXRlc3RzLTMyLWJ5dGU="

    public let services: AppServices
    /// The database, as its owner (a superuser): row-level security does not apply.
    public let url: DatabaseURL
    /// A pool on `url` for fixtures and assertions, outside row-level security. The application
    /// itself (`services.db`) logs in as `TestPostgres.appRole`, under it.
    public let db: PostgresClient

    /// Settings as the server would read them from the environment, plus `overrides`.
    public static func settings(databaseURL: DatabaseURL, overrides: [String: String] = [:]) throws -> Settings {
        var environment = [
            "DATABASE_URL": databaseURL.string,
            "JWT_SECRET": jwtSecret,
            "PYTAKE_ENCRYPTION_KEY": encryptionKey,
            "PYTAKE_MIGRATIONS_DIR": TestPostgres.migrationsDirectory,
            "PYTAKE_PUBLIC_DIR": TestPostgres.publicDirectory,
            "LOG_LEVEL": "warning",
            "SESSION_RECHECK_SECONDS": "0",
            // Tests read metrics right after a job run; the cache has its own test.
            "METRICS_CACHE_SECONDS": "0",
            // Tests call the API far faster than people do; the limits have their own tests.
            "RATE_LIMIT_IP_PER_MINUTE": "0",
            "RATE_LIMIT_USER_PER_MINUTE": "0",
        ]
        environment.merge(overrides) { _, new in new }
        return try Settings.from(environment: environment)
    }

    /// Runs `body` against a router-level test client (no sockets); `.live` for a real HTTP server.
    /// With `database`, the app uses that existing database and leaves it in place (several apps,
    /// one after the other or at once, on one database); otherwise a fresh one, dropped afterwards.
    public static func run<T: Sendable>(
        _ mode: TestingSetup = .router, overrides: [String: String] = [:], database: DatabaseURL? = nil,
        _ body: @Sendable (TestApp, any TestClientProtocol) async throws -> T
    ) async throws -> T {
        let url: DatabaseURL
        if let database { url = database } else { url = try await TestPostgres.shared.makeDatabase() }
        do {
            let settings = try settings(databaseURL: url, overrides: overrides)
            var logger = Logger(label: "pytake-test-server")
            logger.logLevel = settings.logLevel
            let db = Database.makeClient(url: TestPostgres.appURL(url), poolSize: 6, logger: logger)
            let owner = Database.makeClient(url: url, poolSize: 3, logger: logger)
            let services = await AppServices(settings: settings, db: db, jwtSecret: Array(jwtSecret.utf8),
                                             secrets: try Bootstrap.secretBox(settings: settings), logger: logger)
            var app = Application(router: try buildRouter(services), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
            app.addServices(db, owner)
            app.addServices(services.backgroundServices)
            let testApp = TestApp(services: services, url: url, db: owner)
            let result = try await app.test(mode) { client in
                // A pool that never opened a connection does not end when cancelled (postgres-nio
                // 1.33): open one, so that cancelling a test's app ends it.
                try await owner.query("SELECT 1", logger: services.logger)
                return try await body(testApp, client)
            }
            if database == nil { try await TestPostgres.shared.dropDatabase(url) }
            return result
        } catch {
            if database == nil { try? await TestPostgres.shared.dropDatabase(url) }
            throw error
        }
    }

    // MARK: seeding

    public static let password = "correct horse battery staple"

    public func createTenant(slug: String, name: String? = nil) async throws -> Tenant {
        try await services.tenants.create(TenantInput(name: name ?? slug.capitalized, slug: slug), identity: nil, actor: .cli)
    }

    @discardableResult
    public func createUser(_ email: String, role: Role, tenant: UUID?) async throws -> User {
        try await services.users.create(email: email, password: Self.password, role: role, tenantId: tenant, identity: nil, actor: .cli)
    }

    /// An access token for `user` in a new session, as sign-in issues them (without hashing, so tests stay fast).
    public func token(for user: User) async throws -> String {
        try await services.auth.startSession(
            for: Identity(userId: user.id, email: user.email, role: user.role, tenantId: user.tenantId), requestId: nil
        ).accessToken
    }

    /// Waits until `condition` holds (the flow engine works asynchronously); false after `timeout`.
    public static func eventually(timeout: Duration = .seconds(10), _ condition: () async throws -> Bool) async throws -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if try await condition() { return true }
            try await Task.sleep(for: .milliseconds(25))
        }
        return try await condition()
    }

    /// A single integer from `sql`.
    public func scalar(_ sql: String) async throws -> Int {
        try await db.query(PostgresQuery(unsafeSQL: sql), logger: services.logger).decode(Int.self).first(where: { _ in true }) ?? -1
    }

    public func count(_ table: String) async throws -> Int {
        let rows = try await db.query(PostgresQuery(unsafeSQL: "SELECT count(*)::int8 FROM \(table)"), logger: services.logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) ?? 0
    }
}

// MARK: HTTP helpers

public struct APIResponse: Sendable {
    public var status: HTTPResponse.Status
    public var headers: HTTPFields
    public var body: Data

    public var json: [String: Any] {
        ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:]
    }
    public var items: [[String: Any]] { (json["items"] as? [[String: Any]]) ?? [] }
    public var code: String? { json["code"] as? String }
    public var text: String { String(decoding: body, as: UTF8.self) }
}

extension TestClientProtocol {
    /// Sends a request with an optional bearer token and JSON body (a dictionary or raw string).
    public func call(_ method: HTTPRequest.Method, _ uri: String, token: String? = nil, json: Any? = nil,
                     headers extra: HTTPFields = [:]) async throws -> APIResponse {
        var headers = extra
        if let token { headers[.authorization] = "Bearer \(token)" }
        var body: ByteBuffer?
        if let json {
            if headers[.contentType] == nil { headers[.contentType] = "application/json" }
            let data = if let raw = json as? String { Data(raw.utf8) } else { try JSONSerialization.data(withJSONObject: json) }
            body = ByteBuffer(bytes: data)
        }
        return try await execute(uri: uri, method: method, headers: headers, body: body) { response in
            APIResponse(status: response.status, headers: response.headers, body: Data(buffer: response.body))
        }
    }
}

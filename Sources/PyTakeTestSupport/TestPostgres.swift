import Foundation
import Logging
import PostgresNIO
import PyTakeCore

/// The PostgreSQL server tests run against: `PYTAKE_TEST_DATABASE_URL` (a superuser connection to
/// any server), or a throwaway embedded cluster started once per test process and stopped at exit.
/// Each test gets its own database, copied from a template migrated once.
public actor TestPostgres {
    public static let shared = TestPostgres()

    public static let packageRoot: String = {
        var url = URL(fileURLWithPath: #filePath)
        for _ in 0..<3 { url.deleteLastPathComponent() }
        return url.path
    }()
    public static var migrationsDirectory: String { packageRoot + "/migrations" }
    public static var publicDirectory: String { packageRoot + "/public" }

    /// Started once; concurrent first callers await the same start-up (actors are reentrant).
    private var startup: Task<DatabaseURL, any Error>?
    private let template = "pytake_test_template"
    let logger = Logger(label: "pytake-tests")

    /// The server URL (database `postgres`), starting it and building the template on first use.
    public func serverURL() async throws -> DatabaseURL {
        if let startup { return try await startup.value }
        let task = Task { try await Self.start(template: template, logger: logger) }
        startup = task
        return try await task.value
    }

    private static func start(template: String, logger: Logger) async throws -> DatabaseURL {
        let url: DatabaseURL
        if let external = ProcessInfo.processInfo.environment["PYTAKE_TEST_DATABASE_URL"], !external.isEmpty {
            url = try DatabaseURL(parsing: external).with(database: "postgres")
        } else {
            let directory = NSTemporaryDirectory() + "pytake-test-pg-\(getpid())"
            // A random port may be taken (another suite's server, another test process): try a few.
            var attempt = 0
            var started: (EmbeddedPostgres, DatabaseURL)?
            while started == nil {
                attempt += 1
                var cluster = try EmbeddedPostgres(clusterDirectory: directory, port: Int.random(in: 20_000...60_000), database: "postgres")
                // Tests run in parallel, each with its own server, pool and CLI processes.
                cluster.maxConnections = 600
                do {
                    started = (cluster, try cluster.start(logger: logger))
                } catch where attempt < 5 {
                    logger.warning("test PostgreSQL did not start; trying another port", metadata: ["error": "\(error)"])
                }
            }
            let (cluster, startedURL) = started!
            url = startedURL
            testClusterToStop = cluster
            atexit { stopTestCluster() }
        }
        _ = try await Database.withClient(url: url, logger: logger) { db in
            try await db.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(template)"), logger: logger)
            try await db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(template)"), logger: logger)
        }
        let migrator = try Migrator(directory: migrationsDirectory)
        _ = try await Database.withClient(url: url.with(database: template), logger: logger) { db in
            try await migrator.migrate(client: db, logger: logger)
        }
        _ = try await Database.withClient(url: url, logger: logger) { db in
            // Roles belong to the cluster; another test process may be creating it at the same moment.
            try await db.query(PostgresQuery(unsafeSQL: """
                DO $$ BEGIN
                    IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '\(appRole)') THEN
                        CREATE ROLE \(appRole) LOGIN PASSWORD '\(appPassword)' IN ROLE \(DatabaseRole.appRole);
                    END IF;
                EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
                END $$
                """), logger: logger)
        }
        return url
    }

    /// The role the application under test logs in as: a member of `pytake_app`, subject to
    /// row-level security like the server's role in production (the superuser URL is the owner's,
    /// for fixtures and assertions).
    public static let appRole = "pytake_tester"
    static let appPassword = "pytake-tester-password"

    /// `url`'s database as the application's role.
    public static func appURL(_ url: DatabaseURL) -> DatabaseURL {
        var app = url
        app.username = appRole
        app.password = appPassword
        return app
    }

    /// A new database with the current schema and no rows.
    public func makeDatabase() async throws -> DatabaseURL {
        try await makeDatabase(fromTemplate: template)
    }

    /// A new, empty database (no schema), for migration tests.
    public func makeEmptyDatabase() async throws -> DatabaseURL {
        try await makeDatabase(fromTemplate: "template0")
    }

    private func makeDatabase(fromTemplate source: String) async throws -> DatabaseURL {
        let server = try await serverURL()
        let name = "pytake_test_\(UUID().uuidString.prefix(8).lowercased())_\(Int.random(in: 0..<1_000_000))"
        _ = try await Database.withClient(url: server, logger: logger) { db in
            try await db.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(name) TEMPLATE \(source)"), logger: logger)
        }
        return server.with(database: name)
    }

    public func dropDatabase(_ url: DatabaseURL) async throws {
        let server = try await serverURL()
        _ = try await Database.withClient(url: server, logger: logger) { db in
            try await db.query(PostgresQuery(unsafeSQL: "DROP DATABASE IF EXISTS \(url.database) WITH (FORCE)"), logger: logger)
        }
    }
}

/// Runs `body` with a fresh database and a running pool on it; the database is dropped afterwards.
public func withTestDatabase<T: Sendable>(_ body: @Sendable (DatabaseURL, PostgresClient) async throws -> T) async throws -> T {
    let url = try await TestPostgres.shared.makeDatabase()
    do {
        let result = try await Database.withClient(url: url, poolSize: 10, logger: Logger(label: "pytake-tests")) { db in
            try await body(url, db)
        }
        try await TestPostgres.shared.dropDatabase(url)
        return result
    } catch {
        try? await TestPostgres.shared.dropDatabase(url)
        throw error
    }
}

nonisolated(unsafe) private var testClusterToStop: EmbeddedPostgres?

private func stopTestCluster() {
    guard let cluster = testClusterToStop else { return }
    try? cluster.stop()
    try? FileManager.default.removeItem(atPath: cluster.clusterDirectory)
    try? FileManager.default.removeItem(atPath: cluster.passwordFile)
}

/// The suites that drive outside processes across the whole product (a browser, a fuzzer, a
/// restarted PostgreSQL) each load the machine on their own; they take turns instead of running
/// at once beside every other suite, which on a small CI machine only makes all of them slower.
public enum HeavyTests {
    actor Gate {
        private var busy = false
        private var waiters: [CheckedContinuation<Void, Never>] = []

        func acquire() async {
            if !busy {
                busy = true
                return
            }
            await withCheckedContinuation { waiters.append($0) }
        }

        func release() {
            if waiters.isEmpty { busy = false } else { waiters.removeFirst().resume() }
        }
    }

    static let gate = Gate()

    public static func oneAtATime<T: Sendable>(_ body: @Sendable () async throws -> T) async throws -> T {
        await gate.acquire()
        do {
            let result = try await body()
            await gate.release()
            return result
        } catch {
            await gate.release()
            throw error
        }
    }
}

import Foundation
import Logging
import PostgresNIO

/// Everything a process needs before it serves: a reachable database with the current schema.
public enum Bootstrap {
    public static let embeddedPort = 54329

    /// The database to use: `DATABASE_URL`, or the embedded cluster under the data directory.
    public static func databaseURL(settings: Settings, logger: Logger) throws -> DatabaseURL {
        if let url = settings.databaseURL { return try DatabaseURL(parsing: url) }
        let port = Int(ProcessInfo.processInfo.environment["PYTAKE_EMBEDDED_PG_PORT"] ?? "") ?? embeddedPort
        let cluster = try EmbeddedPostgres(clusterDirectory: settings.dataDirectory + "/postgres", port: port)
        return try cluster.start(logger: logger)
    }

    /// `JWT_SECRET`, or (embedded mode) a secret generated once and kept in the data directory.
    public static func jwtSecret(settings: Settings) throws -> [UInt8] {
        if let secret = settings.jwtSecret { return secret }
        let path = settings.dataDirectory + "/jwt-secret"
        let fm = FileManager.default
        if let existing = fm.contents(atPath: path), existing.count >= 32 { return Array(existing) }
        try fm.createDirectory(atPath: settings.dataDirectory, withIntermediateDirectories: true)
        let secret = Data(randomToken(bytes: 48).utf8)
        guard fm.createFile(atPath: path, contents: secret, attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write \(path)")
        }
        return Array(secret)
    }

    /// Creates `url.database` on its server when missing (embedded mode connects as a superuser).
    public static func ensureDatabaseExists(_ url: DatabaseURL, logger: Logger) async throws {
        try await Database.withClient(url: url.with(database: "postgres"), poolSize: 1, logger: logger) { admin in
            let rows = try await admin.query("SELECT 1 FROM pg_database WHERE datname = \(url.database)", logger: logger)
            if try await rows.decode(Int.self).first(where: { _ in true }) == nil {
                let quoted = "\"" + url.database.replacingOccurrences(of: "\"", with: "\"\"") + "\""
                try await admin.query(PostgresQuery(unsafeSQL: "CREATE DATABASE \(quoted)"), logger: logger)
            }
        }
    }

    /// On a database with no platform admin, creates `admin@pytake.local` with a generated password
    /// and returns the password (to be shown once); nil when an admin already exists.
    public static func ensurePlatformAdmin(users: UserService, db: PostgresClient, logger: Logger) async throws -> (email: String, password: String)? {
        let rows = try await db.query("SELECT 1 FROM users WHERE role = 'platform_admin' LIMIT 1", logger: logger)
        if try await rows.decode(Int.self).first(where: { _ in true }) != nil { return nil }
        let email = "admin@pytake.local"
        let password = randomToken(bytes: 15)
        _ = try await users.create(email: email, password: password, role: .platformAdmin, tenantId: nil, identity: nil, actor: .cli)
        return (email, password)
    }
}

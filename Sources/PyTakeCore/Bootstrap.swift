import Foundation
import Logging
import PostgresNIO

/// Everything a process needs before it serves: a reachable database with the current schema.
public enum Bootstrap {
    /// The database to use: `DATABASE_URL`, or the embedded cluster under the data directory.
    public static func databaseURL(settings: Settings, logger: Logger) throws -> DatabaseURL {
        if let url = settings.databaseURL { return try DatabaseURL(parsing: url) }
        let cluster = try EmbeddedPostgres(clusterDirectory: settings.dataDirectory + "/postgres", port: settings.embeddedPostgresPort)
        return try cluster.start(logger: logger)
    }

    /// `JWT_SECRET`, or (embedded mode) a secret generated once and kept in the data directory.
    public static func jwtSecret(settings: Settings) throws -> [UInt8] {
        if let secret = settings.jwtSecret { return secret }
        return Array(try generatedSecret(settings, file: "jwt-secret") { randomToken(bytes: 48) }.utf8)
    }

    /// `PYTAKE_ENCRYPTION_KEY` (plus old keys), or (embedded mode) a key generated once and kept in the data directory.
    public static func secretBox(settings: Settings) throws -> SecretBox {
        if let key = settings.encryptionKey { return try SecretBox(current: key, previous: settings.encryptionOldKeys) }
        return try SecretBox(current: try generatedSecret(settings, file: "encryption-key") { SecretBox.generateKey() })
    }

    /// A secret made on first use and kept (mode 0600) in the data directory, for the embedded mode.
    private static func generatedSecret(_ settings: Settings, file: String, make: () -> String) throws -> String {
        let path = settings.dataDirectory + "/" + file
        let fm = FileManager.default
        if let existing = fm.contents(atPath: path), existing.count >= 32 { return String(decoding: existing, as: UTF8.self) }
        try fm.createDirectory(atPath: settings.dataDirectory, withIntermediateDirectories: true)
        let secret = make()
        guard fm.createFile(atPath: path, contents: Data(secret.utf8), attributes: [.posixPermissions: 0o600]) else {
            throw ConfigurationError("cannot write \(path)")
        }
        return secret
    }

    /// The role the embedded mode's server and scheduler log in as: a member of `pytake_app`, so
    /// row-level security applies to it (the cluster's superuser only migrates and bootstraps).
    public static let embeddedAppRole = "pytake_server"

    /// The URL the server and scheduler use: `DATABASE_URL` as given, or (embedded mode) the
    /// cluster's application role, created on first use with a password kept in the data directory.
    /// Needs the schema migrated (migration 0007 creates `pytake_app`).
    public static func applicationDatabaseURL(settings: Settings, ownerURL: DatabaseURL, logger: Logger) async throws -> DatabaseURL {
        guard settings.databaseURL == nil else { return ownerURL }
        let password = try generatedSecret(settings, file: "app-db-password") { randomToken(bytes: 24) }
        guard password.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") }) else {
            throw ConfigurationError("\(settings.dataDirectory)/app-db-password holds characters other than letters, digits, - and _")
        }
        try await Database.withClient(url: ownerURL, poolSize: 1, logger: logger) { admin in
            let role = embeddedAppRole
            let exists = try await admin.query("SELECT 1 FROM pg_roles WHERE rolname = \(role)", logger: logger).collect()
            // Role statements take no parameters; the password is checked above to be a plain token.
            let verb = exists.isEmpty ? "CREATE" : "ALTER"
            try await admin.query(PostgresQuery(unsafeSQL: "\(verb) ROLE \(role) LOGIN NOSUPERUSER NOBYPASSRLS PASSWORD '\(password)'"), logger: logger)
            try await admin.query(PostgresQuery(unsafeSQL: "GRANT \(DatabaseRole.appRole) TO \(role)"), logger: logger)
        }
        var url = ownerURL
        url.username = embeddedAppRole
        url.password = password
        return url
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
    public static func ensurePlatformAdmin(users: UserService, db: DB, logger: Logger) async throws -> (email: String, password: String)? {
        let rows = try await db.platform(.maintenance).query("SELECT 1 FROM users WHERE role = 'platform_admin' LIMIT 1", logger: logger)
        if try await rows.decode(Int.self).first(where: { _ in true }) != nil { return nil }
        let email = "admin@pytake.local"
        let password = randomToken(bytes: 15)
        _ = try await users.create(email: email, password: password, role: .platformAdmin, tenantId: nil, identity: nil, actor: .cli)
        return (email, password)
    }
}

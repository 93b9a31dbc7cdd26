import Crypto
import Foundation
import Logging
import PostgresNIO

/// One `migrations/NNNN_name.sql` file.
public struct Migration: Sendable, Equatable {
    public var name: String
    public var checksum: String
    public var sql: String

    public init(name: String, sql: String) {
        self.name = name
        self.sql = sql
        self.checksum = SHA256.hash(data: Data(sql.utf8)).map { String(format: "%02x", $0) }.joined()
    }
}

public struct MigrationError: Error, CustomStringConvertible {
    public let description: String
    init(_ description: String) { self.description = description }
}

public struct MigrationStatus: Sendable, Equatable {
    public enum State: Sendable, Equatable {
        case applied(at: Date)
        case pending
        /// Applied, but the file on disk no longer has the checksum recorded then.
        case modified
        /// Recorded as applied, but no file of that name exists any more.
        case missing
    }
    public var name: String
    public var state: State

    public var isApplied: Bool {
        if case .applied = state { return true }
        return false
    }
}

/// Applies `migrations/` in order: each file in its own transaction, recorded with its checksum in
/// `schema_migrations`, under an advisory lock so concurrent runs wait for each other.
public struct Migrator: Sendable {
    /// Arbitrary constant shared by every PyTake process that migrates.
    static let advisoryLockKey: Int64 = 0x5079_5461_6b65_4d67
    public let migrations: [Migration]

    public init(migrations: [Migration]) {
        self.migrations = migrations
    }

    /// Each file already runs in its own transaction; a file that commits or rolls back by itself
    /// would break that promise, so it is refused before anything runs.
    static func checkNoTransactionControl(_ migration: Migration) throws {
        let control = ["BEGIN", "COMMIT", "ROLLBACK", "END", "START", "SAVEPOINT", "RELEASE", "ABORT"]
        for statement in SQLScript.statements(in: migration.sql) {
            let code = statement.split(separator: "\n").filter { !$0.trimmingCharacters(in: .whitespaces).hasPrefix("--") }.joined(separator: " ")
            let first = code.split(whereSeparator: { $0.isWhitespace || $0 == ";" }).first.map { $0.uppercased() } ?? ""
            if control.contains(first) {
                throw MigrationError("migration \(migration.name) contains '\(first)': each migration already runs in its own transaction; remove it")
            }
        }
    }

    public init(directory: String) throws {
        let fm = FileManager.default
        guard let names = try? fm.contentsOfDirectory(atPath: directory) else {
            throw MigrationError("cannot read migrations directory '\(directory)' (set PYTAKE_MIGRATIONS_DIR)")
        }
        let pattern = try Regex("^[0-9]{4}_[a-z0-9_]+\\.sql$")
        var seen = Set<Substring>()
        var result: [Migration] = []
        for file in names.sorted() where file.hasSuffix(".sql") {
            guard file.wholeMatch(of: pattern) != nil else {
                throw MigrationError("migration file '\(file)' must be named NNNN_lowercase_name.sql")
            }
            guard seen.insert(file.prefix(4)).inserted else {
                throw MigrationError("two migration files share the number \(file.prefix(4))")
            }
            let path = (directory as NSString).appendingPathComponent(file)
            guard let data = fm.contents(atPath: path), let sql = String(data: data, encoding: .utf8) else {
                throw MigrationError("cannot read migration file '\(path)' as UTF-8")
            }
            result.append(Migration(name: String(file.dropLast(4)), sql: sql))
        }
        self.init(migrations: result)
    }

    /// Applies every pending migration; returns the names applied.
    @discardableResult
    public func migrate(client: PostgresClient, logger: Logger) async throws -> [String] {
        try await client.withTx { connection in
            try await withLock(connection, logger: logger) {
                let applied = try await appliedMigrations(connection, logger: logger)
                try verify(applied: applied)
                for migration in migrations where applied[migration.name] == nil {
                    try Self.checkNoTransactionControl(migration)
                }
                var done: [String] = []
                for migration in migrations where applied[migration.name] == nil {
                    let started = ContinuousClock.now
                    do {
                        try await connection.transaction(logger: logger) { tx in
                            // A migration that moves data sees every tenant's rows, also when run
                            // by an owner role that row-level security applies to.
                            try await ScopedDB.apply(.platform(.maintenance), on: tx, logger: logger)
                            for statement in SQLScript.statements(in: migration.sql) {
                                try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
                            }
                            try await tx.query(
                                "INSERT INTO schema_migrations (name, checksum) VALUES (\(migration.name), \(migration.checksum))",
                                logger: logger
                            )
                        }
                    } catch {
                        let message = Database.describe(error)
                        throw MigrationError("migration \(migration.name) failed and was rolled back: \(message)")
                    }
                    logger.info("applied migration", metadata: [
                        "migration": "\(migration.name)", "elapsed": "\(ContinuousClock.now - started)",
                    ])
                    done.append(migration.name)
                }
                try await grantApplicationRole(connection, logger: logger)
                return done
            }
        }
    }

    /// Gives the application's group role what it needs on every table, including tables a newer
    /// migration added: rows (under row-level security), sequences, and only reading the record
    /// of migrations. Nothing when the role does not exist (a schema older than 0007).
    private func grantApplicationRole(_ connection: Tx, logger: Logger) async throws {
        let role = DatabaseRole.appRole
        let exists = try await connection.query("SELECT 1 FROM pg_roles WHERE rolname = \(role)", logger: logger).collect()
        guard !exists.isEmpty else { return }
        try await connection.transaction(logger: logger) { tx in
            for statement in [
                "GRANT USAGE ON SCHEMA public TO \(role)",
                "GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA public TO \(role)",
                "GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO \(role)",
                "REVOKE INSERT, UPDATE, DELETE, TRUNCATE ON schema_migrations FROM \(role)",
            ] {
                try await tx.query(PostgresQuery(unsafeSQL: statement), logger: logger)
            }
        }
    }

    public func status(client: PostgresClient, logger: Logger) async throws -> [MigrationStatus] {
        try await client.withTx { connection in
            try await withLock(connection, logger: logger) {
                let applied = try await appliedMigrations(connection, create: false, logger: logger)
                var result = migrations.map { migration -> MigrationStatus in
                    guard let row = applied[migration.name] else { return .init(name: migration.name, state: .pending) }
                    return .init(name: migration.name, state: row.checksum == migration.checksum ? .applied(at: row.at) : .modified)
                }
                let known = Set(migrations.map(\.name))
                result += applied.keys.filter { !known.contains($0) }.sorted().map { .init(name: $0, state: .missing) }
                return result.sorted { $0.name < $1.name }
            }
        }
    }

    /// Refuses to go on when history and files disagree: nothing is applied in that case.
    func verify(applied: [String: (checksum: String, at: Date)]) throws {
        let files = Dictionary(uniqueKeysWithValues: migrations.map { ($0.name, $0) })
        for (name, row) in applied.sorted(by: { $0.key < $1.key }) {
            guard let file = files[name] else {
                throw MigrationError("migration \(name) was applied but its file is missing from the migrations directory; nothing was changed")
            }
            if file.checksum != row.checksum {
                throw MigrationError("migration \(name) was edited after it was applied (checksum \(row.checksum.prefix(12)) recorded, \(file.checksum.prefix(12)) on disk); write a new migration instead. Nothing was changed")
            }
        }
    }

    private func withLock<T>(_ connection: Tx, logger: Logger, _ body: () async throws -> T) async throws -> T {
        try await connection.query("SELECT pg_advisory_lock(\(Self.advisoryLockKey))", logger: logger)
        do {
            let result = try await body()
            try await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
            return result
        } catch {
            _ = try? await connection.query("SELECT pg_advisory_unlock(\(Self.advisoryLockKey))", logger: logger)
            throw error
        }
    }

    /// `create`: make the record when it is missing (migrate); status only reads, so it works for
    /// the application's role, which may not create tables.
    private func appliedMigrations(_ connection: Tx, create: Bool = true, logger: Logger) async throws -> [String: (checksum: String, at: Date)] {
        if !create {
            let exists = try await connection.query("SELECT to_regclass('schema_migrations') IS NOT NULL", logger: logger)
            guard try await exists.decode(Bool.self).first(where: { _ in true }) == true else { return [:] }
        }
        if create { try await connection.query("""
            CREATE TABLE IF NOT EXISTS schema_migrations (
                name       text PRIMARY KEY,
                checksum   text NOT NULL,
                applied_at timestamptz NOT NULL DEFAULT now()
            )
            """, logger: logger) }
        var applied: [String: (checksum: String, at: Date)] = [:]
        let rows = try await connection.query("SELECT name, checksum, applied_at FROM schema_migrations", logger: logger)
        for try await (name, checksum, at) in rows.decode((String, String, Date).self) {
            applied[name] = (checksum, at)
        }
        return applied
    }
}

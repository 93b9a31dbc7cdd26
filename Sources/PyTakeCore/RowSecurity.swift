import Foundation
import Logging
import PostgresNIO

/// Why a statement may see every tenant's rows. Row-level security (migrations/0007) lets a
/// transaction see one tenant's rows (`app.tenant_id`) or, on this explicit path only, all of them
/// (`app.platform`). The cases are the whole list of platform-wide work: each use is counted in
/// `pytake_db_platform_transactions_total{reason}` and named in `app.platform_reason`, which
/// `pg_stat_activity` and PostgreSQL's statement logs can show.
public enum PlatformReason: String, Sendable, CaseIterable {
    /// Sign-in, refresh and session checks find a user by e-mail or id before any tenant is known.
    case authentication = "auth"
    /// platform_admin's tenant list, creation, deletion and restore; tenant-less (platform) users.
    case tenantAdministration = "tenants"
    /// A Meta webhook names a phone number id; the tenant that owns it is not known before.
    case webhookRouting = "webhook_routing"
    /// Webhook deliveries are written in batches that hold several tenants' messages; each
    /// message's tenant is the one routing found for its phone number.
    case webhookIngestion = "webhook_ingestion"
    /// A WhatsApp number belongs to one tenant: connecting it checks that no other tenant has it.
    case phoneNumberOwnership = "phone_number_ownership"
    /// The flow engine claims due conversations and records send outcomes across tenants.
    case engineQueue = "engine_queue"
    /// The scheduler's jobs scan every tenant (follow-up candidates, daily metrics).
    case scheduledJobs = "scheduled_jobs"
    /// The platform overview of metrics.
    case platformMetrics = "platform_metrics"
    /// `pytake-admin` maintenance (secret rotation, bootstrap of the first admin) and migrations.
    case maintenance = "maintenance"
}

/// What a transaction may see.
public enum DataScope: Sendable, Hashable {
    /// One tenant's rows.
    case tenant(UUID)
    /// Every tenant's rows, for a listed reason.
    case platform(PlatformReason)
    /// No tenant: tenant-owned tables show no rows and refuse writes. For statements on tables
    /// that no tenant owns (sign-in throttling, job schedules, health checks).
    case none
}

/// The application's database: every statement runs in a scope, and a scope other than `.none`
/// runs in a transaction whose first statement sets it with `set_config(…, true)`, so the setting
/// ends with the transaction and can never leak to the next user of a pooled connection.
public struct DB: Sendable {
    /// The pool (run it as a service); statements go through `tenant(_:)`, `platform(_:)` or `unscoped`.
    public let client: PostgresClient

    public init(_ client: PostgresClient) { self.client = client }

    public func tenant(_ id: UUID) -> ScopedDB { ScopedDB(client: client, scope: .tenant(id)) }
    public func platform(_ reason: PlatformReason) -> ScopedDB { ScopedDB(client: client, scope: .platform(reason)) }
    public var unscoped: ScopedDB { ScopedDB(client: client, scope: .none) }
    public func scoped(_ scope: DataScope) -> ScopedDB { ScopedDB(client: client, scope: scope) }
}

public struct ScopedDB: Sendable {
    let client: PostgresClient
    public let scope: DataScope

    /// Runs `query` and reads all its rows (a scoped statement runs in its own short transaction).
    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger) async throws -> Rows {
        if scope == .none { return try await client.withTx { tx in Rows(try await tx.query(query, logger: logger).collect()) } }
        return try await transaction(logger: logger) { tx in Rows(try await tx.query(query, logger: logger).collect()) }
    }

    /// `PostgresClient.transaction` with the scope set first.
    public func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Tx) async throws -> sending Result
    ) async throws -> sending Result {
        let scope = self.scope
        return try await client.transaction(logger: logger, isolation: isolation) { tx in
            try await Self.apply(scope, on: tx, logger: logger)
            return try await body(tx)
        }
    }

    /// Runs `query` as the prepared statement named by `key`, in the scope.
    func prepared<Key>(_ key: Key.Type, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        if scope == .none { return try await client.withTx { tx in try await tx.prepared(key, query, logger: logger) } }
        return try await transaction(logger: logger) { tx in try await tx.prepared(key, query, logger: logger) }
    }

    /// Sets `scope` for the rest of the transaction `tx` (which must be open).
    public static func apply(_ scope: DataScope, on tx: Tx, logger: Logger) async throws {
        switch scope {
        case .tenant(let id):
            try await tx.query("SELECT set_config('app.tenant_id', \(id.uuidString), true)", logger: logger)
        case .platform(let reason):
            Telemetry.platformTransaction(reason.rawValue)
            try await tx.query("SELECT set_config('app.platform', 'on', true), set_config('app.platform_reason', \(reason.rawValue), true)", logger: logger)
        case .none:
            break
        }
    }
}

/// The rows of a statement, read whole (a scoped statement's transaction has ended when they are
/// returned). Decodes like `PostgresRowSequence` (see the extension below).
public struct Rows: AsyncSequence, Sendable {
    public typealias Element = PostgresRow
    public let all: [PostgresRow]

    init(_ rows: [PostgresRow]) { all = rows }

    public struct AsyncIterator: AsyncIteratorProtocol {
        var base: IndexingIterator<[PostgresRow]>
        public mutating func next() async throws -> PostgresRow? { base.next() }
    }

    public func makeAsyncIterator() -> AsyncIterator { AsyncIterator(base: all.makeIterator()) }

    public func collect() -> [PostgresRow] { all }
}

/// `decode` for any sequence of rows (`Rows` and `PostgresRowSequence` alike), so decoding helpers
/// take `some AsyncSequence<PostgresRow, any Error>` whatever ran the statement.
extension AsyncSequence where Element == PostgresRow, Self: Sendable {
    public func decode<Column: PostgresDecodable>(_ type: Column.Type) -> AsyncThrowingMapSequence<Self, Column> {
        map { try $0.decode(Column.self) }
    }

    public func decode<each Column: PostgresDecodable>(_ types: (repeat each Column).Type) -> AsyncThrowingMapSequence<Self, (repeat each Column)> {
        map { try $0.decode((repeat each Column).self) }
    }
}

/// The database role the server and scheduler connect as must be subject to row-level security:
/// neither a superuser nor `BYPASSRLS` (both skip every policy, even with `FORCE ROW LEVEL SECURITY`).
public enum DatabaseRole {
    public struct Privileges: Sendable {
        public var name: String
        public var superuser: Bool
        public var bypassRLS: Bool
    }

    public static func current(_ db: PostgresClient, logger: Logger) async throws -> Privileges {
        let rows = try await db.query("SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user", logger: logger)
        for try await (name, superuser, bypass) in rows.decode((String, Bool, Bool).self) {
            return Privileges(name: name, superuser: superuser, bypassRLS: bypass)
        }
        throw ConfigurationError("cannot read the privileges of the database role")
    }

    /// Refuses a role that row-level security would not apply to.
    public static func requireSubjectToRowSecurity(_ db: PostgresClient, logger: Logger) async throws {
        let role = try await current(db, logger: logger)
        guard role.superuser || role.bypassRLS else { return }
        throw ConfigurationError("""
            the database role '\(role.name)' is \(role.superuser ? "a superuser" : "allowed to bypass row-level security"), \
            so tenant isolation in the database would not apply: connect as a role without SUPERUSER or BYPASSRLS that is a member \
            of '\(appRole)' (CREATE ROLE pytake_server LOGIN PASSWORD '…' IN ROLE \(appRole)); 'pytake-admin migrate' may keep using the owner role
            """)
    }

    /// The group role that `pytake-admin migrate` grants the application's privileges to.
    public static let appRole = "pytake_app"
}

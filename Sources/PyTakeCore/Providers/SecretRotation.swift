import Foundation
import Logging
import PostgresNIO

/// Re-seals every stored secret under the current key (`pytake-admin keys rotate`). Safe while
/// servers run: each batch is a short transaction, rows are locked with SKIP LOCKED, and each row is
/// rewritten only if it still holds the value that was read, so a concurrent write is never lost.
/// Legacy values still in clear (written by older systems) are sealed on the way.
public struct SecretRotation: Sendable {
    let db: DB
    let logger: Logger
    let secrets: SecretBox

    public init(db: DB, logger: Logger, secrets: SecretBox) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
    }

    struct Column: Sendable {
        var name: String
        var table: String
        /// SQL for the stored value.
        var value: String
        var context: @Sendable (UUID) -> String
        /// Legacy columns may hold clear values.
        var mayBeClear: Bool
        /// SQL for the new value, with $1 the sealed text.
        var assignment: String
    }

    static let columns: [Column] = [
        Column(name: "clients.token", table: "clients", value: "token", context: TenantService.tokenContext,
               mayBeClear: true, assignment: "token = $1"),
        Column(name: "clients.tools_config.whatsapp.key", table: "clients", value: "tools_config #>> '{whatsapp,key}'",
               context: CredentialResolver.toolsKeyContext, mayBeClear: true,
               assignment: "tools_config = jsonb_set(tools_config, '{whatsapp,key}', to_jsonb($1::text))"),
        Column(name: "clients.tools_config.ai.key", table: "clients", value: "tools_config #>> '{ai,key}'",
               context: { TenantService.toolsSecretContext(["ai", "key"], tenant: $0) }, mayBeClear: false,
               assignment: "tools_config = jsonb_set(tools_config, '{ai,key}', to_jsonb($1::text))"),
        Column(name: "clients.tools_config.webhooks.secret", table: "clients", value: "tools_config #>> '{webhooks,secret}'",
               context: { TenantService.toolsSecretContext(["webhooks", "secret"], tenant: $0) }, mayBeClear: false,
               assignment: "tools_config = jsonb_set(tools_config, '{webhooks,secret}', to_jsonb($1::text))"),
        Column(name: "client_providers.token", table: "client_providers", value: "token", context: ProviderService.tokenContext,
               mayBeClear: false, assignment: "token = $1"),
        Column(name: "client_providers.app_secret", table: "client_providers", value: "app_secret",
               context: ProviderService.appSecretContext, mayBeClear: false, assignment: "app_secret = $1"),
        Column(name: "client_providers.registration_pin", table: "client_providers", value: "registration_pin",
               context: ProviderService.pinContext, mayBeClear: false, assignment: "registration_pin = $1"),
    ]

    public struct Count: Sendable, Equatable {
        public var column: String
        /// A key id, or "clear" for a value not yet sealed.
        public var key: String
        public var rows: Int
    }

    /// How many stored secrets each key (or nothing) protects.
    public func status() async throws -> [Count] {
        var counts: [Count] = []
        for column in Self.columns {
            let rows = try await db.platform(.maintenance).query(PostgresQuery(unsafeSQL: """
                SELECT CASE WHEN v LIKE 'v1:%' THEN split_part(v, ':', 2) ELSE 'clear' END AS key, count(*)::int8
                FROM (SELECT \(column.value) AS v FROM \(column.table)) s WHERE v IS NOT NULL GROUP BY 1 ORDER BY 1
                """), logger: logger)
            for try await (key, n) in rows.decode((String, Int).self) {
                counts.append(Count(column: column.name, key: key, rows: n))
            }
        }
        return counts
    }

    func remaining(_ column: Column, prefix: String) async throws -> Int {
        var query = PostgresQuery(unsafeSQL: """
            SELECT count(*)::int8 FROM \(column.table) WHERE \(column.value) IS NOT NULL AND \(column.value) NOT LIKE $1
            """)
        query.binds.append(prefix)
        return try await db.platform(.maintenance).query(query, logger: logger).decode(Int.self).first(where: { _ in true }) ?? 0
    }

    /// Re-seals, in batches, every value not under the current key. Returns rows rewritten per column.
    public func rotate(batchSize: Int = 200, progress: @Sendable (String) -> Void = { _ in }) async throws -> [String: Int] {
        var done: [String: Int] = [:]
        let prefix = "v1:\(secrets.currentKeyID):%"
        for column in Self.columns {
            var total = 0
            var attempts = 0
            while true {
                let rewritten = try await db.platform(.maintenance).transaction(logger: logger) { tx -> Int in
                    var query = PostgresQuery(unsafeSQL: """
                        SELECT id, \(column.value) FROM \(column.table)
                        WHERE \(column.value) IS NOT NULL AND \(column.value) NOT LIKE $1
                        ORDER BY id LIMIT \(batchSize) FOR UPDATE SKIP LOCKED
                        """)
                    query.binds.append(prefix)
                    var batch: [(UUID, String)] = []
                    for try await row in try await tx.query(query, logger: logger).decode((UUID, String).self) { batch.append(row) }
                    for (id, stored) in batch {
                        let clear: String
                        do {
                            clear = column.mayBeClear ? try secrets.openLegacy(stored, context: column.context(id))
                                                      : try secrets.open(stored, context: column.context(id))
                        } catch {
                            throw SecretBox.Failure(description: "\(column.name) of row \(id.uuidString.lowercased()): \(error)")
                        }
                        var update = PostgresQuery(unsafeSQL: """
                            UPDATE \(column.table) SET \(column.assignment) WHERE id = $2 AND \(column.value) = $3
                            """)
                        update.binds.append(try secrets.seal(clear, context: column.context(id)))
                        update.binds.append(id)
                        update.binds.append(stored)
                        try await tx.query(update, logger: logger)
                    }
                    return batch.count
                }
                if rewritten == 0 {
                    // SKIP LOCKED passes over rows other transactions hold: wait for them, a few times,
                    // rather than reporting success with secrets still under an old key.
                    let left = try await remaining(column, prefix: prefix)
                    if left == 0 { break }
                    attempts += 1
                    guard attempts <= 5 else {
                        throw SecretBox.Failure(description: "\(column.name): \(left) row(s) stayed locked by other transactions; run 'keys rotate' again")
                    }
                    try await Task.sleep(for: .seconds(1))
                    continue
                }
                total += rewritten
                progress("\(column.name): \(total) re-sealed")
            }
            done[column.name] = total
        }
        return done
    }
}

import Foundation
import Logging
import PostgresNIO
import PyTakeCore
import PyTakeServer
import PyTakeTestSupport
import Testing

/// Row-level security under the application's own role (`TestPostgres.appRole`, a member of
/// `pytake_app`, the way the server connects in production): whatever a statement's WHERE says,
/// a transaction scoped to tenant A reads, changes and creates only A's rows, and one with no
/// tenant sees nothing.
@Suite struct RowSecurityTests {
    typealias W = MetaWebhookTests

    /// Two tenants with rows in as many tables as the product writes in its first minutes:
    /// users, providers, customers, conversations, messages, statuses, events, flows and versions,
    /// the engine queue and the audit log.
    static func withTwoTenants(_ body: @Sendable (TestApp, Fixture) async throws -> Void) async throws {
        try await TestApp.run(overrides: W.overrides) { app, client in
            let f = try await Fixture.make(app)
            for (tenant, number, admin) in [(f.tenantA, W.numberA, Fixture.Who.adminA), (f.tenantB, W.numberB, .adminB)] {
                _ = try await W.metaProvider(app, tenant: tenant.id, number: number)
                let path = "/api/v1/tenants/\(tenant.id.uuidString.lowercased())/flows"
                let created = try await client.call(.post, path, token: f.token(admin), json: ["name": "Main", "definition": FlowTests.valid])
                let flow = try #require(created.json["id"] as? String, "\(created.text)")
                let published = try await client.call(.post, "\(path)/\(flow)/publish", token: f.token(admin))
                #expect(published.status == .created, "\(published.text)")
                let delivered = try await W.post(client, W.payload([W.Change(phoneNumberId: number, messages: [W.text("wamid.\(number)")],
                                                                             contacts: [W.contact()])]))
                #expect(delivered.json["stored"] as? Int == 1, "\(delivered.text)")
            }
            // The engine answers both conversations in the background; the tests count rows once it is done.
            let idle = try await TestApp.eventually {
                try await app.scalar("""
                    SELECT (SELECT count(*) FROM engine_queue) + (SELECT count(*) FROM engine_outbox)
                         + (SELECT count(*) FROM chat_messages WHERE status = 'pending')
                    """) == 0
            }
            #expect(idle)
            try await Task.sleep(for: .milliseconds(300))
            try await body(app, f)
        }
    }

    /// Every table under row-level security and the column that names its tenant.
    static func protectedTables(_ app: TestApp) async throws -> [(table: String, column: String)] {
        let rows = try await app.db.query("""
            SELECT c.relname::text, CASE WHEN c.relname = 'clients' THEN 'id' ELSE 'tenant_id' END
            FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE n.nspname = 'public' AND c.relkind = 'r' AND c.relrowsecurity
            ORDER BY 1
            """, logger: app.services.logger)
        var tables: [(String, String)] = []
        for try await row in rows.decode((String, String).self) { tables.append(row) }
        return tables
    }

    static func count(_ db: ScopedDB, _ sql: String, _ logger: Logger) async throws -> Int {
        try await db.query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Int.self).first { _ in true } ?? -1
    }

    static func ownerCount(_ app: TestApp, _ sql: String) async throws -> Int { try await app.scalar(sql) }

    @Test func everyTenantOwnedTableHasForcedPolicies() async throws {
        try await TestApp.run { app, _ in
            let rows = try await app.db.query("""
                SELECT c.relname::text, c.relrowsecurity, c.relforcerowsecurity,
                       (SELECT count(*) FROM pg_policies p WHERE p.schemaname = 'public' AND p.tablename = c.relname)::int8
                FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
                WHERE n.nspname = 'public' AND c.relkind = 'r'
                  AND (c.relname = 'clients' OR EXISTS (SELECT 1 FROM pg_attribute a WHERE a.attrelid = c.oid AND a.attname = 'tenant_id' AND NOT a.attisdropped))
                """, logger: app.services.logger)
            var seen: [String] = []
            for try await (table, enabled, forced, policies) in rows.decode((String, Bool, Bool, Int).self) {
                seen.append(table)
                #expect(enabled && forced && policies >= 1, "\(table): a table that holds a tenant's rows needs ENABLE and FORCE ROW LEVEL SECURITY and a policy")
            }
            #expect(seen.count >= 18, "found \(seen.sorted())")
        }
    }

    @Test func theApplicationRoleIsSubjectToRowSecurity() async throws {
        try await TestApp.run { app, _ in
            let role = try await DatabaseRole.current(app.services.db.client, logger: app.services.logger)
            #expect(role.name == TestPostgres.appRole)
            #expect(!role.superuser && !role.bypassRLS, "the application's role must be neither SUPERUSER nor BYPASSRLS")
            // Its privileges come from the group role the migrations grant to; it cannot change the schema.
            #expect(try await app.scalar("SELECT count(*)::int8 WHERE pg_has_role('\(TestPostgres.appRole)', 'pytake_app', 'MEMBER')") == 1)
            await #expect(throws: (any Error).self) {
                try await app.services.db.unscoped.query("CREATE TABLE sneaky (id int)", logger: app.services.logger)
            }
            await #expect(throws: (any Error).self) {
                try await app.services.db.platform(.maintenance).query("DELETE FROM schema_migrations", logger: app.services.logger)
            }
        }
    }

    @Test func aServerOrSchedulerRefusesAPrivilegedRole() async throws {
        try await TestApp.run { app, _ in
            // The owner's URL is a superuser's: row-level security would not apply to it.
            let settings = try TestApp.settings(databaseURL: app.url)
            let error = await #expect(throws: ConfigurationError.self) {
                _ = try await buildApplication(settings: settings, logger: Logger(label: "refused"))
            }
            #expect(error?.description.contains("superuser") == true, "\(String(describing: error))")
            let (status, output) = try Subprocess.run([SchedulerProcessTests.binary, "--once", "metrics"], environment: [
                "DATABASE_URL": app.url.string, "JWT_SECRET": TestApp.jwtSecret, "PYTAKE_ENCRYPTION_KEY": TestApp.encryptionKey,
                "PYTAKE_MIGRATIONS_DIR": TestPostgres.migrationsDirectory, "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
            ])
            #expect(status == 2 && output.contains("superuser"), "\(output)")
        }
    }

    @Test func tenantAReadsChangesAndCreatesNothingOfTenantB() async throws {
        try await Self.withTwoTenants { app, f in
            let logger = app.services.logger
            let (a, b) = (f.tenantA.id.uuidString.lowercased(), f.tenantB.id.uuidString.lowercased())
            let asA = app.services.db.tenant(f.tenantA.id)
            let tables = try await Self.protectedTables(app)
            #expect(tables.count >= 18)
            var withRowsOfB: [String] = []
            for (table, column) in tables {
                let ofB = try await Self.ownerCount(app, "SELECT count(*)::int8 FROM \(table) WHERE \(column) = '\(b)'")
                if ofB > 0 { withRowsOfB.append(table) }
                #expect(try await Self.count(asA, "SELECT count(*)::int8 FROM \(table) WHERE \(column) = '\(b)'", logger) == 0, "\(table): read")
                #expect(try await Self.count(asA, "SELECT count(*)::int8 FROM \(table) WHERE \(column) IS DISTINCT FROM '\(a)'", logger) == 0, "\(table): read")
                #expect(try await Self.count(asA, """
                    WITH changed AS (UPDATE \(table) SET \(column) = \(column) WHERE \(column) = '\(b)' RETURNING 1) SELECT count(*)::int8 FROM changed
                    """, logger) == 0, "\(table): update")
                #expect(try await Self.count(asA, """
                    WITH gone AS (DELETE FROM \(table) WHERE \(column) = '\(b)' RETURNING 1) SELECT count(*)::int8 FROM gone
                    """, logger) == 0, "\(table): delete")
                #expect(try await Self.ownerCount(app, "SELECT count(*)::int8 FROM \(table) WHERE \(column) = '\(b)'") == ofB, "\(table): B's rows are intact")
            }
            // Rows of B really exist in the tables the product wrote to, so the zeros above mean something.
            for table in ["clients", "users", "client_providers", "customers", "active_conversations", "chat_messages", "conversation_events",
                          "flows", "flow_versions", "audit_logs"] {
                #expect(withRowsOfB.contains(table), "\(table) has no row of tenant B to hide")
            }
            // A's own rows are there for A.
            #expect(try await Self.count(asA, "SELECT count(*)::int8 FROM chat_messages WHERE direction = 'inbound'", logger) == 1)

            // Creating a row for B, or moving one of A's rows to B, is refused (WITH CHECK).
            for sql in [
                "INSERT INTO customers (tenant_id, wa_id) VALUES ('\(b)', '5511000000001')",
                "UPDATE customers SET tenant_id = '\(b)' WHERE tenant_id = '\(a)'",
                "INSERT INTO audit_logs (tenant_id, action, target_type) VALUES ('\(b)', 'forged', 'tenant')",
                "INSERT INTO audit_logs (tenant_id, action, target_type) VALUES (NULL, 'forged', 'platform')",
            ] {
                let error = await #expect(throws: PSQLError.self, "\(sql)") { try await asA.query(PostgresQuery(unsafeSQL: sql), logger: logger) }
                #expect(error.flatMap { Database.sqlState(of: $0) } == "42501", "\(sql): \(String(describing: error.map { Database.describe($0) }))")
            }
            #expect(try await Self.count(asA, "WITH c AS (INSERT INTO customers (tenant_id, wa_id) VALUES ('\(a)', '5511000000002') RETURNING 1) SELECT count(*)::int8 FROM c", logger) == 1)
            #expect(try await Self.ownerCount(app, "SELECT count(*)::int8 FROM customers WHERE tenant_id = '\(b)'") == 1)
        }
    }

    @Test func withNoTenantSetNothingIsVisibleOrWritable() async throws {
        try await Self.withTwoTenants { app, f in
            let logger = app.services.logger
            let none = app.services.db.unscoped
            for (table, _) in try await Self.protectedTables(app) {
                #expect(try await Self.count(none, "SELECT count(*)::int8 FROM \(table)", logger) == 0, "\(table) without a tenant")
            }
            #expect(try await app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE direction = 'inbound'") == 2)
            let error = await #expect(throws: PSQLError.self) {
                try await none.query("INSERT INTO customers (tenant_id, wa_id) VALUES (\(f.tenantA.id), '5511000000003')", logger: logger)
            }
            #expect(error.flatMap { Database.sqlState(of: $0) } == "42501")
            // The platform path sees every tenant, and says why it did.
            #expect(try await Self.count(app.services.db.platform(.maintenance), "SELECT count(*)::int8 FROM chat_messages WHERE direction = 'inbound'", logger) == 2)
            #expect(String(decoding: Telemetry.render(), as: UTF8.self).contains(#"pytake_db_platform_transactions_total{reason="maintenance"}"#))
        }
    }

    @Test func aTenantSettingEndsWithItsTransaction() async throws {
        try await Self.withTwoTenants { app, f in
            let logger = app.services.logger
            // One connection: the next statement runs on the connection the tenant's transaction used.
            try await Database.withClient(url: TestPostgres.appURL(app.url), poolSize: 1, logger: logger) { client in
                let db = DB(client)
                #expect(try await Self.count(db.tenant(f.tenantA.id), "SELECT count(*)::int8 FROM customers", logger) == 1)
                #expect(try await Self.count(db.unscoped, "SELECT count(*)::int8 FROM customers", logger) == 0)
                let setting = try await db.unscoped.query("SELECT coalesce(current_setting('app.tenant_id', true), '')", logger: logger)
                #expect(try await setting.decode(String.self).first { _ in true } == "")
                #expect(try await Self.count(db.tenant(f.tenantB.id), "SELECT count(*)::int8 FROM customers", logger) == 1)
            }
        }
    }
}

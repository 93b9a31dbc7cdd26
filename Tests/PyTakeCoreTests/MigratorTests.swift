import Foundation
import Logging
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

@Suite struct MigratorTests {
    let logger = Logger(label: "migrator-tests")

    func tables(_ db: PostgresClient) async throws -> [String] {
        let rows = try await db.query("SELECT tablename FROM pg_tables WHERE schemaname = 'public' ORDER BY 1", logger: logger)
        var names: [String] = []
        for try await name in rows.decode(String.self) { names.append(name) }
        return names
    }

    func withEmptyDatabase(_ body: @Sendable (PostgresClient) async throws -> Void) async throws {
        let url = try await TestPostgres.shared.makeEmptyDatabase()
        defer { Task { try? await TestPostgres.shared.dropDatabase(url) } }
        try await Database.withClient(url: url, poolSize: 4, logger: logger, body)
    }

    @Test func appliesTheRepositoryMigrationsOnceAndReportsStatus() async throws {
        let migrator = try Migrator(directory: TestPostgres.migrationsDirectory)
        #expect(!migrator.migrations.isEmpty)
        try await withEmptyDatabase { db in
            let before = try await migrator.status(client: db, logger: logger)
            #expect(before.allSatisfy { $0.state == .pending })

            let applied = try await migrator.migrate(client: db, logger: logger)
            #expect(applied == migrator.migrations.map(\.name))
            #expect(try await tables(db).contains("clients"))

            let again = try await migrator.migrate(client: db, logger: logger)
            #expect(again.isEmpty)
            let after = try await migrator.status(client: db, logger: logger)
            #expect(after.count == migrator.migrations.count)
            #expect(after.allSatisfy { $0.isApplied })
        }
    }

    @Test func refusesEditedMigrationAndChangesNothing() async throws {
        let first = Migration(name: "0001_one", sql: "CREATE TABLE one (id int);")
        let second = Migration(name: "0002_two", sql: "CREATE TABLE two (id int);")
        try await withEmptyDatabase { db in
            try await Migrator(migrations: [first]).migrate(client: db, logger: logger)
            let edited = Migration(name: "0001_one", sql: "CREATE TABLE one (id bigint);")
            await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [edited, second]).migrate(client: db, logger: logger)
            }
            #expect(try await tables(db) == ["one", "schema_migrations"])
            let status = try await Migrator(migrations: [edited, second]).status(client: db, logger: logger)
            #expect(status.map(\.state) == [.modified, .pending])
        }
    }

    @Test func failingMigrationIsRolledBackWhole() async throws {
        let good = Migration(name: "0001_good", sql: "CREATE TABLE good (id int);")
        let bad = Migration(name: "0002_bad", sql: "CREATE TABLE half (id int); SELECT * FROM no_such_table;")
        try await withEmptyDatabase { db in
            await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [good, bad]).migrate(client: db, logger: logger)
            }
            #expect(try await tables(db) == ["good", "schema_migrations"])
            let status = try await Migrator(migrations: [good, bad]).status(client: db, logger: logger)
            #expect(status[0].isApplied)
            #expect(status[1].state == .pending)
        }
    }

    @Test func concurrentRunsApplyEachMigrationExactlyOnce() async throws {
        let migrations = (1...5).map { i in
            Migration(name: String(format: "%04d_m%d", i, i), sql: "CREATE TABLE m\(i) (id int); SELECT pg_sleep(0.05);")
        }
        try await withEmptyDatabase { db in
            let results = try await withThrowingTaskGroup(of: [String].self) { group in
                for _ in 0..<4 {
                    group.addTask { try await Migrator(migrations: migrations).migrate(client: db, logger: logger) }
                }
                return try await group.reduce(into: [[String]]()) { $0.append($1) }
            }
            #expect(results.flatMap { $0 }.sorted() == migrations.map(\.name))
            let rows = try await db.query("SELECT count(*)::int8 FROM schema_migrations", logger: logger)
            #expect(try await rows.decode(Int.self).first(where: { _ in true }) == 5)
        }
    }

    @Test func missingFileIsReportedAndRefused() async throws {
        let first = Migration(name: "0001_one", sql: "CREATE TABLE one (id int);")
        try await withEmptyDatabase { db in
            try await Migrator(migrations: [first]).migrate(client: db, logger: logger)
            let status = try await Migrator(migrations: []).status(client: db, logger: logger)
            #expect(status.map(\.state) == [.missing])
            await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: []).migrate(client: db, logger: logger)
            }
        }
    }

    @Test func refusesFilesThatControlTheirOwnTransaction() async throws {
        let sneaky = Migration(name: "0001_sneaky", sql: "CREATE TABLE a (id int);\n-- done\nCOMMIT;\nCREATE TABLE b (id int);")
        try await withEmptyDatabase { db in
            await #expect(throws: MigrationError.self) {
                try await Migrator(migrations: [sneaky]).migrate(client: db, logger: logger)
            }
            let remaining = try await tables(db)
            #expect(remaining == ["schema_migrations"])
        }
    }

    @Test func rejectsBadlyNamedFiles() throws {
        let dir = NSTemporaryDirectory() + "pytake-migrations-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try "SELECT 1;".write(toFile: dir + "/1_bad.sql", atomically: true, encoding: .utf8)
        #expect(throws: MigrationError.self) { try Migrator(directory: dir) }
    }
}

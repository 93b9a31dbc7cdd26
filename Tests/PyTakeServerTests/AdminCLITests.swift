import Foundation
import Logging
import NIOPosix
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// `pytake-admin` as operators run it: the built binary, its output and its exit codes.
@Suite struct AdminCLITests {
    /// Next to the test bundle, where `swift test` links every executable of the package.
    static let binary: String = {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pytake-admin").path
        return FileManager.default.isExecutableFile(atPath: sibling) ? sibling : TestPostgres.packageRoot + "/.build/debug/pytake-admin"
    }()

    static func admin(_ arguments: [String], database: DatabaseURL, input: String? = nil,
                      environment: [String: String] = [:]) async throws -> (status: Int32, output: String) {
        var env = ["DATABASE_URL": database.string, "JWT_SECRET": TestApp.jwtSecret, "PYTAKE_ENCRYPTION_KEY": TestApp.encryptionKey,
                   "PYTAKE_MIGRATIONS_DIR": TestPostgres.migrationsDirectory, "LOG_LEVEL": "error"]
        env.merge(environment) { _, new in new }
        let argv = [binary] + arguments
        let finalEnvironment = env
        return try await NIOThreadPool.singleton.runIfActive {
            try Subprocess.run(argv, environment: finalEnvironment, input: input)
        }
    }

    static func withEmptyDatabase(_ body: @Sendable (DatabaseURL) async throws -> Void) async throws {
        let url = try await TestPostgres.shared.makeEmptyDatabase()
        do {
            try await body(url)
            try await TestPostgres.shared.dropDatabase(url)
        } catch {
            try? await TestPostgres.shared.dropDatabase(url)
            throw error
        }
    }

    @Test func migrateStatusAndIdempotence() async throws {
        try await Self.withEmptyDatabase { url in
            let pending = try await Self.admin(["migrate", "status"], database: url)
            #expect(pending.status == 0)
            #expect(pending.output.contains("pending   0001_core"))

            let first = try await Self.admin(["migrate"], database: url)
            #expect(first.status == 0, "\(first.output)")
            #expect(first.output.contains("applied 0001_core"))
            let second = try await Self.admin(["migrate"], database: url)
            #expect(second.status == 0)
            #expect(second.output.contains("schema is up to date"))

            let status = try await Self.admin(["migrate", "status"], database: url)
            #expect(status.output.range(of: #"applied   0001_core  \d{4}-\d\d-\d\dT"#, options: .regularExpression) != nil, "\(status.output)")
        }
    }

    @Test func editedMigrationIsRefusedWithExitCode3() async throws {
        try await Self.withEmptyDatabase { url in
            #expect(try await Self.admin(["migrate"], database: url).status == 0)
            let copy = NSTemporaryDirectory() + "pytake-edited-\(UUID().uuidString)"
            try FileManager.default.copyItem(atPath: TestPostgres.migrationsDirectory, toPath: copy)
            defer { try? FileManager.default.removeItem(atPath: copy) }
            let file = copy + "/0001_core.sql"
            try (String(contentsOfFile: file, encoding: .utf8) + "\n-- edited\n").write(toFile: file, atomically: true, encoding: .utf8)
            try "CREATE TABLE should_not_exist (id int);\n".write(toFile: copy + "/0099_next.sql", atomically: true, encoding: .utf8)

            let refused = try await Self.admin(["migrate"], database: url, environment: ["PYTAKE_MIGRATIONS_DIR": copy])
            #expect(refused.status == 3)
            #expect(refused.output.contains("0001_core was edited after it was applied"))
            #expect(refused.output.split(separator: "\n").count == 1, "one clear line: \(refused.output)")
            let status = try await Self.admin(["migrate", "status"], database: url, environment: ["PYTAKE_MIGRATIONS_DIR": copy])
            #expect(status.status == 3)
            #expect(status.output.contains("MODIFIED  0001_core"))
            #expect(status.output.contains("pending   0099_next"), "nothing was applied")
        }
    }

    @Test func twoConcurrentMigrateProcessesApplyEachFileOnce() async throws {
        try await Self.withEmptyDatabase { url in
            async let one = Self.admin(["migrate"], database: url)
            async let two = Self.admin(["migrate"], database: url)
            let results = try await [one, two]
            #expect(results.allSatisfy { $0.status == 0 }, "\(results)")
            #expect(results.filter { $0.output.contains("applied 0001_core") }.count == 1)
            let count = try await Database.withClient(url: url, logger: Logger(label: "cli-test")) { db in
                try await db.query("SELECT count(*)::int8 FROM schema_migrations", logger: Logger(label: "cli-test"))
                    .decode(Int.self).first(where: { _ in true })
            }
            let files = try FileManager.default.contentsOfDirectory(atPath: TestPostgres.migrationsDirectory).filter { $0.hasSuffix(".sql") }
            #expect(count == files.count)
        }
    }

    @Test func createsTenantsAndUsersAndReportsErrors() async throws {
        try await Self.withEmptyDatabase { url in
            let unmigrated = try await Self.admin(["tenants", "create", "--name", "Acme", "--slug", "acme"], database: url)
            #expect(unmigrated.status == 3)
            #expect(unmigrated.output.contains("pytake-admin migrate"))
            #expect(try await Self.admin(["migrate"], database: url).status == 0)

            let tenant = try await Self.admin(["tenants", "create", "--name", "Acme", "--slug", "acme", "--timezone", "America/Sao_Paulo"], database: url)
            #expect(tenant.status == 0)
            let tenantId = try #require(UUID(uuidString: tenant.output.trimmingCharacters(in: .whitespacesAndNewlines)))

            let duplicate = try await Self.admin(["tenants", "create", "--name", "Again", "--slug", "acme"], database: url)
            #expect(duplicate.status == 1)
            #expect(duplicate.output.contains("slug"))
            let badZone = try await Self.admin(["tenants", "create", "--name", "Z", "--slug", "zz", "--timezone", "Mars/Base"], database: url)
            #expect(badZone.status == 1)
            #expect(badZone.output.contains("timezone"))

            let admin = try await Self.admin(["users", "create", "--email", "ops@example.test", "--role", "platform_admin", "--password-stdin"],
                                             database: url, input: "a long operator password\n")
            #expect(admin.status == 0, "\(admin.output)")
            #expect(UUID(uuidString: admin.output.trimmingCharacters(in: .whitespacesAndNewlines)) != nil)
            let agent = try await Self.admin(["users", "create", "--email", "agent@acme.test", "--role", "agent",
                                              "--tenant", tenantId.uuidString, "--password-stdin"],
                                             database: url, input: "another long password\n")
            #expect(agent.status == 0, "\(agent.output)")
            let orphan = try await Self.admin(["users", "create", "--email", "x@acme.test", "--role", "agent", "--password-stdin"],
                                              database: url, input: "another long password\n")
            #expect(orphan.status == 1)
            let noPassword = try await Self.admin(["users", "create", "--email", "y@acme.test", "--role", "viewer", "--tenant", tenantId.uuidString],
                                                  database: url)
            #expect(noPassword.status != 0)

            let badConfig = try await Self.admin(["migrate", "status"], database: url, environment: ["HTTP_PORT": "eighty"])
            #expect(badConfig.status == 2)
            #expect(badConfig.output == "pytake-admin: configuration error: HTTP_PORT must be an integer in 0...65535, got 'eighty'\n")
            #expect(try await Self.admin(["--help"], database: url).output.contains("SUBCOMMANDS"))
        }
    }
}

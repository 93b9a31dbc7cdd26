import ArgumentParser
import Foundation
import Logging
import PostgresNIO
import PyTakeCore

/// `pytake-admin`: operator commands. Thin shells over PyTakeCore; every command reads the same
/// environment as the server (DATABASE_URL, or the embedded cluster under PYTAKE_DATA_DIR).
@main
struct PyTakeAdmin: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pytake-admin",
        abstract: "Operate a PyTake installation: schema migrations, tenants, users, providers, encryption keys.",
        subcommands: [Migrate.self, Tenants.self, Users.self, Providers.self, Keys.self]
    )
}

/// Exit codes: 0 success, 1 runtime failure, 2 configuration error, 3 refused (migrations); usage errors
/// exit with 64, as swift-argument-parser reports them.
enum AdminExit {
    static let failure: Int32 = 1
    static let configuration: Int32 = 2
    static let refused: Int32 = 3
}

struct Context {
    let settings: Settings
    let url: DatabaseURL
    let logger: Logger

    static func load() async throws -> Context {
        let settings: Settings
        do {
            settings = try Settings.fromEnvironment()
        } catch {
            throw AdminError("configuration error: \(error)", code: AdminExit.configuration)
        }
        var logger = Logger(label: "pytake-admin")
        logger.logLevel = settings.logLevel == .info ? .warning : settings.logLevel
        JSONLogHandler.bootstrap(level: logger.logLevel)
        logger = Logger(label: "pytake-admin")
        do {
            let url = try Bootstrap.databaseURL(settings: settings, logger: logger)
            if settings.databaseURL == nil {
                try await Bootstrap.ensureDatabaseExists(url, logger: logger)
            }
            try await Database.checkReachable(url, logger: logger)
            return Context(settings: settings, url: url, logger: logger)
        } catch let error as AdminError {
            throw error
        } catch {
            throw AdminError("\(error)", code: AdminExit.configuration)
        }
    }

    /// For commands that need the current schema: says so when migrations are pending. The
    /// services see rows through row-level security's scopes like the server's do (the owner role
    /// is subject to the policies too unless it is a superuser).
    func withMigratedDatabase<T: Sendable>(_ body: @escaping @Sendable (DB) async throws -> T) async throws -> T {
        let migrator = try loadMigrator(self)
        let logger = logger
        return try await withDatabase { db in
            let pending = try await migrator.status(client: db, logger: logger).filter { !$0.isApplied }
            guard pending.isEmpty else {
                throw AdminError("the database schema is not current (\(pending.map(\.name).joined(separator: ", "))): run 'pytake-admin migrate' first",
                                 code: AdminExit.refused)
            }
            return try await body(DB(db))
        }
    }

    func withDatabase<T: Sendable>(_ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        do {
            return try await Database.withClient(url: url, logger: logger, body)
        } catch let error as AppError {
            let fields = error.fieldErrors.map { "\($0.field): \($0.message)" }.joined(separator: "; ")
            throw AdminError(fields.isEmpty ? error.detail : "\(error.detail) \(fields)", code: AdminExit.failure)
        } catch let error as AdminError {
            throw error
        } catch let error as MigrationError {
            throw AdminError(error.description, code: AdminExit.refused)
        } catch {
            if Database.isUnavailable(error) {
                throw AdminError("cannot reach the database at \(url.host):\(url.port)/\(url.database)", code: AdminExit.failure)
            }
            throw AdminError(String(describing: error), code: AdminExit.failure)
        }
    }
}

struct AdminError: Error, CustomStringConvertible {
    let description: String
    let code: Int32
    init(_ description: String, code: Int32) {
        self.description = description
        self.code = code
    }
}

extension AsyncParsableCommand {
    /// Prints a failure as one line and exits with its code.
    func guarded(_ body: () async throws -> Void) async throws {
        do {
            try await body()
        } catch let error as AdminError {
            FileHandle.standardError.write(Data("pytake-admin: \(error.description)\n".utf8))
            throw ExitCode(error.code)
        }
    }
}

struct Migrate: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Apply pending migrations from the migrations directory (each in its own transaction).",
        subcommands: [Apply.self, Status.self],
        defaultSubcommand: Apply.self
    )

    struct Apply: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Apply pending migrations (the default).")
        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let migrator = try loadMigrator(context)
                let applied = try await context.withDatabase { db in try await migrator.migrate(client: db, logger: context.logger) }
                if applied.isEmpty {
                    print("schema is up to date (\(migrator.migrations.count) migrations)")
                } else {
                    for name in applied { print("applied \(name)") }
                }
            }
        }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "List applied and pending migrations.")
        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let migrator = try loadMigrator(context)
                let rows = try await context.withDatabase { db in try await migrator.status(client: db, logger: context.logger) }
                for row in rows {
                    switch row.state {
                    case .applied(let at): print("applied   \(row.name)  \(at.formatted(.iso8601))")
                    case .pending: print("pending   \(row.name)")
                    case .modified: print("MODIFIED  \(row.name)  (edited after it was applied)")
                    case .missing: print("MISSING   \(row.name)  (applied, file not found)")
                    }
                }
                if rows.contains(where: { $0.state == .modified || $0.state == .missing }) {
                    throw AdminError("migration history and files disagree", code: AdminExit.refused)
                }
            }
        }
    }
}

func loadMigrator(_ context: Context) throws -> Migrator {
    do {
        return try Migrator(directory: context.settings.migrationsDirectory)
    } catch {
        throw AdminError("\(error)", code: AdminExit.configuration)
    }
}

extension Context {
    func secretBox() throws -> SecretBox {
        do { return try Bootstrap.secretBox(settings: settings) } catch {
            throw AdminError("\(error)", code: AdminExit.configuration)
        }
    }
}

struct Keys: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Encryption keys for secrets at rest (provider tokens, app secrets, legacy tokens).",
        discussion: """
            Rotating without downtime:
              1. add the new key to PYTAKE_ENCRYPTION_OLD_KEYS on every replica (they can now read it);
              2. make it PYTAKE_ENCRYPTION_KEY and move the old key to PYTAKE_ENCRYPTION_OLD_KEYS (new writes use it);
              3. run 'pytake-admin keys rotate' with that configuration (re-seals everything, in batches);
              4. when 'keys status' shows only the new key, remove the old one.
            """,
        subcommands: [Generate.self, Status.self, Rotate.self])

    struct Generate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Print a new random key (32 bytes, base64).")
        func run() async throws { print(SecretBox.generateKey()) }
    }

    struct Status: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Count stored secrets per key id (and any still in clear).")
        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let secrets = try context.secretBox()
                let counts = try await context.withMigratedDatabase { db in
                    try await SecretRotation(db: db, logger: context.logger, secrets: secrets).status()
                }
                print("current key: \(secrets.currentKeyID)")
                for count in counts {
                    let note = count.key == secrets.currentKeyID ? "current" : (count.key == "clear" ? "NOT ENCRYPTED" : "old key")
                    print("\(count.column.padding(toLength: 36, withPad: " ", startingAt: 0)) \(count.key.padding(toLength: 10, withPad: " ", startingAt: 0)) \(count.rows)  \(note)")
                }
                if counts.isEmpty { print("no stored secrets") }
            }
        }
    }

    struct Rotate: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Re-seal every stored secret under PYTAKE_ENCRYPTION_KEY (old keys must be in PYTAKE_ENCRYPTION_OLD_KEYS).")
        @Option(help: "Rows per transaction.") var batchSize: Int = 200

        func validate() throws {
            guard (1...10_000).contains(batchSize) else { throw ValidationError("--batch-size must be 1...10000") }
        }

        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let secrets = try context.secretBox()
                let batchSize = batchSize
                let done = try await context.withMigratedDatabase { db in
                    try await SecretRotation(db: db, logger: context.logger, secrets: secrets)
                        .rotate(batchSize: batchSize) { line in print(line) }
                }
                for (column, rows) in done.sorted(by: { $0.key < $1.key }) {
                    print("\(column): \(rows) re-sealed under key \(secrets.currentKeyID)")
                }
            }
        }
    }
}

struct Providers: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "WhatsApp provider instances: moving tenants off the legacy credential columns.",
        subcommands: [MigrateLegacy.self, LegacyReport.self])

    struct MigrateLegacy: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "migrate-legacy",
            abstract: "Copy legacy credentials (clients.api_url/token/tools_config) into client_providers rows named legacy-<type>. Idempotent.")
        @Option(help: "Only this tenant (id).") var tenant: String?
        @Flag(help: "Say what would be done; change nothing.") var dryRun = false
        @Option(help: "Provider type for tenants whose whatsapp_provider is empty (meta, uazapi, lancepilot).") var typeWhenUnset: String?

        func validate() throws {
            if let tenant, UUID(uuidString: tenant) == nil { throw ValidationError("--tenant must be a UUID") }
            if let typeWhenUnset, ProviderType(rawValue: typeWhenUnset) == nil {
                throw ValidationError("--type-when-unset must be meta, uazapi or lancepilot")
            }
        }

        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let secrets = try context.secretBox()
                let (tenant, dryRun, type) = (tenant.flatMap(UUID.init(uuidString:)), dryRun, typeWhenUnset.flatMap(ProviderType.init(rawValue:)))
                let results = try await context.withMigratedDatabase { db in
                    try await LegacyProviders(db: db, logger: context.logger, secrets: secrets)
                        .migrate(tenant: tenant, dryRun: dryRun, typeWhenUnset: type)
                }
                var created = 0
                for (legacy, outcome) in results {
                    let what: String = switch outcome {
                    case .created(let id, let type): "created \(type.rawValue) provider \(id.uuidString.lowercased())"
                    case .wouldCreate(let type): "would create a \(type.rawValue) provider (dry run)"
                    case .alreadyMigrated(let type): "already migrated (\(LegacyProviders.rowName(type)) exists)"
                    case .skipped(let why): "skipped: \(why)"
                    }
                    if case .created = outcome { created += 1 }
                    print("\(legacy.slug) \(legacy.tenantId.uuidString.lowercased()): \(what)")
                }
                print("\(results.count) tenant(s) with legacy credentials, \(created) provider(s) created\(dryRun ? " (dry run: nothing changed)" : "")")
            }
        }
    }

    struct LegacyReport: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            commandName: "legacy-report",
            abstract: "List tenants that still depend on the legacy credential columns of clients.")

        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let secrets = try context.secretBox()
                let dependent = try await context.withMigratedDatabase { db in
                    try await LegacyProviders(db: db, logger: context.logger, secrets: secrets).report()
                }
                for legacy in dependent {
                    print("\(legacy.slug) \(legacy.tenantId.uuidString.lowercased()) whatsapp_provider=\(legacy.whatsappProvider?.rawValue ?? "(empty)") "
                          + "fields=\(legacy.fields.joined(separator: ",")) served-from-legacy=\(legacy.dependentTypes.map(\.rawValue).joined(separator: ","))")
                }
                print("\(dependent.count) tenant(s) still depend on legacy columns")
            }
        }
    }
}

struct Tenants: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage tenants.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(abstract: "Create a tenant and print its id.")
        @Option(help: "Display name.") var name: String
        @Option(help: "Unique slug: lowercase letters, digits, inner hyphens.") var slug: String
        @Option(help: "IANA time zone, e.g. America/Sao_Paulo.") var timezone: String = "UTC"

        func run() async throws {
            try await guarded {
                let context = try await Context.load()
                let (name, slug, timezone) = (name, slug, timezone)
                let secrets: SecretBox
                do { secrets = try Bootstrap.secretBox(settings: context.settings) } catch {
                    throw AdminError("\(error)", code: AdminExit.configuration)
                }
                let tenant = try await context.withMigratedDatabase { db in
                    try await TenantService(db: db, logger: context.logger, secrets: secrets)
                        .create(TenantInput(name: name, slug: slug, timezone: timezone), identity: nil, actor: .cli)
                }
                print(tenant.id.uuidString.lowercased())
            }
        }
    }
}

struct Users: AsyncParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Manage users.", subcommands: [Create.self])

    struct Create: AsyncParsableCommand {
        static let configuration = CommandConfiguration(
            abstract: "Create a user and print its id. The password is read from standard input.")
        @Option(help: "Email address (unique, case-insensitive).") var email: String
        @Option(help: "platform_admin, tenant_admin, agent or viewer.") var role: String
        @Option(help: "Tenant id (required for every role but platform_admin).") var tenant: String?
        @Flag(help: "Read the password (12 to 128 characters) from standard input.") var passwordStdin = false

        func validate() throws {
            guard passwordStdin else { throw ValidationError("pass --password-stdin and the password on standard input") }
            guard Role(rawValue: role) != nil else {
                throw ValidationError("--role must be one of \(Role.allCases.map(\.rawValue).joined(separator: ", "))")
            }
            if let tenant, UUID(uuidString: tenant) == nil { throw ValidationError("--tenant must be a UUID") }
        }

        func run() async throws {
            try await guarded {
                guard let line = readLine(strippingNewline: true), !line.isEmpty else {
                    throw AdminError("no password on standard input", code: AdminExit.configuration)
                }
                let context = try await Context.load()
                let (email, role, tenantId) = (email, Role(rawValue: role)!, tenant.flatMap(UUID.init(uuidString:)))
                let settings = context.settings
                let user = try await context.withMigratedDatabase { db in
                    let hasher = PasswordHasher(parameters: settings.argon2, concurrency: 1)
                    return try await UserService(db: db, logger: context.logger, hasher: hasher)
                        .create(email: email, password: line, role: role, tenantId: tenantId, identity: nil, actor: .cli)
                }
                print(user.id.uuidString.lowercased())
            }
        }
    }
}

import ArgumentParser
import Foundation
import Hummingbird
import Logging
import PostgresNIO
import PyTakeCore
import ServiceLifecycle

/// `pytake-scheduler`: periodic jobs (daily metrics, follow-ups). Run as many replicas as you like
/// against one database; each run happens once. Configuration comes from the same environment as
/// the server.
@main
struct PyTakeScheduler: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "pytake-scheduler",
        abstract: "Run PyTake's periodic jobs (metrics, followup) until stopped, or one job once.",
        discussion: """
            Without --once it runs every job on its interval (SCHEDULER_METRICS_INTERVAL_SECONDS, \
            SCHEDULER_FOLLOWUP_INTERVAL_SECONDS) until SIGTERM or SIGINT. Exit codes: 0 done, 1 the run \
            failed, 2 configuration error, 3 the database schema is not current, 64 usage error.
            """
    )

    @Option(name: .long, help: "Run this job once now and exit: metrics or followup.")
    var once: String?

    @Flag(name: .long, help: "With --once metrics: recompute every day from all events instead of only new ones.")
    var rebuild = false

    @Flag(name: .long, help: "With --once followup: find and count the conversations due a follow-up, send nothing.")
    var dryRun = false

    @Option(name: .long, help: "With --rebuild: only this tenant's days.")
    var tenant: String?

    @Option(name: .long, help: "With --once: how long to wait for a run of the same job in progress elsewhere (seconds).")
    var wait: Int = 120

    func validate() throws {
        if let once, !["metrics", "followup"].contains(once) {
            throw ValidationError("--once takes metrics or followup, got '\(once)'")
        }
        if rebuild && once != "metrics" { throw ValidationError("--rebuild goes with --once metrics") }
        if dryRun && once != "followup" { throw ValidationError("--dry-run goes with --once followup") }
        if tenant != nil && !rebuild { throw ValidationError("--tenant goes with --rebuild") }
        if let tenant, UUID(uuidString: tenant) == nil { throw ValidationError("--tenant must be a tenant id (UUID), got '\(tenant)'") }
        if wait < 0 || wait > 86_400 { throw ValidationError("--wait must be 0 to 86400 seconds") }
    }

    func run() async throws {
        let settings: Settings
        do {
            settings = try Settings.fromEnvironment()
        } catch {
            Self.fail("configuration error: \(error)", code: 2)
        }
        JSONLogHandler.bootstrap(level: settings.logLevel)
        let logger = Logger(label: "pytake-scheduler")
        var url: DatabaseURL
        let secrets: SecretBox
        do {
            url = try Bootstrap.databaseURL(settings: settings, logger: logger)
            secrets = try Bootstrap.secretBox(settings: settings)
            if settings.databaseURL == nil { try await Bootstrap.ensureDatabaseExists(url, logger: logger) }
            try await Database.checkReachable(url, logger: logger)
            let migrator = try Migrator(directory: settings.migrationsDirectory)
            let pending = try await Database.withClient(url: url, logger: logger) { db in
                try await migrator.status(client: db, logger: logger).filter { !$0.isApplied }.map(\.name)
            }
            if !pending.isEmpty {
                Self.fail("the database schema is not current (\(pending.joined(separator: ", "))): run 'pytake-admin migrate' first", code: 3)
            }
            // Row-level security applies to the role that runs jobs: never a superuser or BYPASSRLS role.
            url = try await Bootstrap.applicationDatabaseURL(settings: settings, ownerURL: url, logger: logger)
            try await Database.withClient(url: url, poolSize: 1, logger: logger) { db in
                try await DatabaseRole.requireSubjectToRowSecurity(db, logger: logger)
            }
        } catch {
            Self.fail("\(error)", code: 2)
        }

        if let once {
            let options = JobOptions(rebuild: rebuild, tenantId: tenant.flatMap(UUID.init(uuidString:)), dryRun: dryRun)
            let wait = wait
            let result: Result<(runId: Int64, status: String, counts: [String: Int], error: String?), any Error>
            do {
                result = .success(try await Database.withClient(url: url, poolSize: 4, logger: logger) { client in
                    let db = DB(client)
                    if let tenantId = options.tenantId {
                        let rows = try await db.tenant(tenantId).query("SELECT 1 FROM clients WHERE id = \(tenantId)", logger: logger)
                        guard try await rows.decode(Int.self).first(where: { _ in true }) != nil else {
                            throw ConfigurationError("no tenant has the id \(tenantId.uuidString.lowercased())")
                        }
                    }
                    let services = SchedulerServices(settings: settings, db: db, secrets: secrets, logger: logger)
                    do {
                        let run = try await services.runner.runOnce(services.job(named: once)!, options: options, wait: .seconds(wait))
                        await services.shutdown()
                        return run
                    } catch {
                        await services.shutdown()
                        throw error
                    }
                })
            } catch {
                result = .failure(error)
            }
            switch result {
            case .success(let run):
                let counts = run.counts.sorted { $0.key < $1.key }.map { "\"\($0.key)\":\($0.value)" }.joined(separator: ",")
                FileHandle.standardOutput.write(Data(#"{"job":"\#(once)","run_id":\#(run.runId),"status":"\#(run.status)","counts":{\#(counts)}}\#n"#.utf8))
                if run.status != "succeeded" { Self.fail("the \(once) run \(run.status): \(run.error ?? "")", code: 1) }
            case .failure(let error as ConfigurationError):
                Self.fail(error.description, code: 2)
            case .failure(let error):
                Self.fail(Database.describe(error), code: 1)
            }
            return
        }

        let db = Database.makeClient(url: url, poolSize: min(settings.databasePoolSize, settings.scheduler.followUpConcurrency + 4), logger: logger)
        let services = SchedulerServices(settings: settings, db: DB(db), secrets: secrets, logger: logger)
        var extra: [any Service] = []
        if settings.scheduler.httpPort > 0 {
            extra.append(Self.healthServer(port: settings.scheduler.httpPort, host: settings.httpHost, db: db,
                                           metricsToken: settings.metricsToken, logger: logger))
        }
        let group = ServiceGroup(configuration: .init(
            services: [.init(service: db)] + (services.services + extra).map { .init(service: $0) },
            gracefulShutdownSignals: [.sigterm, .sigint],
            logger: logger))
        do {
            try await group.run()
        } catch {
            Self.fail(Database.describe(error), code: 1)
        }
    }

    /// `/healthz` (the process runs), `/readyz` (the database answers within 3 s) and `/metrics`
    /// (job runs, outbound sends, breakers, pool) for probes and Prometheus.
    static func healthServer(port: Int, host: String, db: PostgresClient, metricsToken: String?, logger: Logger) -> some Service {
        let router = Router()
        router.get("/healthz") { _, _ in
            Response(status: .ok, headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: #"{"status":"ok"}"#)))
        }
        router.get("/readyz") { _, _ in
            // withTimeout answers at the limit even while the statement is still waiting.
            let ready = (try? await withTimeout(.seconds(3), onTimeout: AppError.databaseUnavailable) {
                try await DB(db).unscoped.query("SELECT 1", logger: logger)
            }) != nil
            return Response(status: ready ? .ok : .serviceUnavailable, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: ready ? #"{"status":"ok"}"# : #"{"status":"database_unavailable"}"#)))
        }
        router.get("/metrics") { request, _ in
            if let metricsToken {
                let header = request.headers[.authorization] ?? ""
                guard header == "Bearer \(metricsToken)" else { return Response(status: .unauthorized) }
            }
            return Response(status: .ok, headers: [.contentType: "text/plain; version=0.0.4; charset=utf-8"],
                            body: .init(byteBuffer: ByteBuffer(bytes: Telemetry.render())))
        }
        return Application(router: router, configuration: .init(address: .hostname(host, port: port), serverName: "pytake-scheduler"), logger: logger)
    }

    static func fail(_ message: String, code: Int32) -> Never {
        FileHandle.standardError.write(Data("pytake-scheduler: \(message)\n".utf8))
        Foundation.exit(code)
    }
}

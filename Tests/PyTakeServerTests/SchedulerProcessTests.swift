import Foundation
#if canImport(FoundationNetworking)
import FoundationNetworking
#endif
import NIOPosix
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// `pytake-scheduler` as operators run it: separate processes on one database, one of them killed
/// with SIGKILL in the middle of a run.
@Suite struct SchedulerProcessTests {
    static let binary: String = {
        let sibling = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("pytake-scheduler").path
        return FileManager.default.isExecutableFile(atPath: sibling) ? sibling : TestPostgres.packageRoot + "/.build/debug/pytake-scheduler"
    }()

    static func environment(_ database: DatabaseURL, _ fake: FakeProviderServer, _ extra: [String: String]) -> [String: String] {
        var env = ProviderSendTests.overrides(fake, ["PROVIDER_RETRY_ATTEMPTS": "1"]).merging([
            "DATABASE_URL": TestPostgres.appURL(database).string, "JWT_SECRET": TestApp.jwtSecret, "PYTAKE_ENCRYPTION_KEY": TestApp.encryptionKey,
            "PYTAKE_MIGRATIONS_DIR": TestPostgres.migrationsDirectory, "LOG_LEVEL": "warning",
            "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin",
        ]) { _, new in new }
        env.merge(extra) { _, new in new }
        return env
    }

    /// Starts a scheduler process; its output goes to a file (a full pipe would block it).
    static func start(_ environment: [String: String], arguments: [String] = [], log: String) throws -> Process {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = arguments
        process.environment = environment
        FileManager.default.createFile(atPath: log, contents: nil)
        let handle = try FileHandle(forWritingTo: URL(fileURLWithPath: log))
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        return process
    }

    @Test func killedMidRunIsTakenOverWithoutSendingTwice() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        // A slow provider: a run of 24 follow-ups one at a time takes about 7 seconds.
        fake.setDefault(FollowUpTests.messagesPath, .metaSentAfter(milliseconds: 300))
        let url = try await TestPostgres.shared.makeDatabase()
        let logs = NSTemporaryDirectory() + "pytake-scheduler-\(UUID().uuidString.prefix(8))"
        try FileManager.default.createDirectory(atPath: logs, withIntermediateDirectories: true)
        try await TestApp.run(overrides: ProviderSendTests.overrides(fake, MetaWebhookTests.overrides), database: url) { app, client in
            let f = try await Fixture.make(app)
            _ = try await MetaWebhookTests.metaProvider(app, tenant: f.tenantA.id, number: MetaWebhookTests.numberA)
            let env = FollowUpTests.Env(fake: fake, app: app, client: client, f: f)
            try await env.policy(f.a, ["enabled": true, "after_hours": 1])
            for i in 0..<24 {
                try await env.conversation(f.tenantA.id, waId: "55119600000\(String(format: "%02d", i))", inboundHoursAgo: 3, outboundHoursAgo: 2)
            }
            let environment = Self.environment(url, fake, [
                "SCHEDULER_LEASE_SECONDS": "3", "SCHEDULER_POLL_SECONDS": "1", "SCHEDULER_FOLLOWUP_CONCURRENCY": "1",
                "SCHEDULER_FOLLOWUP_INTERVAL_SECONDS": "3600", "SCHEDULER_METRICS_INTERVAL_SECONDS": "3600",
            ])
            let first = try Self.start(environment, log: logs + "/first.log")
            let midRun = try await TestApp.eventually(timeout: .seconds(60)) { fake.requests(to: FollowUpTests.messagesPath).count >= 5 }
            #expect(midRun, "the first scheduler never started sending")
            kill(first.processIdentifier, SIGKILL)
            first.waitUntilExit()
            let sentBeforeKill = fake.requests(to: FollowUpTests.messagesPath).count
            #expect(sentBeforeKill < 24, "the run ended before the kill; the test proves nothing")

            // Two more replicas: one of them takes the run over once the lease (3 s) has expired.
            let second = try Self.start(environment, log: logs + "/second.log")
            let third = try Self.start(environment, log: logs + "/third.log")
            defer {
                for process in [second, third] where process.isRunning { kill(process.processIdentifier, SIGKILL) }
            }
            let done = try await TestApp.eventually(timeout: .seconds(60)) {
                try await app.scalar("SELECT count(*)::int8 FROM job_runs WHERE job = 'followup' AND takeover_of IS NOT NULL AND status = 'succeeded'") == 1
            }
            let output = (try? String(contentsOfFile: logs + "/second.log", encoding: .utf8) ?? "") ?? ""
            #expect(done, "no replica took the run over: \(output)")

            // Every customer got at most one follow-up; all but the one in flight at the kill were confirmed.
            let perRecipient = Dictionary(grouping: fake.requests(to: FollowUpTests.messagesPath).map { $0.json["to"] as? String ?? "?" }) { $0 }
                .mapValues(\.count)
            #expect(perRecipient.values.allSatisfy { $0 == 1 }, "\(perRecipient)")
            let sent = try await app.scalar("SELECT count(*)::int8 FROM followups WHERE status = 'sent'")
            let unknown = try await app.scalar("SELECT count(*)::int8 FROM followups WHERE status = 'unknown'")
            #expect(sent + unknown == 24 && unknown <= 1, "sent \(sent), unknown \(unknown)")
            #expect(try await app.scalar("SELECT count(*)::int8 FROM job_runs WHERE job = 'followup' AND status = 'abandoned'") == 1)
            #expect(try await app.scalar("""
                SELECT count(*)::int8 FROM job_runs t JOIN job_runs a ON a.id = t.takeover_of
                WHERE a.status = 'abandoned' AND a.scheduled_for = t.scheduled_for AND a.owner <> t.owner
                """) == 1)

            // SIGTERM: both replicas stop cleanly.
            for process in [second, third] { kill(process.processIdentifier, SIGTERM) }
            for process in [second, third] { process.waitUntilExit() }
            #expect(second.terminationStatus == 0 && third.terminationStatus == 0)

            // The metrics count each follow-up once, whichever replica ran what.
            let metrics = try await AdminCLITests.runScheduler(["--once", "metrics"], environment: environment)
            #expect(metrics.status == 0, "\(metrics.output)")
            #expect(metrics.output.contains(#""status":"succeeded""#), "\(metrics.output)")
            #expect(try await app.scalar("SELECT coalesce(sum(followups_sent), 0)::int8 FROM metrics_daily") == sent)
        }
        try? FileManager.default.removeItem(atPath: logs)
        try await TestPostgres.shared.dropDatabase(url)
    }

    @Test func onceValidatesItsArguments() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let url = try await TestPostgres.shared.makeDatabase()
        let environment = Self.environment(url, fake, [:])
        let unknown = try await AdminCLITests.runScheduler(["--once", "nightly"], environment: environment)
        #expect(unknown.status == 64 && unknown.output.contains("--once takes metrics or followup"), "\(unknown.output)")
        let tenant = try await AdminCLITests.runScheduler(["--once", "metrics", "--rebuild", "--tenant", UUID().uuidString], environment: environment)
        #expect(tenant.status == 2 && tenant.output.contains("no tenant has the id"), "\(tenant.output)")
        let followup = try await AdminCLITests.runScheduler(["--once", "followup"], environment: environment)
        #expect(followup.status == 0 && followup.output.contains(#""job":"followup""#), "\(followup.output)")
        try await TestPostgres.shared.dropDatabase(url)
    }
    @Test func healthPortServesProbesAndMetrics() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let url = try await TestPostgres.shared.makeDatabase()
        let log = NSTemporaryDirectory() + "pytake-scheduler-health-\(UUID().uuidString.prefix(8)).log"
        let port = Int.random(in: 30_000...59_000)
        let process = try Self.start(Self.environment(url, fake, [
            "SCHEDULER_HTTP_PORT": "\(port)", "SCHEDULER_METRICS_INTERVAL_SECONDS": "1", "SCHEDULER_POLL_SECONDS": "1",
        ]), log: log)
        defer { if process.isRunning { process.terminate() } }
        func get(_ path: String) async -> (Int, String) {
            guard let (data, response) = try? await URLSession.shared.data(from: URL(string: "http://127.0.0.1:\(port)\(path)")!) else { return (0, "") }
            return ((response as? HTTPURLResponse)?.statusCode ?? 0, String(decoding: data, as: UTF8.self))
        }
        var export = ""
        for _ in 0..<100 {
            let (status, text) = await get("/metrics")
            if status == 200, text.contains(#"pytake_job_runs_total{job="metrics",status="succeeded"}"#) { export = text; break }
            try await Task.sleep(for: .milliseconds(100))
        }
        #expect(!export.isEmpty, "no succeeded metrics run in the scheduler's export; log: \((try? String(contentsOfFile: log, encoding: .utf8)) ?? "")")
        #expect(export.contains("pytake_job_run_duration_seconds_bucket"))
        #expect(await get("/healthz").0 == 200)
        #expect(await get("/readyz").0 == 200)
        process.terminate()
        process.waitUntilExit()
        #expect(process.terminationStatus == 0)
        try await TestPostgres.shared.dropDatabase(url)
    }

}

extension AdminCLITests {
    static func runScheduler(_ arguments: [String], environment: [String: String]) async throws -> (status: Int32, output: String) {
        let argv = [SchedulerProcessTests.binary] + arguments
        return try await NIOThreadPool.singleton.runIfActive { try Subprocess.run(argv, environment: environment) }
    }
}

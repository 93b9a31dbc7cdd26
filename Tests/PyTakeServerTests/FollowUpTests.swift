import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
@testable import PyTakeCore
import PyTakeTestSupport
import ServiceLifecycle
import Testing

/// The follow-up job against real Postgres and a loopback Graph API: every policy rule, retries,
/// interrupted sends, and several schedulers at once.
@Suite struct FollowUpTests {
    typealias W = MetaWebhookTests
    static let messagesPath = "/v22.0/\(W.numberA)/messages"

    struct Env: Sendable {
        let fake: FakeProviderServer
        let app: TestApp
        let client: any TestClientProtocol
        let f: Fixture

        func scheduler() throws -> SchedulerServices {
            var logger = Logger(label: "scheduler-test")
            logger.logLevel = .warning
            return SchedulerServices(settings: app.services.settings, db: app.services.db,
                                     secrets: try Bootstrap.secretBox(settings: app.services.settings), logger: logger)
        }

        @discardableResult
        func runOnce(_ job: String, _ options: JobOptions = JobOptions()) async throws -> [String: Int] {
            let services = try scheduler()
            let run = try await services.runner.runOnce(services.job(named: job)!, options: options, wait: .seconds(30))
            await services.shutdown()
            #expect(run.status == "succeeded", "\(run.error ?? "")")
            return run.counts
        }

        func policy(_ tenant: String, _ followup: [String: Any]) async throws {
            let response = try await client.call(.patch, "/api/v1/tenants/\(tenant)", token: f.token(.platformAdmin),
                                                 json: ["tools_config": ["followup": followup]])
            #expect(response.status == .ok, "\(response.text)")
        }

        /// A conversation whose customer last wrote `inboundHoursAgo` and the tenant `outboundHoursAgo`.
        @discardableResult
        func conversation(_ tenant: UUID, waId: String, inboundHoursAgo: Double, outboundHoursAgo: Double?, paused: Bool = false,
                          closed: Bool = false, name: String = "Maria") async throws -> UUID {
            let rows = try await app.db.query("""
                WITH c AS (
                    INSERT INTO customers (tenant_id, wa_id, profile_name) VALUES (\(tenant), \(waId), \(name)) RETURNING id
                )
                INSERT INTO active_conversations (tenant_id, customer_id, status, bot_paused, last_inbound_at, last_outbound_at,
                                                  last_message_at, closed_at)
                SELECT \(tenant), id, \(closed ? "closed" : "open"), \(paused), now() - make_interval(secs => \(inboundHoursAgo * 3600)),
                       now() - make_interval(secs => \(outboundHoursAgo.map { $0 * 3600 })), now(), CASE WHEN \(closed) THEN now() END
                FROM c RETURNING id
                """, logger: app.services.logger)
            return try #require(try await rows.decode(UUID.self).first { _ in true })
        }

        /// Moves the tenant's last message back in time, as if `hours` had passed.
        func age(_ conversation: UUID, hours: Double) async throws {
            try await app.db.query("""
                UPDATE active_conversations SET last_outbound_at = last_outbound_at - make_interval(secs => \(hours * 3600)),
                                                last_inbound_at = last_inbound_at - make_interval(secs => \(hours * 3600))
                WHERE id = \(conversation)
                """, logger: app.services.logger)
        }

        /// Requests the fake Graph API received, per recipient.
        var sentTo: [String: [[String: Any]]] {
            Dictionary(grouping: fake.requests(to: FollowUpTests.messagesPath).map(\.json)) { $0["to"] as? String ?? "?" }
        }
    }

    static func withEnv(_ extra: [String: String] = [:], _ body: @Sendable (Env) async throws -> Void) async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        fake.setDefault(messagesPath, .metaSent)
        try await TestApp.run(overrides: ProviderSendTests.overrides(fake, W.overrides).merging(extra) { _, new in new }) { app, client in
            let f = try await Fixture.make(app)
            _ = try await W.metaProvider(app, tenant: f.tenantA.id, number: W.numberA)
            try await body(Env(fake: fake, app: app, client: client, f: f))
        }
    }

    @Test func everyPolicyRule() async throws {
        try await Self.withEnv { env in
            let a = env.f.tenantA.id
            try await env.policy(env.f.a, [
                "enabled": true, "after_hours": 1, "max_attempts": 2, "message": "Oi {{customer_name}}, tudo bem? ({{attempt}})",
                "template": ["name": "followup_reminder", "language": "pt_BR"],
            ])
            let warm = try await env.conversation(a, waId: "5511900000001", inboundHoursAgo: 3, outboundHoursAgo: 2)
            try await env.conversation(a, waId: "5511900000002", inboundHoursAgo: 1, outboundHoursAgo: 2)  // customer answered
            try await env.conversation(a, waId: "5511900000003", inboundHoursAgo: 3, outboundHoursAgo: 2, paused: true)
            try await env.conversation(a, waId: "5511900000004", inboundHoursAgo: 3, outboundHoursAgo: 2, closed: true)
            try await env.conversation(a, waId: "5511900000005", inboundHoursAgo: 3, outboundHoursAgo: 0.2)  // too recent
            try await env.conversation(a, waId: "5511900000006", inboundHoursAgo: 30, outboundHoursAgo: 26)  // outside 24 h
            try await env.conversation(a, waId: "5511900000007", inboundHoursAgo: 3, outboundHoursAgo: nil)  // tenant never wrote
            // Tenant B has no policy (disabled by default).
            try await env.conversation(env.f.tenantB.id, waId: "5511900000008", inboundHoursAgo: 3, outboundHoursAgo: 2)

            let first = try await env.runOnce("followup")
            #expect(first["sent"] == 2 && first["candidates"] == 2, "\(first)")
            var sent = env.sentTo
            #expect(Set(sent.keys) == ["5511900000001", "5511900000006"], "\(sent.keys)")
            #expect((sent["5511900000001"]?.first?["text"] as? [String: Any])?["body"] as? String == "Oi Maria, tudo bem? (1)")
            let template = sent["5511900000006"]?.first?["template"] as? [String: Any]
            #expect(sent["5511900000006"]?.first?["type"] as? String == "template")
            #expect(template?["name"] as? String == "followup_reminder")
            #expect((template?["language"] as? [String: Any])?["code"] as? String == "pt_BR")
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM conversation_events WHERE type = 'followup_sent'") == 2)
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM chat_messages m JOIN followups f ON f.message_id = m.id
                WHERE m.status = 'sent' AND m.provider_message_id LIKE 'wamid.fake-%' AND f.status = 'sent'
                """) == 2)

            // Nothing new right away: the follow-up itself is now the tenant's last message.
            #expect(try await env.runOnce("followup")["sent", default: 0] == 0)
            #expect(env.fake.requests(to: Self.messagesPath).count == 2)

            // After another silence: attempt 2; after that, max_attempts (2) stops it.
            try await env.age(warm, hours: 2)
            #expect(try await env.runOnce("followup")["sent"] == 1)
            #expect((env.sentTo["5511900000001"]?.last?["text"] as? [String: Any])?["body"] as? String == "Oi Maria, tudo bem? (2)")
            try await env.age(warm, hours: 2)
            #expect(try await env.runOnce("followup")["sent", default: 0] == 0)
            #expect(env.sentTo["5511900000001"]?.count == 2)

            // The customer answers (after both follow-ups), the bot replies, silence again: the count starts over.
            try await env.app.db.query("UPDATE followups SET created_at = created_at - interval '5 hours' WHERE conversation_id = \(warm)", logger: env.app.services.logger)
            try await env.app.db.query("UPDATE active_conversations SET last_inbound_at = now() - interval '3 hours', last_outbound_at = now() - interval '2 hours' WHERE id = \(warm)", logger: env.app.services.logger)
            #expect(try await env.runOnce("followup")["sent"] == 1)
            #expect(env.sentTo["5511900000001"]?.count == 3)
            #expect(try await env.app.scalar("SELECT max(attempt)::int8 FROM followups WHERE conversation_id = '\(warm)'") == 3)

            // Quiet hours around the tenant's current local time: nothing goes out.
            let minute = try await env.app.scalar("""
                SELECT (extract(hour FROM now() AT TIME ZONE timezone) * 60 + extract(minute FROM now() AT TIME ZONE timezone))::int8
                FROM clients WHERE id = '\(a)'
                """)
            func hhmm(_ m: Int) -> String { String(format: "%02d:%02d", ((m % 1440) + 1440) % 1440 / 60, ((m % 1440) + 1440) % 1440 % 60) }
            let quietWarm = try await env.conversation(a, waId: "5511900000009", inboundHoursAgo: 3, outboundHoursAgo: 2)
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1, "max_attempts": 2,
                                           "quiet_hours": ["start": hhmm(minute - 30), "end": hhmm(minute + 60)]])
            let quiet = try await env.runOnce("followup")
            #expect(quiet["tenants_quiet"] == 1 && quiet["sent", default: 0] == 0, "\(quiet)")

            // Outside the window without a template: skipped, nothing recorded.
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1, "max_attempts": 2])
            try await env.age(quietWarm, hours: 30)
            let noTemplate = try await env.runOnce("followup")
            #expect(noTemplate["skipped_window"] == 1, "\(noTemplate)")
            #expect(env.sentTo["5511900000009"] == nil)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups WHERE conversation_id = '\(quietWarm)'") == 0)

            // Disabled: not even looked at.
            try await env.policy(env.f.a, ["enabled": false, "after_hours": 1])
            let disabled = try await env.runOnce("followup")
            #expect(disabled["tenants_enabled"] == 0 && disabled["candidates", default: 0] == 0, "\(disabled)")
        }
    }

    /// SCHEDULER_FOLLOWUP_BATCH bounds a run; the longest silences go first, the rest next run.
    @Test func aRunTakesTheLongestSilencesFirst() async throws {
        try await Self.withEnv(["SCHEDULER_FOLLOWUP_BATCH": "2"]) { env in
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1])
            try await env.conversation(env.f.tenantA.id, waId: "5511900000031", inboundHoursAgo: 4, outboundHoursAgo: 3)
            try await env.conversation(env.f.tenantA.id, waId: "5511900000032", inboundHoursAgo: 9, outboundHoursAgo: 8)
            try await env.conversation(env.f.tenantA.id, waId: "5511900000033", inboundHoursAgo: 6, outboundHoursAgo: 5)
            let first = try await env.runOnce("followup")
            #expect(first["candidates"] == 3 && first["sent"] == 2 && first["deferred"] == 1, "\(first)")
            #expect(Set(env.sentTo.keys) == ["5511900000032", "5511900000033"])
            let dry = try await env.runOnce("followup", JobOptions(dryRun: true))
            #expect(dry["candidates"] == 1 && dry["sent"] == nil, "\(dry)")
            #expect(env.fake.requests(to: Self.messagesPath).count == 2)
            #expect(try await env.runOnce("followup")["sent"] == 1)
            #expect(Set(env.sentTo.keys).count == 3)
        }
    }

    /// A run can take minutes after its scan: a customer who writes in the meantime, or an agent
    /// who takes over, gets no follow-up.
    @Test func conversationThatChangedSinceTheScanIsNotFollowedUp() async throws {
        try await Self.withEnv { env in
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1])
            let answered = try await env.conversation(env.f.tenantA.id, waId: "5511900000041", inboundHoursAgo: 3, outboundHoursAgo: 2)
            let takenOver = try await env.conversation(env.f.tenantA.id, waId: "5511900000042", inboundHoursAgo: 3, outboundHoursAgo: 2)
            let services = try env.scheduler()
            let job = try #require(services.job(named: "followup") as? FollowUpJob)
            let (policies, _) = try await job.activePolicies(logger: env.app.services.logger)
            let scan = try await job.candidates(policies, logger: env.app.services.logger)
            #expect(scan.total == 2)
            try await env.app.db.query("UPDATE active_conversations SET last_inbound_at = now() WHERE id = \(answered)", logger: env.app.services.logger)
            try await env.app.db.query("UPDATE active_conversations SET bot_paused = true WHERE id = \(takenOver)", logger: env.app.services.logger)
            for candidate in scan.due {
                let claim = try await job.claim(candidate, afterSeconds: 3600, kind: "text", body: "Oi", payload: "{}", runId: 1,
                                                logger: env.app.services.logger)
                #expect(claim == .noLongerDue)
            }
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups") == 0)
            await services.shutdown()
        }
    }

    @Test func policyIsValidated() async throws {
        try await Self.withEnv { env in
            let response = try await env.client.call(.patch, "/api/v1/tenants/\(env.f.a)", token: env.f.token(.adminA), json: [
                "tools_config": ["followup": ["enabled": "yes", "after_hours": 0, "max_attempts": 11, "message": " ",
                                              "quiet_hours": ["start": "25:00", "end": "08:00"], "template": ["language": "pt_BR"]]],
            ])
            #expect(response.status == .unprocessableContent, "\(response.text)")
            let fields = Set(((response.json["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["tools_config.followup.enabled", "tools_config.followup.after_hours", "tools_config.followup.max_attempts",
                               "tools_config.followup.message", "tools_config.followup.quiet_hours", "tools_config.followup.template"],
                    "\(response.text)")
        }
    }

    @Test func failedSendIsRetriedWithItsErrorKept() async throws {
        try await Self.withEnv(["PROVIDER_RETRY_ATTEMPTS": "1", "SCHEDULER_FOLLOWUP_MAX_TRIES": "2"]) { env in
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1])
            let conversation = try await env.conversation(env.f.tenantA.id, waId: "5511900000011", inboundHoursAgo: 3, outboundHoursAgo: 2)
            env.fake.enqueue(Self.messagesPath, .json(400, #"{"error":{"message":"(#131000) Something went wrong","code":131000}}"#))
            let first = try await env.runOnce("followup")
            #expect(first["failed"] == 1, "\(first)")
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups WHERE status = 'failed' AND error LIKE '%went wrong%' AND tries = 1") == 1)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE direction = 'outbound' AND status = 'failed'") == 1)

            let second = try await env.runOnce("followup")
            #expect(second["sent"] == 1, "\(second)")
            // The same attempt and message, now sent.
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM followups f JOIN chat_messages m ON m.id = f.message_id
                WHERE f.conversation_id = '\(conversation)' AND f.attempt = 1 AND f.tries = 2 AND f.status = 'sent' AND m.status = 'sent'
                """) == 1)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups") == 1)

            // An attempt that fails every try is given up (and counts as an attempt).
            let other = try await env.conversation(env.f.tenantA.id, waId: "5511900000012", inboundHoursAgo: 3, outboundHoursAgo: 2)
            env.fake.enqueue(Self.messagesPath, .json(400, #"{"error":{"message":"nope","code":100}}"#),
                             .json(400, #"{"error":{"message":"nope","code":100}}"#))
            #expect(try await env.runOnce("followup")["failed"] == 1)
            #expect(try await env.runOnce("followup")["failed"] == 1)
            #expect(try await env.runOnce("followup")["sent", default: 0] == 0)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups WHERE conversation_id = '\(other)' AND status = 'failed' AND tries = 2") == 1)
        }
    }

    @Test func sendInterruptedByACrashIsNeverRepeated() async throws {
        try await Self.withEnv { env in
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1])
            let conversation = try await env.conversation(env.f.tenantA.id, waId: "5511900000021", inboundHoursAgo: 3, outboundHoursAgo: 2)
            // What a scheduler killed between recording and confirming a send leaves behind.
            try await env.app.db.query("""
                WITH run AS (
                    INSERT INTO job_runs (job, scheduled_for, trigger, status, owner, finished_at, error)
                    VALUES ('followup', now() - interval '1 minute', 'schedule', 'abandoned', 'dead:1:x', now(), 'lease expired') RETURNING id
                ),
                msg AS (
                    INSERT INTO chat_messages (tenant_id, conversation_id, customer_id, direction, type, body, status, occurred_at)
                    SELECT tenant_id, id, customer_id, 'outbound', 'text', 'Oi', 'pending', now() FROM active_conversations WHERE id = \(conversation)
                    RETURNING id, tenant_id, conversation_id
                )
                INSERT INTO followups (tenant_id, conversation_id, attempt, message_id, kind, status, run_id)
                SELECT msg.tenant_id, msg.conversation_id, 1, msg.id, 'text', 'pending', run.id FROM msg, run
                """, logger: env.app.services.logger)
            let counts = try await env.runOnce("followup")
            #expect(counts["interrupted_marked_unknown"] == 1, "\(counts)")
            #expect(env.fake.requests(to: Self.messagesPath).isEmpty)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups WHERE status = 'unknown'") == 1)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE status = 'failed' AND error_code = 'interrupted'") == 1)
        }
    }

    /// An operator's `--once` while a dead replica's run still holds the schedule: that run's slot
    /// is finished first (as a takeover), then the run asked for.
    @Test func onceFinishesADeadReplicasRunFirst() async throws {
        try await Self.withEnv(["SCHEDULER_LEASE_SECONDS": "2"]) { env in
            try await env.runOnce("followup")
            try await env.app.db.query("""
                WITH dead AS (
                    INSERT INTO job_runs (job, scheduled_for, trigger, status, owner, started_at)
                    VALUES ('followup', now() - interval '1 minute', 'schedule', 'running', 'gone:1:dead', now() - interval '1 minute')
                    RETURNING id
                )
                UPDATE job_schedule SET run_id = (SELECT id FROM dead), lease_owner = 'gone:1:dead', lease_until = now() - interval '1 second'
                WHERE job = 'followup'
                """, logger: env.app.services.logger)
            try await env.runOnce("followup")
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM job_runs WHERE owner = 'gone:1:dead' AND status = 'abandoned'") == 1)
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM job_runs t JOIN job_runs d ON d.id = t.takeover_of
                WHERE d.owner = 'gone:1:dead' AND t.status = 'succeeded' AND t.trigger = 'schedule' AND t.scheduled_for = d.scheduled_for
                """) == 1)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM job_runs WHERE trigger = 'manual' AND status = 'succeeded'") == 2)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM job_schedule WHERE run_id IS NOT NULL OR lease_until IS NOT NULL") == 0)
        }
    }

    /// Three schedulers on one database for a few seconds, one-second intervals: every slot runs
    /// once, and every warm conversation gets exactly one follow-up.
    @Test func threeSchedulersRunEachSlotOnce() async throws {
        try await Self.withEnv([
            "SCHEDULER_FOLLOWUP_INTERVAL_SECONDS": "1", "SCHEDULER_METRICS_INTERVAL_SECONDS": "1", "SCHEDULER_POLL_SECONDS": "1",
            "SCHEDULER_LEASE_SECONDS": "10",
        ]) { env in
            try await env.policy(env.f.a, ["enabled": true, "after_hours": 1, "max_attempts": 3])
            for i in 0..<30 {
                try await env.conversation(env.f.tenantA.id, waId: "55119100000\(String(format: "%02d", i))", inboundHoursAgo: 3, outboundHoursAgo: 2)
            }
            let schedulers = try (0..<3).map { _ in try env.scheduler() }
            var logger = Logger(label: "schedulers")
            logger.logLevel = .warning
            let group = ServiceGroup(configuration: .init(services: schedulers.flatMap(\.services).map { .init(service: $0) },
                                                          gracefulShutdownSignals: [], logger: logger))
            let running = Task { try await group.run() }
            _ = try await TestApp.eventually(timeout: .seconds(30)) {
                try await env.app.scalar("SELECT count(DISTINCT scheduled_for)::int8 FROM job_runs WHERE job = 'metrics' AND status = 'succeeded'") >= 4
                    && env.fake.requests(to: Self.messagesPath).count >= 30
            }
            try await Task.sleep(for: .seconds(2))
            await group.triggerGracefulShutdown()
            try await running.value

            let perRecipient = env.sentTo.mapValues(\.count)
            #expect(perRecipient.count == 30 && perRecipient.values.allSatisfy { $0 == 1 }, "\(perRecipient)")
            // Every slot has exactly one run, and none failed or was left running.
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM (SELECT job, scheduled_for FROM job_runs GROUP BY 1, 2 HAVING count(*) > 1) d
                """) == 0)
            // Shutting down mid-run may stop a run between units of work ("abandoned", its slot due
            // again at once); nothing fails and nothing is left running.
            let unfinished = try await env.app.db.query("""
                SELECT job || ' ' || status || ': ' || coalesce(error, '') FROM job_runs WHERE status <> 'succeeded'
                """, logger: env.app.services.logger).decode(String.self).reduce(into: [String]()) { $0.append($1) }
            #expect(unfinished.allSatisfy { $0.contains("abandoned: stopped before finishing") }, "\(unfinished)")
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM job_runs") >= 8)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM followups WHERE status = 'sent'") == 30)

            // The metrics count each follow-up once.
            try await env.runOnce("metrics")
            #expect(try await env.app.scalar("SELECT coalesce(sum(followups_sent), 0)::int8 FROM metrics_daily") == 30)
        }
    }
}

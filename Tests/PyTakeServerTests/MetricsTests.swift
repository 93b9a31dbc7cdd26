import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// The metrics job (event log → metrics_daily) and the metrics API.
@Suite struct MetricsTests {
    typealias Env = FollowUpTests.Env

    /// A conversation of `tenant` with events at the given times (ISO 8601, UTC).
    @discardableResult
    static func events(_ env: Env, tenant: UUID, waId: String, _ events: [(type: String, at: String)]) async throws -> UUID {
        let conversation = try await env.conversation(tenant, waId: waId, inboundHoursAgo: 1, outboundHoursAgo: nil)
        for event in events {
            try await env.app.db.query("""
                INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                VALUES (\(tenant), \(conversation), \(event.type), \(event.at)::timestamptz)
                """, logger: env.app.services.logger)
        }
        return conversation
    }

    /// metrics_daily as text, without the update times.
    static func table(_ env: Env) async throws -> [String] {
        let rows = try await env.app.db.query("""
            SELECT concat_ws(' ', tenant_id, day, messages_in, messages_out, conversations_started, conversations_closed, handoffs,
                             followups_sent, flows_completed, responded_conversations, first_response_median_seconds, first_response_avg_seconds)
            FROM metrics_daily ORDER BY tenant_id, day
            """, logger: env.app.services.logger)
        return try await rows.decode(String.self).reduce(into: []) { $0.append($1) }
    }

    static func row(_ env: Env, _ tenant: UUID, _ day: String) async throws -> [String: Any]? {
        let response = try await env.client.call(.get, "/api/v1/tenants/\(tenant.uuidString.lowercased())/metrics/daily?from=\(day)&to=\(day)",
                                                 token: env.f.token(.platformAdmin))
        #expect(response.status == .ok, "\(response.text)")
        return (response.json["days"] as? [[String: Any]])?.first
    }

    @Test func daysAreCutInTheTenantsTimezone() async throws {
        try await FollowUpTests.withEnv { env in
            let a = env.f.tenantA.id, b = env.f.tenantB.id
            try await env.app.db.query("UPDATE clients SET timezone = 'America/Sao_Paulo' WHERE id = \(a)", logger: env.app.services.logger)
            // 02:30 UTC on 10 March is 23:30 on 9 March in São Paulo (UTC-3).
            for tenant in [a, b] {
                try await Self.events(env, tenant: tenant, waId: "5511920000001", [
                    ("conversation_started", "2026-03-10T02:30:00Z"), ("message_received", "2026-03-10T02:30:00Z"),
                    ("message_sent", "2026-03-10T02:30:12Z"), ("handoff", "2026-03-10T03:30:00Z"),
                ])
            }
            try await env.runOnce("metrics")
            let a9 = try #require(try await Self.row(env, a, "2026-03-09"))
            #expect(a9["messages_in"] as? Int == 1 && a9["messages_out"] as? Int == 1 && a9["conversations_started"] as? Int == 1)
            #expect(a9["handoffs"] as? Int == 0 && a9["first_response_median_seconds"] as? Double == 12, "\(a9)")
            // 03:30 UTC is 00:30 on the 10th in São Paulo.
            let a10 = try #require(try await Self.row(env, a, "2026-03-10"))
            #expect(a10["messages_in"] as? Int == 0 && a10["handoffs"] as? Int == 1, "\(a10)")
            #expect(try await Self.row(env, b, "2026-03-09")?["messages_in"] as? Int == 0)
            let b10 = try #require(try await Self.row(env, b, "2026-03-10"))
            #expect(b10["messages_in"] as? Int == 1 && b10["handoffs"] as? Int == 1)

            // A zone PostgreSQL does not know cannot be stored (it would stop every tenant's run).
            await #expect(throws: (any Error).self) {
                try await env.app.db.query("UPDATE clients SET timezone = 'Mars/Olympus_Mons' WHERE id = \(a)", logger: env.app.services.logger)
            }
            // A changed timezone rebuilds the tenant's days.
            try await env.app.db.query("UPDATE clients SET timezone = 'UTC' WHERE id = \(a)", logger: env.app.services.logger)
            let counts = try await env.runOnce("metrics")
            #expect(counts["tenants_rebuilt"] == 1, "\(counts)")
            #expect(try await Self.row(env, a, "2026-03-09")?["messages_in"] as? Int == 0)
            #expect(try await Self.row(env, a, "2026-03-10")?["messages_in"] as? Int == 1)
        }
    }

    @Test func incrementalLateEventsIdempotentAndEqualToRebuild() async throws {
        try await FollowUpTests.withEnv { env in
            let a = env.f.tenantA.id, b = env.f.tenantB.id
            let c1 = try await Self.events(env, tenant: a, waId: "5511930000001", [
                ("conversation_started", "2026-05-01T10:00:00Z"), ("message_received", "2026-05-01T10:00:00Z"),
                ("message_sent", "2026-05-01T10:00:10Z"), ("flow_completed", "2026-05-01T10:01:00Z"),
            ])
            try await Self.events(env, tenant: a, waId: "5511930000002", [
                ("conversation_started", "2026-05-01T11:00:00Z"), ("message_received", "2026-05-01T11:00:00Z"),
                ("message_sent", "2026-05-01T11:00:30Z"), ("conversation_closed", "2026-05-01T12:00:00Z"),
            ])
            try await env.runOnce("metrics")
            var day = try #require(try await Self.row(env, a, "2026-05-01"))
            #expect(day["messages_in"] as? Int == 2 && day["messages_out"] as? Int == 2 && day["flows_completed"] as? Int == 1)
            #expect(day["conversations_closed"] as? Int == 1 && day["responded_conversations"] as? Int == 2)
            #expect(day["first_response_median_seconds"] as? Double == 20 && day["first_response_avg_seconds"] as? Double == 20)

            // Nothing new: the same rows.
            let before = try await Self.table(env)
            let idle = try await env.runOnce("metrics")
            #expect(idle["new_events"] == 0 && idle["days_written"] == 0, "\(idle)")
            #expect(try await Self.table(env) == before)

            // A late event (a webhook delivered days later) recomputes its own day; a third
            // conversation with a slow reply moves the median.
            try await env.app.db.query("""
                INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                VALUES (\(a), \(c1), 'message_received', '2026-05-01T10:05:00Z')
                """, logger: env.app.services.logger)
            try await Self.events(env, tenant: a, waId: "5511930000003", [
                ("conversation_started", "2026-05-01T13:00:00Z"), ("message_received", "2026-05-01T13:00:00Z"),
                ("message_sent", "2026-05-01T13:01:20Z"),
            ])
            try await Self.events(env, tenant: b, waId: "5511930000004", [("message_received", "2026-04-20T09:00:00Z")])
            let incremental = try await env.runOnce("metrics")
            #expect(incremental["new_events"] == 5 && incremental["days_written"] == 2, "\(incremental)")
            day = try #require(try await Self.row(env, a, "2026-05-01"))
            #expect(day["messages_in"] as? Int == 4 && day["responded_conversations"] as? Int == 3)
            #expect(day["first_response_median_seconds"] as? Double == 30)
            #expect(day["first_response_avg_seconds"] as? Double == 40)
            #expect(try await Self.row(env, b, "2026-04-20")?["messages_in"] as? Int == 1)

            // A reply recorded later still counts for the day its conversation started.
            let c5 = try await Self.events(env, tenant: a, waId: "5511930000005", [
                ("conversation_started", "2026-05-02T23:59:00Z"), ("message_received", "2026-05-02T23:59:00Z"),
            ])
            try await env.runOnce("metrics")
            #expect(try await Self.row(env, a, "2026-05-02")?["responded_conversations"] as? Int == 0)
            try await env.app.db.query("""
                INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                VALUES (\(a), \(c5), 'message_sent', '2026-05-03T00:01:00Z')
                """, logger: env.app.services.logger)
            try await env.runOnce("metrics")
            let may2 = try #require(try await Self.row(env, a, "2026-05-02"))
            #expect(may2["responded_conversations"] as? Int == 1 && may2["first_response_median_seconds"] as? Double == 120)
            #expect(try await Self.row(env, a, "2026-05-03")?["messages_out"] as? Int == 1)

            // A full rebuild gives exactly the rows the incremental runs built.
            let incrementalRows = try await Self.table(env)
            let rebuilt = try await env.runOnce("metrics", JobOptions(rebuild: true))
            #expect(rebuilt["tenants_rebuilt", default: 0] >= 2, "\(rebuilt)")
            #expect(try await Self.table(env) == incrementalRows)
            let one = try await env.runOnce("metrics", JobOptions(rebuild: true, tenantId: a))
            #expect(one["tenants_rebuilt"] == 1, "\(one)")
            #expect(try await Self.table(env) == incrementalRows)
        }
    }

    /// An event whose transaction takes a sequence number first but commits after a run read
    /// newer events is still counted (a watermark on ids would skip it for ever).
    @Test func eventCommittedLateIsNotSkipped() async throws {
        try await FollowUpTests.withEnv { env in
            let a = env.f.tenantA.id
            let conversation = try await env.conversation(a, waId: "5511940000001", inboundHoursAgo: 1, outboundHoursAgo: nil)
            try await env.runOnce("metrics")
            let logger = env.app.services.logger
            let (inserted, release) = AsyncStream<Void>.makeStream()
            let (go, proceed) = AsyncStream<Void>.makeStream()
            let slow = Task {
                try await env.app.db.withTransaction(logger: logger) { tx in
                    try await tx.query("""
                        INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                        VALUES (\(a), \(conversation), 'message_received', '2026-06-01T10:00:00Z')
                        """, logger: logger)
                    release.yield()
                    for await _ in go { break }
                }
            }
            for await _ in inserted { break }
            try await env.app.db.query("""
                INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                VALUES (\(a), \(conversation), 'message_received', '2026-06-01T11:00:00Z')
                """, logger: logger)
            try await env.runOnce("metrics")
            #expect(try await Self.row(env, a, "2026-06-01")?["messages_in"] as? Int == 1)
            proceed.yield()
            try await slow.value
            try await env.runOnce("metrics")
            #expect(try await Self.row(env, a, "2026-06-01")?["messages_in"] as? Int == 2)
        }
    }

    /// With METRICS_CACHE_SECONDS, a process answers the same tenant and range from memory until
    /// the entry expires (the job's own interval is the real freshness bound).
    @Test func readsAreCachedPerTenantAndRange() async throws {
        try await FollowUpTests.withEnv(["METRICS_CACHE_SECONDS": "60"]) { env in
            let a = env.f.tenantA.id
            try await Self.events(env, tenant: a, waId: "5511960000001", [("message_received", "2026-08-01T10:00:00Z")])
            try await env.runOnce("metrics")
            #expect(try await Self.row(env, a, "2026-08-01")?["messages_in"] as? Int == 1)
            try await Self.events(env, tenant: a, waId: "5511960000002", [("message_received", "2026-08-01T11:00:00Z")])
            try await env.runOnce("metrics")
            #expect(try await Self.row(env, a, "2026-08-01")?["messages_in"] as? Int == 1, "served from the cache")
            let wider = try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/metrics/daily?from=2026-08-01&to=2026-08-02",
                                                  token: env.f.token(.viewerA))
            #expect(((wider.json["days"] as? [[String: Any]])?.first)?["messages_in"] as? Int == 2, "another range is read afresh")
            // The cache never bypasses access checks.
            #expect(try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/metrics/daily?from=2026-08-01&to=2026-08-01",
                                              token: env.f.token(.adminB)).status == .notFound)
        }
    }

    /// After a dump and restore, transaction ids start again below the stored snapshot: the job
    /// notices and rebuilds instead of treating every new event as already counted.
    @Test func watermarkFromARestoredDatabaseTriggersARebuild() async throws {
        try await FollowUpTests.withEnv { env in
            let a = env.f.tenantA.id
            try await Self.events(env, tenant: a, waId: "5511980000001", [("message_received", "2026-09-01T10:00:00Z")])
            try await env.runOnce("metrics")
            try await env.app.db.query("UPDATE metrics_watermark SET seen = '900000000:900000000:'::pg_snapshot", logger: env.app.services.logger)
            try await Self.events(env, tenant: a, waId: "5511980000002", [("message_received", "2026-09-01T11:00:00Z")])
            let counts = try await env.runOnce("metrics")
            #expect(counts["tenants_rebuilt", default: 0] >= 2, "\(counts)")
            #expect(try await Self.row(env, a, "2026-09-01")?["messages_in"] as? Int == 2)
            // And the watermark is sane again: the next run is incremental.
            #expect(try await env.runOnce("metrics")["tenants_rebuilt"] == nil)
        }
    }

    @Test func apiRolesRangesAndOverview() async throws {
        try await FollowUpTests.withEnv { env in
            let a = env.f.tenantA.id, b = env.f.tenantB.id
            try await Self.events(env, tenant: a, waId: "5511950000001", [("message_received", "2026-07-01T10:00:00Z")])
            try await Self.events(env, tenant: b, waId: "5511950000002", [
                ("message_received", "2026-07-01T10:00:00Z"), ("message_received", "2026-07-02T10:00:00Z"),
            ])
            let before = try await env.client.call(.get, "/api/v1/metrics/overview?from=2026-07-01&to=2026-07-02", token: env.f.token(.platformAdmin))
            #expect(before.status == .ok && before.json["computed_through"] == nil, "\(before.text)")
            try await env.runOnce("metrics")

            let path = "/api/v1/tenants/\(env.f.a)/metrics/daily?from=2026-06-30&to=2026-07-02"
            for who in [Fixture.Who.viewerA, .agentA, .adminA, .platformAdmin] {
                let response = try await env.client.call(.get, path, token: env.f.token(who))
                #expect(response.status == .ok, "\(who): \(response.text)")
                let days = response.json["days"] as? [[String: Any]] ?? []
                #expect(days.map { $0["day"] as? String } == ["2026-06-30", "2026-07-01", "2026-07-02"])
                #expect((response.json["totals"] as? [String: Any])?["messages_in"] as? Int == 1)
                #expect(response.json["timezone"] as? String == "UTC")
            }
            #expect(try await env.client.call(.get, path, token: env.f.token(.adminB)).status == .notFound)
            #expect(try await env.client.call(.get, path).status == .unauthorized)
            for (query, field) in [("from=2026-07-02&to=2026-07-01", "to"), ("from=2026-02-30&to=2026-03-01", "from"),
                                   ("from=2025-01-01&to=2026-07-01", "to"), ("from=yesterday&to=2026-07-01", "from")] {
                let response = try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/metrics/daily?\(query)", token: env.f.token(.adminA))
                #expect(response.status == .unprocessableContent || response.status == .badRequest, "\(query): \(response.text)")
                #expect(response.text.contains(field), "\(query): \(response.text)")
            }
            #expect(try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/metrics/daily?from=2026-07-01", token: env.f.token(.adminA)).status == .badRequest)

            let overview = try await env.client.call(.get, "/api/v1/metrics/overview?from=2026-07-01&to=2026-07-02", token: env.f.token(.platformAdmin))
            #expect(overview.status == .ok, "\(overview.text)")
            #expect((overview.json["totals"] as? [String: Any])?["messages_in"] as? Int == 3 && overview.json["tenants"] as? Int == 2)
            #expect(((overview.json["days"] as? [[String: Any]])?.first)?["messages_in"] as? Int == 2)
            #expect(try await env.client.call(.get, "/api/v1/metrics/overview?from=2026-07-01&to=2026-07-02", token: env.f.token(.adminA)).status == .forbidden)

            let runs = try await env.client.call(.get, "/api/v1/jobs/runs?job=metrics&limit=1", token: env.f.token(.platformAdmin))
            #expect(runs.status == .ok, "\(runs.text)")
            let run = (runs.json["items"] as? [[String: Any]])?.first
            #expect(run?["status"] as? String == "succeeded" && run?["trigger"] as? String == "manual")
            #expect((run?["counts"] as? [String: Any])?["tenants_rebuilt"] as? Int ?? 0 >= 2)
            #expect(try await env.client.call(.get, "/api/v1/jobs/runs", token: env.f.token(.adminA)).status == .forbidden)
            #expect(try await env.client.call(.get, "/api/v1/jobs/runs?status=bogus", token: env.f.token(.platformAdmin)).status == .badRequest)
        }
    }
}

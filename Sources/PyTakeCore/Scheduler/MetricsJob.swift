import Foundation
import Logging
import PostgresNIO

/// Aggregates `conversation_events` into `metrics_daily`, one row per tenant and day in the
/// tenant's timezone.
///
/// A day's row is always recomputed whole from that day's events, never incremented, so running a
/// window again gives the same rows and a late event simply recomputes its day. A run reads the
/// events committed since the previous run's snapshot (by writing transaction, so an event whose
/// transaction committed late is not skipped), recomputes the days they touch and stores its own
/// snapshot — all in one REPEATABLE READ transaction, so a run that dies leaves nothing half-done.
/// Tenants without a baseline (first run, `--rebuild`, or a changed timezone) are rebuilt from all
/// their events by the same aggregation.
public struct MetricsJob: ScheduledJob {
    public let name = "metrics"
    let db: DB

    public init(db: DB) {
        self.db = db
    }

    /// The event types a metric reads.
    static let types = "'message_received', 'message_sent', 'followup_sent', 'conversation_started', 'conversation_closed', 'handoff', 'flow_completed'"

    /// From `ev(tenant_id, day, type, conversation_id, occurred_at)`: the rows of `metrics_daily`.
    /// First response: from a conversation's start to its first reply (bot or agent), counted on
    /// the day the conversation started.
    static let aggregate = """
        counts AS (
            SELECT tenant_id, day,
                   count(*) FILTER (WHERE type = 'message_received') AS messages_in,
                   count(*) FILTER (WHERE type IN ('message_sent', 'followup_sent')) AS messages_out,
                   count(*) FILTER (WHERE type = 'conversation_started') AS conversations_started,
                   count(*) FILTER (WHERE type = 'conversation_closed') AS conversations_closed,
                   count(*) FILTER (WHERE type = 'handoff') AS handoffs,
                   count(*) FILTER (WHERE type = 'followup_sent') AS followups_sent,
                   count(*) FILTER (WHERE type = 'flow_completed') AS flows_completed
            FROM ev GROUP BY tenant_id, day
        ),
        first_reply AS (
            SELECT ev.tenant_id, ev.day, greatest(extract(epoch FROM r.occurred_at - ev.occurred_at), 0)::float8 AS secs
            FROM ev CROSS JOIN LATERAL (
                SELECT x.occurred_at FROM conversation_events x
                WHERE x.conversation_id = ev.conversation_id AND x.type = 'message_sent' AND x.occurred_at >= ev.occurred_at
                ORDER BY x.occurred_at LIMIT 1
            ) r
            WHERE ev.type = 'conversation_started'
        ),
        responses AS (
            -- Tenths of a second: finer is noise, and shorter to send.
            SELECT tenant_id, day, count(*) AS n,
                   round((percentile_cont(0.5) WITHIN GROUP (ORDER BY secs))::numeric, 1)::float8 AS median,
                   round(avg(secs)::numeric, 1)::float8 AS mean
            FROM first_reply GROUP BY tenant_id, day
        ),
        written AS (
            INSERT INTO metrics_daily AS m (tenant_id, day, messages_in, messages_out, conversations_started, conversations_closed,
                                           handoffs, followups_sent, flows_completed, responded_conversations,
                                           first_response_median_seconds, first_response_avg_seconds, updated_at)
            SELECT c.tenant_id, c.day, c.messages_in, c.messages_out, c.conversations_started, c.conversations_closed,
                   c.handoffs, c.followups_sent, c.flows_completed, coalesce(r.n, 0), r.median, r.mean, now()
            FROM counts c LEFT JOIN responses r USING (tenant_id, day)
            ON CONFLICT (tenant_id, day) DO UPDATE SET
                messages_in = EXCLUDED.messages_in, messages_out = EXCLUDED.messages_out,
                conversations_started = EXCLUDED.conversations_started, conversations_closed = EXCLUDED.conversations_closed,
                handoffs = EXCLUDED.handoffs, followups_sent = EXCLUDED.followups_sent, flows_completed = EXCLUDED.flows_completed,
                responded_conversations = EXCLUDED.responded_conversations,
                first_response_median_seconds = EXCLUDED.first_response_median_seconds,
                first_response_avg_seconds = EXCLUDED.first_response_avg_seconds, updated_at = now()
            RETURNING 1
        )
        """

    public func run(_ run: JobRun) async throws -> [String: Int] {
        let logger = run.logger
        return try await db.client.transaction(logger: logger) { tx in
            // One snapshot for the whole run: what it reads is exactly what its watermark says it read.
            try await tx.query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ", logger: logger)
            // Every tenant's events (set after the isolation level, which must come first).
            try await ScopedDB.apply(.platform(.scheduledJobs), on: tx, logger: logger)
            // Locked: a second run (another replica after a takeover) waits here, then fails to
            // serialize instead of counting the same events again.
            // A database restored from a dump starts transaction ids again below the stored
            // snapshot, which would make every new event look already counted: start over then.
            let mark = try await tx.query("""
                SELECT seen::text, pg_snapshot_xmin(seen)::text, pg_current_xact_id() < pg_snapshot_xmax(seen)
                FROM metrics_watermark FOR UPDATE
                """, logger: logger)
            var watermark: (String, String)?
            if let (seen, xmin, wentBack) = try await mark.decode((String, String, Bool).self).first(where: { _ in true }) {
                if wentBack {
                    logger.warning("transaction ids are below the metrics watermark (a restored database?); rebuilding every tenant's metrics")
                } else {
                    watermark = (seen, xmin)
                }
            }

            // Who is rebuilt from all their events: everyone without a baseline, the tenant(s) an
            // operator asked for, and tenants whose timezone changed since their days were cut.
            let rebuildAll = watermark == nil || (run.options.rebuild && run.options.tenantId == nil)
            var rebuilt: [UUID] = []
            if !rebuildAll {
                let rows = try await tx.query("""
                    SELECT c.id FROM clients c LEFT JOIN metrics_tenants m ON m.tenant_id = c.id
                    WHERE m.timezone IS DISTINCT FROM c.timezone OR c.id = \(run.options.rebuild ? run.options.tenantId : nil)
                    """, logger: logger)
                rebuilt = try await rows.decode(UUID.self).reduce(into: []) { $0.append($1) }
            }
            var counts: [String: Int] = [:]
            if rebuildAll || !rebuilt.isEmpty {
                counts.merge(try await rebuild(tx, all: rebuildAll, tenants: rebuilt, logger: logger)) { $0 + $1 }
            }
            if let (seen, xmin) = watermark, !rebuildAll {
                counts.merge(try await incremental(tx, seen: seen, xmin: xmin, skipping: rebuilt, logger: logger)) { $0 + $1 }
            }
            try await tx.query("""
                INSERT INTO metrics_watermark (singleton, seen, updated_at) VALUES (true, pg_current_snapshot(), now())
                ON CONFLICT (singleton) DO UPDATE SET seen = EXCLUDED.seen, updated_at = now()
                """, logger: logger)
            return counts
        }
    }

    /// Replaces the rows of the given tenants (or of everyone) with a fresh aggregation.
    private func rebuild(_ tx: Tx, all: Bool, tenants: [UUID], logger: Logger) async throws -> [String: Int] {
        logger.info("rebuilding daily metrics", metadata: ["tenants": "\(all ? "all" : String(tenants.count))"])
        try await tx.query("DELETE FROM metrics_daily WHERE \(all) OR tenant_id = ANY(\(tenants))", logger: logger)
        let rows = try await tx.query("""
            WITH ev AS (
                SELECT e.tenant_id, (e.occurred_at AT TIME ZONE c.timezone)::date AS day, e.type, e.conversation_id, e.occurred_at
                FROM conversation_events e JOIN clients c ON c.id = e.tenant_id
                WHERE e.type IN (\(unescaped: Self.types)) AND (\(all) OR e.tenant_id = ANY(\(tenants)))
            ),
            \(unescaped: Self.aggregate),
            baseline AS (
                INSERT INTO metrics_tenants AS t (tenant_id, timezone)
                SELECT id, timezone FROM clients WHERE \(all) OR id = ANY(\(tenants))
                ON CONFLICT (tenant_id) DO UPDATE SET timezone = EXCLUDED.timezone
                RETURNING 1
            )
            SELECT (SELECT count(*) FROM ev)::int8, (SELECT count(*) FROM written)::int8, (SELECT count(*) FROM baseline)::int8
            """, logger: logger)
        let (events, days, rebuiltTenants) = try await rows.decode((Int, Int, Int).self).first { _ in true } ?? (0, 0, 0)
        return ["events_read": events, "days_written": days, "tenants_rebuilt": rebuiltTenants]
    }

    /// Recomputes the days that events committed since `seen` touched.
    private func incremental(_ tx: Tx, seen: String, xmin: String, skipping: [UUID], logger: Logger) async throws -> [String: Int] {
        let rows = try await tx.query("""
            WITH new AS (
                SELECT e.tenant_id, e.conversation_id, e.type, e.occurred_at FROM conversation_events e
                WHERE e.xact >= \(xmin)::xid8 AND NOT pg_visible_in_snapshot(e.xact, \(seen)::pg_snapshot)
                  AND e.type IN (\(unescaped: Self.types)) AND e.tenant_id <> ALL(\(skipping))
            ),
            days AS (
                SELECT n.tenant_id, (n.occurred_at AT TIME ZONE c.timezone)::date AS day
                FROM new n JOIN clients c ON c.id = n.tenant_id
                UNION
                -- A first reply changes the day its conversation started on.
                SELECT n.tenant_id, (s.occurred_at AT TIME ZONE c.timezone)::date
                FROM new n JOIN clients c ON c.id = n.tenant_id
                CROSS JOIN LATERAL (
                    SELECT x.occurred_at FROM conversation_events x
                    WHERE x.conversation_id = n.conversation_id AND x.type = 'conversation_started'
                    ORDER BY x.occurred_at LIMIT 1
                ) s
                WHERE n.type = 'message_sent'
            ),
            bounds AS MATERIALIZED (
                SELECT d.tenant_id, d.day, d.day::timestamp AT TIME ZONE c.timezone AS lo,
                       (d.day + 1)::timestamp AT TIME ZONE c.timezone AS hi
                FROM days d JOIN clients c ON c.id = d.tenant_id
            ),
            -- Per day, one range scan of (tenant_id, occurred_at).
            ev AS (
                SELECT b.tenant_id, b.day, e.type, e.conversation_id, e.occurred_at
                FROM bounds b CROSS JOIN LATERAL (
                    SELECT x.type, x.conversation_id, x.occurred_at FROM conversation_events x
                    WHERE x.tenant_id = b.tenant_id AND x.occurred_at >= b.lo AND x.occurred_at < b.hi
                      AND x.type IN (\(unescaped: Self.types))
                ) e
            ),
            \(unescaped: Self.aggregate)
            SELECT (SELECT count(*) FROM new)::int8, (SELECT count(*) FROM written)::int8
            """, logger: logger)
        let (events, days) = try await rows.decode((Int, Int).self).first { _ in true } ?? (0, 0)
        return ["new_events": events, "days_written": days]
    }
}

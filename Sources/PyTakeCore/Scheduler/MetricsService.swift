import Foundation
import Logging
import PostgresNIO

/// One day's figures (from `metrics_daily`; zeros for a day without activity).
public struct DailyMetrics: Sendable, Equatable {
    public var day: String
    public var messagesIn: Int
    public var messagesOut: Int
    public var conversationsStarted: Int
    public var conversationsClosed: Int
    public var handoffs: Int
    public var followupsSent: Int
    public var flowsCompleted: Int
    public var respondedConversations: Int
    public var firstResponseMedianSeconds: Double?
    public var firstResponseAvgSeconds: Double?

    static func zero(_ day: String) -> DailyMetrics {
        DailyMetrics(day: day, messagesIn: 0, messagesOut: 0, conversationsStarted: 0, conversationsClosed: 0, handoffs: 0,
                     followupsSent: 0, flowsCompleted: 0, respondedConversations: 0)
    }
}

public struct MetricsReport: Sendable {
    public var from: String
    public var to: String
    /// The tenant's timezone (days are cut in it); nil for the platform overview, where each
    /// tenant's days are its own.
    public var timezone: String?
    public var days: [DailyMetrics]
    /// Sums over the range; the first-response average is weighted by responded conversations
    /// (a median of medians would mean nothing, so totals have none).
    public var totals: DailyMetrics
    /// Tenants with any activity in the range (overview only).
    public var tenants: Int?
    /// When the metrics job last read events: figures include everything before it.
    public var computedThrough: Date?
}

public struct JobRunRecord: Sendable {
    public var id: Int64
    public var job: String
    public var trigger: String
    public var status: String
    public var owner: String
    public var scheduledFor: Date
    public var startedAt: Date
    public var finishedAt: Date?
    public var takeoverOf: Int64?
    public var options: [String: JSONValue]
    public var counts: [String: Int]
    public var error: String?
}

/// The metrics read, prepared once per connection.
enum DailyMetricsRead {}

/// Reads `metrics_daily` (never the event log) and `job_runs`.
public struct MetricsService: Sendable {
    let db: DB
    let logger: Logger
    /// Longest range one request may ask for.
    public static let maxDays = 366

    public init(db: DB, logger: Logger) {
        self.db = db
        self.logger = logger
    }

    public func daily(tenantId: UUID, from: String, to: String, identity: Identity) async throws -> MetricsReport {
        try Access.require(identity, .read, tenant: tenantId)
        let (from, to) = try Self.range(from, to)
        // One statement (a dashboard reads this often): the tenant, the job's freshness, and the
        // range's stored rows, with no row for a day without activity (filled in below).
        let rows = try await db.tenant(tenantId).prepared(DailyMetricsRead.self, """
            SELECT c.timezone, (SELECT updated_at FROM metrics_watermark), m.day::text,
                   m.messages_in, m.messages_out, m.conversations_started, m.conversations_closed, m.handoffs,
                   m.followups_sent, m.flows_completed, m.responded_conversations,
                   m.first_response_median_seconds, m.first_response_avg_seconds
            FROM clients c
            LEFT JOIN metrics_daily m ON m.tenant_id = c.id AND m.day BETWEEN \(from)::date AND \(to)::date
            WHERE c.id = \(tenantId) AND c.status <> 'deleted'
            ORDER BY m.day
            """, logger: logger)
        guard !rows.isEmpty else { throw AppError.notFound("Tenant") }
        var timezone = "UTC"
        var computedThrough: Date?
        var stored: [String: DailyMetrics] = [:]
        for row in rows {
            let r = try row.decode((String, Date?, String?, Int?, Int?, Int?, Int?, Int?, Int?, Int?, Int?, Double?, Double?).self)
            (timezone, computedThrough) = (r.0, r.1)
            guard let day = r.2 else { continue }
            stored[day] = DailyMetrics(day: day, messagesIn: r.3 ?? 0, messagesOut: r.4 ?? 0, conversationsStarted: r.5 ?? 0,
                                       conversationsClosed: r.6 ?? 0, handoffs: r.7 ?? 0, followupsSent: r.8 ?? 0, flowsCompleted: r.9 ?? 0,
                                       respondedConversations: r.10 ?? 0, firstResponseMedianSeconds: r.11, firstResponseAvgSeconds: r.12)
        }
        let days = Self.days(from: from, to: to).map { stored[$0] ?? DailyMetrics.zero($0) }
        return MetricsReport(from: from, to: to, timezone: timezone, days: days, totals: Self.totals(days, from: from),
                             tenants: nil, computedThrough: computedThrough)
    }

    /// Every calendar day from `from` to `to` (both valid, in order), as YYYY-MM-DD.
    static func days(from: String, to: String) -> [String] {
        guard let start = CivilDay(from), let end = CivilDay(to), start.number <= end.number else { return [] }
        return (start.number...end.number).map { CivilDay(number: $0).text }
    }

    /// Every tenant's figures summed per day (platform_admin).
    public func overview(from: String, to: String, identity: Identity) async throws -> MetricsReport {
        try Access.requirePlatformAdmin(identity)
        let (from, to) = try Self.range(from, to)
        let rows = try await db.platform(.platformMetrics).query("""
            SELECT day::text, sum(messages_in)::int8, sum(messages_out)::int8, sum(conversations_started)::int8,
                   sum(conversations_closed)::int8, sum(handoffs)::int8, sum(followups_sent)::int8, sum(flows_completed)::int8,
                   sum(responded_conversations)::int8, NULL::float8,
                   round((sum(first_response_avg_seconds * responded_conversations)
                          / nullif(sum(responded_conversations), 0))::numeric, 1)::float8
            FROM metrics_daily WHERE day BETWEEN \(from)::date AND \(to)::date
            GROUP BY day
            """, logger: logger)
        let stored = Dictionary(uniqueKeysWithValues: try await Self.decode(rows).map { ($0.day, $0) })
        let days = Self.days(from: from, to: to).map { stored[$0] ?? DailyMetrics.zero($0) }
        let active = try await db.platform(.platformMetrics).query("""
            SELECT count(DISTINCT tenant_id)::int8 FROM metrics_daily WHERE day BETWEEN \(from)::date AND \(to)::date
            """, logger: logger)
        return MetricsReport(from: from, to: to, timezone: nil, days: days, totals: Self.totals(days, from: from),
                             tenants: try await active.decode(Int.self).first { _ in true } ?? 0, computedThrough: try await computedThrough())
    }

    /// Newest first (platform_admin).
    public func jobRuns(job: String?, status: String?, page: PageRequest, identity: Identity) async throws -> Page<JobRunRecord> {
        try Access.requirePlatformAdmin(identity)
        var v = Validator()
        v.check(status.map { ["running", "succeeded", "failed", "abandoned"].contains($0) } ?? true, "status",
                "must be running, succeeded, failed or abandoned")
        v.check(job.map { (1...64).contains($0.unicodeScalars.count) && !$0.containsNUL } ?? true, "job", "must be 1 to 64 characters")
        try v.finish()
        let before = try Cursor.decodeID(page.cursor)
        let rows = try await db.unscoped.query("""
            SELECT id, job, trigger, status, owner, scheduled_for, started_at, finished_at, takeover_of, options::text, counts::text, error
            FROM job_runs
            WHERE (\(job)::text IS NULL OR job = \(job)) AND (\(status)::text IS NULL OR status = \(status))
              AND (\(before)::int8 IS NULL OR id < \(before))
            ORDER BY id DESC LIMIT \(page.limit + 1)
            """, logger: logger)
        var runs: [JobRunRecord] = []
        typealias Row = (Int64, String, String, String, String, Date, Date, Date?, Int64?, String, String, String?)
        for try await r in rows.decode(Row.self) {
            let options = (try? JSONColumn.decode([String: JSONValue].self, from: r.9)) ?? [:]
            let counts = (try? JSONColumn.decode([String: Int].self, from: r.10)) ?? [:]
            runs.append(JobRunRecord(id: r.0, job: r.1, trigger: r.2, status: r.3, owner: r.4, scheduledFor: r.5, startedAt: r.6,
                                     finishedAt: r.7, takeoverOf: r.8, options: options, counts: counts, error: r.11))
        }
        return Page.overfetched(runs, limit: page.limit, item: { $0 }, cursor: { [String($0.id)] })
    }

    func computedThrough() async throws -> Date? {
        let rows = try await db.unscoped.query("SELECT updated_at FROM metrics_watermark", logger: logger)
        return try await rows.decode(Date.self).first { _ in true }
    }

    /// Validates a `from`/`to` pair of calendar dates (YYYY-MM-DD), at most `maxDays` long.
    static func range(_ from: String, _ to: String) throws(AppError) -> (String, String) {
        var v = Validator()
        let start = CivilDay(from)
        let end = CivilDay(to)
        v.check(start != nil, "from", "must be a date as YYYY-MM-DD")
        v.check(end != nil, "to", "must be a date as YYYY-MM-DD")
        if let start, let end {
            v.check(end.number >= start.number, "to", "must not be before from")
            v.check(end.number - start.number < maxDays, "to", "the range may cover at most \(maxDays) days")
        }
        try v.finish()
        return (from, to)
    }

    static func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [DailyMetrics] {
        var days: [DailyMetrics] = []
        typealias Row = (String, Int, Int, Int, Int, Int, Int, Int, Int, Double?, Double?)
        for try await r in rows.decode(Row.self) {
            days.append(DailyMetrics(day: r.0, messagesIn: r.1, messagesOut: r.2, conversationsStarted: r.3, conversationsClosed: r.4,
                                     handoffs: r.5, followupsSent: r.6, flowsCompleted: r.7, respondedConversations: r.8,
                                     firstResponseMedianSeconds: r.9, firstResponseAvgSeconds: r.10))
        }
        return days
    }

    static func totals(_ days: [DailyMetrics], from: String) -> DailyMetrics {
        var t = DailyMetrics.zero(from)
        var weighted = 0.0
        for d in days {
            t.messagesIn += d.messagesIn
            t.messagesOut += d.messagesOut
            t.conversationsStarted += d.conversationsStarted
            t.conversationsClosed += d.conversationsClosed
            t.handoffs += d.handoffs
            t.followupsSent += d.followupsSent
            t.flowsCompleted += d.flowsCompleted
            t.respondedConversations += d.respondedConversations
            weighted += (d.firstResponseAvgSeconds ?? 0) * Double(d.respondedConversations)
        }
        t.firstResponseAvgSeconds = t.respondedConversations > 0 ? (weighted / Double(t.respondedConversations) * 10).rounded() / 10 : nil
        return t
    }
}

/// A proleptic Gregorian calendar day, counted from 1970-01-01 (days-from-civil; no Foundation
/// date formatters, which cost more than the whole metrics query).
struct CivilDay: Equatable {
    let number: Int

    init(number: Int) {
        self.number = number
    }

    init?(_ text: String) {
        let bytes = Array(text.utf8)
        guard bytes.count == 10, bytes[4] == 0x2d, bytes[7] == 0x2d else { return nil }
        func digits(_ range: Range<Int>) -> Int? {
            var value = 0
            for b in bytes[range] {
                guard b >= 0x30 && b <= 0x39 else { return nil }
                value = value * 10 + Int(b - 0x30)
            }
            return value
        }
        guard let y = digits(0..<4), let m = digits(5..<7), let d = digits(8..<10), (1...12).contains(m), y >= 1 else { return nil }
        let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
        let lengths = [31, leap ? 29 : 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]
        guard d >= 1 && d <= lengths[m - 1] else { return nil }
        let yy = m <= 2 ? y - 1 : y
        let era = (yy >= 0 ? yy : yy - 399) / 400
        let yoe = yy - era * 400
        let doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1
        let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy
        number = era * 146_097 + doe - 719_468
    }

    var text: String {
        let z = number + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let doe = z - era * 146_097
        let yoe = (doe - doe / 1460 + doe / 36524 - doe / 146_096) / 365
        let doy = doe - (365 * yoe + yoe / 4 - yoe / 100)
        let mp = (5 * doy + 2) / 153
        let d = doy - (153 * mp + 2) / 5 + 1
        let m = mp < 10 ? mp + 3 : mp - 9
        let y = yoe + era * 400 + (m <= 2 ? 1 : 0)
        func pad(_ n: Int, _ width: Int) -> String {
            let s = String(n)
            return String(repeating: "0", count: max(0, width - s.count)) + s
        }
        return "\(pad(y, 4))-\(pad(m, 2))-\(pad(d, 2))"
    }
}

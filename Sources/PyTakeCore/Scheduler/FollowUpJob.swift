import Foundation
import Logging
import PostgresNIO

/// Sends follow-ups to "warm" conversations: the tenant spoke last and the customer has been
/// silent for the tenant's `tools_config.followup.after_hours`.
///
/// Each follow-up is a `followups` row keyed by (conversation, attempt), written with its
/// `pending` message before anything leaves. A second replica or a retried run cannot claim the
/// same key; a row left `pending` by a run that died is marked `unknown` (it may have been
/// delivered) and never sent again. A send that failed is tried again on later runs, up to
/// `maxTries`, with its error kept.
public struct FollowUpJob: ScheduledJob {
    public struct Settings: Sendable {
        public var batchSize: Int
        public var concurrency: Int
        public var maxTries: Int
        public init(batchSize: Int = 5000, concurrency: Int = 8, maxTries: Int = 3) {
            self.batchSize = batchSize
            self.concurrency = concurrency
            self.maxTries = maxTries
        }
    }

    public let name = "followup"
    let db: DB
    let outbound: Outbound
    let settings: Settings

    public init(db: DB, outbound: Outbound, settings: Settings) {
        self.db = db
        self.outbound = outbound
        self.settings = settings
    }

    struct Candidate: Sendable {
        var conversationId: UUID
        var tenantId: UUID
        var providerId: UUID?
        var customerId: UUID
        var waId: String
        var customerName: String?
        var outsideWindow: Bool
        var attempt: Int
        /// The failed row being tried again (its message), or nil for a new attempt.
        var retryMessageId: UUID?
    }

    enum Outcome: String {
        case sent, failed, skippedWindow = "skipped_window", noProvider = "no_provider", claimedElsewhere = "claimed_elsewhere"
        /// The customer wrote, an agent took over or the conversation closed since the scan.
        case noLongerDue = "no_longer_due"
    }

    enum Claim: Equatable {
        case claimed(UUID)
        case taken
        case noLongerDue
    }

    public func run(_ run: JobRun) async throws -> [String: Int] {
        let logger = run.logger
        var counts: [String: Int] = [:]
        if !run.options.dryRun {
            counts["interrupted_marked_unknown"] = try await recoverInterrupted(runId: run.id, logger: logger)
        }

        let (policies, quiet) = try await activePolicies(logger: logger)
        counts["tenants_enabled"] = policies.count + quiet
        counts["tenants_quiet"] = quiet
        guard !policies.isEmpty else { return counts }

        let started = ContinuousClock.now
        let scan = try await candidates(policies, logger: logger)
        let elapsed = ContinuousClock.now - started
        counts["scan_ms"] = Int(elapsed.milliseconds)
        counts["candidates"] = scan.total
        counts["deferred"] = scan.total - scan.due.count
        if run.options.dryRun {
            counts["would_send_template"] = scan.outsideWindow
            return counts
        }
        let outcomes = await withTaskGroup(of: Outcome.self, returning: [Outcome].self) { group in
            var results: [Outcome] = []
            var next = scan.due.makeIterator()
            for _ in 0..<settings.concurrency {
                guard let candidate = next.next() else { break }
                group.addTask { await send(candidate, policy: policies[candidate.tenantId]!, runId: run.id, logger: logger) }
            }
            for await outcome in group {
                results.append(outcome)
                if !run.shouldStop, let candidate = next.next() {
                    group.addTask { await send(candidate, policy: policies[candidate.tenantId]!, runId: run.id, logger: logger) }
                }
            }
            return results
        }
        for outcome in outcomes { counts[outcome.rawValue, default: 0] += 1 }
        if run.shouldStop { throw JobInterrupted(counts: counts) }
        return counts
    }

    /// Rows a dead run left `pending`: the message may or may not have gone out, so it is not sent
    /// again (the customer must never get the same follow-up twice).
    func recoverInterrupted(runId: Int64, logger: Logger) async throws -> Int {
        let rows = try await db.platform(.scheduledJobs).query("""
            WITH lost AS (
                UPDATE followups SET status = 'unknown', updated_at = now(),
                    error = 'interrupted while sending (its scheduler stopped); it may or may not have been delivered, so it is not sent again'
                WHERE status = 'pending' AND run_id IS DISTINCT FROM \(runId)
                RETURNING message_id
            ),
            marked AS (
                UPDATE chat_messages m SET status = 'failed', error_code = 'interrupted',
                    error_title = 'Interrupted while sending; it may or may not have been delivered.', updated_at = now()
                FROM lost WHERE m.id = lost.message_id AND m.status = 'pending'
                RETURNING m.conversation_id
            ),
            -- Timed as if it went out: the next attempt waits its full after_hours.
            timed AS (
                UPDATE active_conversations a SET last_outbound_at = greatest(a.last_outbound_at, now()), updated_at = now()
                FROM marked WHERE a.id = marked.conversation_id
                RETURNING 1
            )
            SELECT count(*)::int8 FROM lost
            """, logger: logger)
        return try await rows.decode(Int.self).first { _ in true } ?? 0
    }

    /// Enabled policies of active tenants, minus the tenants in their quiet hours right now (by the
    /// database's clock, in each tenant's timezone).
    func activePolicies(logger: Logger) async throws -> (policies: [UUID: FollowUpPolicy], quiet: Int) {
        let rows = try await db.platform(.scheduledJobs).query("""
            SELECT id, (tools_config -> 'followup')::text,
                   (extract(hour FROM now() AT TIME ZONE timezone) * 60 + extract(minute FROM now() AT TIME ZONE timezone))::int8
            FROM clients
            WHERE status = 'active' AND tools_config -> 'followup' ->> 'enabled' = 'true'
            """, logger: logger)
        var policies: [UUID: FollowUpPolicy] = [:]
        var quiet = 0
        for try await (id, text, minute) in rows.decode((UUID, String, Int).self) {
            guard let policy = FollowUpPolicy(try? JSONColumn.decode(JSONValue.self, from: text)) else { continue }
            if policy.isQuiet(atMinute: minute) { quiet += 1 } else { policies[id] = policy }
        }
        return (policies, quiet)
    }

    /// The conversations due a follow-up, oldest silence first, at most `batchSize` of them (the
    /// rest wait for the next run), with how many are due in all. A conversation is due when it is
    /// open, the bot is not paused, the tenant wrote last and at least `after_hours` ago, and either
    /// its latest attempt failed and may be tried again or fewer than `max_attempts` follow-ups went
    /// out since the customer last wrote.
    ///
    /// One set-based statement, each tenant's open conversations found through its index: paging
    /// through the follow-up index instead cost about six times more for 50,000 due conversations.
    func candidates(_ policies: [UUID: FollowUpPolicy], logger: Logger) async throws -> (due: [Candidate], total: Int, outsideWindow: Int) {
        let tenants = Array(policies.keys)
        let afterSeconds = tenants.map { policies[$0]!.afterHours * 3600 }
        let maxAttempts = tenants.map { policies[$0]!.maxAttempts }
        let rows = try await db.platform(.scheduledJobs).query("""
            WITH policy AS (
                SELECT * FROM unnest(\(tenants)::uuid[], \(afterSeconds)::float8[], \(maxAttempts)::int8[]) AS p(tenant_id, after_secs, max_attempts)
            ),
            silent AS (
                SELECT a.id, a.tenant_id, a.provider_id, a.customer_id, a.last_inbound_at, a.last_outbound_at, p.max_attempts
                FROM policy p JOIN active_conversations a ON a.tenant_id = p.tenant_id
                WHERE a.status = 'open' AND NOT a.bot_paused
                  AND a.last_outbound_at <= now() - make_interval(secs => p.after_secs)
                  AND a.last_outbound_at > coalesce(a.last_inbound_at, '-infinity')
            ),
            -- One look at each conversation's follow-ups: the latest attempt, whether it failed and
            -- may be tried again (its message), and how many went out since the customer wrote.
            due AS MATERIALIZED (
                SELECT s.*, f.latest_attempt, f.retry_message_id
                FROM silent s
                CROSS JOIN LATERAL (
                    SELECT max(x.attempt) AS latest_attempt,
                           (array_agg(CASE WHEN x.status = 'failed' AND x.tries < \(settings.maxTries)
                                                AND x.created_at > coalesce(s.last_inbound_at, '-infinity')
                                           THEN x.message_id END ORDER BY x.attempt DESC))[1] AS retry_message_id,
                           count(*) FILTER (WHERE x.created_at > coalesce(s.last_inbound_at, '-infinity')) AS since_answer
                    FROM followups x WHERE x.conversation_id = s.id
                ) f
                WHERE f.retry_message_id IS NOT NULL OR f.since_answer < s.max_attempts
            ),
            page AS (SELECT * FROM due ORDER BY last_outbound_at, id LIMIT \(settings.batchSize))
            SELECT page.id, page.tenant_id, page.provider_id, cu.id, cu.wa_id, cu.profile_name,
                   page.last_inbound_at IS NULL OR now() - page.last_inbound_at > interval '24 hours',
                   coalesce(CASE WHEN page.retry_message_id IS NOT NULL THEN page.latest_attempt ELSE page.latest_attempt + 1 END, 1)::int8,
                   page.retry_message_id,
                   (SELECT count(*) FROM due)::int8,
                   (SELECT count(*) FROM due WHERE last_inbound_at IS NULL OR now() - last_inbound_at > interval '24 hours')::int8
            FROM page JOIN customers cu ON cu.id = page.customer_id AND cu.erased_at IS NULL
            ORDER BY page.last_outbound_at, page.id
            """, logger: logger)
        var due: [Candidate] = []
        var total = 0
        var outsideWindow = 0
        typealias Row = (UUID, UUID, UUID?, UUID, String, String?, Bool, Int, UUID?, Int, Int)
        for try await r in rows.decode(Row.self) {
            due.append(Candidate(conversationId: r.0, tenantId: r.1, providerId: r.2, customerId: r.3, waId: r.4, customerName: r.5,
                                 outsideWindow: r.6, attempt: r.7, retryMessageId: r.8))
            (total, outsideWindow) = (r.9, r.10)
        }
        return (due, total, outsideWindow)
    }

    /// Claims the attempt's key, sends, and records the outcome.
    func send(_ c: Candidate, policy: FollowUpPolicy, runId: Int64, logger: Logger) async -> Outcome {
        var logger = logger
        logger[metadataKey: "conversation_id"] = "\(c.conversationId.uuidString.lowercased())"
        logger[metadataKey: "tenant_id"] = "\(c.tenantId.uuidString.lowercased())"
        let sender: any MessageSender
        let providerType: ProviderType
        do {
            let resolved = try await outbound.sender(tenantId: c.tenantId, preferring: c.providerId)
            sender = resolved.sender
            providerType = resolved.credentials.providerType
        } catch {
            logger.warning("no provider to send a follow-up through", metadata: ["error": "\(error)"])
            return .noProvider
        }
        // Outside WhatsApp's 24-hour window the Cloud API takes only approved templates (Uazapi
        // speaks WhatsApp Web, which has no such window).
        let needsTemplate = c.outsideWindow && providerType != .uazapi
        if needsTemplate && policy.template == nil { return .skippedWindow }

        let text = Template.render(policy.message, [
            "customer_name": .string(c.customerName ?? ""), "attempt": .number(Double(c.attempt)),
        ])
        let kind = needsTemplate ? "template" : "text"
        let body = needsTemplate ? policy.template!.name : text
        let payload: JSONValue = needsTemplate
            ? .object(["type": .string("template"), "template": .object([
                "name": .string(policy.template!.name), "language": .string(policy.template!.language)])])
            : .object(["type": .string("text"), "text": .object(["body": .string(text)])])

        let messageId: UUID
        do {
            switch try await claim(c, afterSeconds: policy.afterHours * 3600, kind: kind, body: body, payload: payload.jsonText,
                                   runId: runId, logger: logger) {
            case .claimed(let id): messageId = id
            case .taken: return .claimedElsewhere
            case .noLongerDue: return .noLongerDue
            }
        } catch {
            logger.error("could not record a follow-up before sending; not sent", metadata: ["error": "\(Database.describe(error))"])
            return .failed
        }

        let outcome: Result<SendReceipt, SendError>
        do {
            if needsTemplate, let template = policy.template {
                outcome = .success(try await sender.sendTemplate(to: c.waId, name: template.name, language: template.language,
                                                                 components: template.components))
            } else {
                outcome = .success(try await sender.sendText(to: c.waId, text: text))
            }
        } catch {
            outcome = .failure(error)
        }
        do {
            try await record(c, messageId: messageId, kind: kind, outcome: outcome, logger: logger)
        } catch {
            // The row stays pending: the next run marks it unknown rather than sending it again.
            logger.error("could not record a follow-up's outcome", metadata: ["error": "\(Database.describe(error))"])
        }
        if case .failure(let error) = outcome {
            logger.warning("follow-up failed", metadata: ["attempt": "\(c.attempt)", "error": "\(error)"])
            return .failed
        }
        return .sent
    }

    /// Checks the conversation is still due (a run can take minutes after its scan), writes the
    /// pending message and takes the (conversation, attempt) key, in one transaction.
    func claim(_ c: Candidate, afterSeconds: Double, kind: String, body: String, payload: String, runId: Int64,
               logger: Logger) async throws -> Claim {
        try await db.tenant(c.tenantId).transaction(logger: logger) { tx -> Claim in
            let due = try await tx.query("""
                SELECT 1 FROM active_conversations
                WHERE id = \(c.conversationId) AND status = 'open' AND NOT bot_paused
                  AND last_outbound_at <= now() - make_interval(secs => \(afterSeconds))
                  AND last_outbound_at > coalesce(last_inbound_at, '-infinity')
                """, logger: logger)
            guard try await due.decode(Int.self).first(where: { _ in true }) != nil else { return .noLongerDue }
            if let retry = c.retryMessageId {
                let rows = try await tx.query("""
                    UPDATE followups SET status = 'pending', tries = tries + 1, run_id = \(runId), kind = \(kind), error = NULL, updated_at = now()
                    WHERE conversation_id = \(c.conversationId) AND attempt = \(c.attempt) AND status = 'failed' AND tries < \(settings.maxTries)
                    RETURNING message_id
                    """, logger: logger)
                guard let messageId = try await rows.decode(UUID.self).first(where: { _ in true }), messageId == retry else { return .taken }
                try await tx.query("""
                    UPDATE chat_messages SET status = 'pending', type = \(kind), body = \(body), payload = \(payload)::jsonb,
                        error_code = NULL, error_title = NULL, occurred_at = now(), updated_at = now()
                    WHERE id = \(messageId)
                    """, logger: logger)
                return .claimed(messageId)
            }
            let messageId = UUID()
            let rows = try await tx.query("""
                WITH msg AS (
                    INSERT INTO chat_messages (id, tenant_id, conversation_id, customer_id, direction, type, body, payload, status, occurred_at)
                    VALUES (\(messageId), \(c.tenantId), \(c.conversationId), \(c.customerId), 'outbound', \(kind), \(body), \(payload)::jsonb,
                            'pending', now())
                    RETURNING id
                )
                INSERT INTO followups (tenant_id, conversation_id, attempt, message_id, kind, status, run_id)
                SELECT \(c.tenantId), \(c.conversationId), \(c.attempt), id, \(kind), 'pending', \(runId) FROM msg
                ON CONFLICT (conversation_id, attempt) DO NOTHING
                RETURNING message_id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else {
                // Someone holds the key: drop the message written for it.
                try await tx.query("DELETE FROM chat_messages WHERE id = \(messageId)", logger: logger)
                return .taken
            }
            return .claimed(messageId)
        }
    }

    func record(_ c: Candidate, messageId: UUID, kind: String, outcome: Result<SendReceipt, SendError>, logger: Logger) async throws {
        try await db.tenant(c.tenantId).transaction(logger: logger) { tx in
            switch outcome {
            case .success(let receipt):
                try await tx.query("UPDATE followups SET status = 'sent', updated_at = now() WHERE message_id = \(messageId)", logger: logger)
                try await ConversationService.markSent(tx, tenantId: c.tenantId, conversationId: c.conversationId, messageId: messageId,
                                                       receipt: receipt, logger: logger)
                try await tx.query("""
                    INSERT INTO conversation_events (tenant_id, conversation_id, type, data)
                    VALUES (\(c.tenantId), \(c.conversationId), 'followup_sent',
                            jsonb_build_object('message_id', \(messageId), 'attempt', \(c.attempt), 'kind', \(kind)))
                    """, logger: logger)
            case .failure(let error):
                try await tx.query("""
                    UPDATE followups SET status = 'failed', error = \(String(error.message.prefix(1000))), updated_at = now()
                    WHERE message_id = \(messageId)
                    """, logger: logger)
                try await ConversationService.markFailed(tx, messageId: messageId, error: error, logger: logger)
                try await tx.query("""
                    INSERT INTO conversation_events (tenant_id, conversation_id, type, data)
                    VALUES (\(c.tenantId), \(c.conversationId), 'followup_failed',
                            jsonb_build_object('message_id', \(messageId), 'attempt', \(c.attempt), 'error', \(error.code)))
                    """, logger: logger)
            }
        }
    }
}

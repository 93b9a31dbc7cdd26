import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Stores webhook deliveries with group commit: concurrent deliveries share transactions, and each
/// delivery is answered only after the transaction holding its messages committed. A batch that
/// fails is retried delivery by delivery, so one bad payload cannot fail its neighbours.
///
/// Writers (`WEBHOOK_INGEST_WRITERS`) each take whatever is queued (up to `WEBHOOK_INGEST_BATCH_MAX`
/// items) and write it with two statements; while they write, the next deliveries queue up, so
/// batches grow with load and stay at one delivery when idle (no added latency).
public final class WebhookIngestor: Service, Sendable {
    public struct Outcome: Sendable, Equatable {
        /// Messages newly stored (duplicates of stored ones are not counted).
        public var storedMessages: Int
        public var duplicateMessages: Int
        public var statuses: Int
    }

    struct Job {
        var batch: WebhookBatch
        var continuation: CheckedContinuation<Outcome, any Error>
    }

    struct State {
        var queue: [Job] = []
        var waiting: [CheckedContinuation<Bool, Never>] = []
        var stopped = false
    }

    /// Deliveries waiting for a writer, at most; beyond it Meta is asked to retry later (503).
    static let queueLimit = 20_000

    let db: DB
    let logger: Logger
    let writers: Int
    let batchMax: Int
    private let state = Mutex(State())
    /// Boxed: a closure kept directly in a Mutex is re-abstracted in place on every access, growing
    /// a chain of thunks (measured: the engine benchmark slowed down over time).
    final class Hook: Sendable {
        let call: @Sendable () -> Void
        init(_ call: @escaping @Sendable () -> Void) { self.call = call }
    }
    private let storedHook = Mutex<Hook?>(nil)

    /// Called after messages were stored (the flow engine wakes up).
    public func onStored(_ hook: @escaping @Sendable () -> Void) { storedHook.withLock { $0 = Hook(hook) } }

    /// How long one batch may take before it is abandoned (the database is away or stuck).
    let writeTimeout: Duration

    public init(db: DB, logger: Logger, writers: Int, batchMax: Int, writeTimeout: Duration = .seconds(10)) {
        self.db = db
        self.logger = logger
        self.writers = writers
        self.batchMax = batchMax
        self.writeTimeout = writeTimeout
    }

    /// Returns once everything in `batch` is committed (or throws when it could not be stored).
    /// Writers give up on a batch the database does not take within `writeTimeout`, so a caller
    /// never waits much longer than that, even while the database is away.
    public func submit(_ batch: WebhookBatch) async throws -> Outcome {
        if batch.messages.isEmpty && batch.statuses.isEmpty { return Outcome(storedMessages: 0, duplicateMessages: 0, statuses: 0) }
        return try await withCheckedThrowingContinuation { continuation in
            enum Admission { case accepted(CheckedContinuation<Bool, Never>?), stopped, full }
            let admission = state.withLock { state -> Admission in
                if state.stopped { return .stopped }
                if state.queue.count >= Self.queueLimit { return .full }
                state.queue.append(Job(batch: batch, continuation: continuation))
                return .accepted(state.waiting.isEmpty ? nil : state.waiting.removeFirst())
            }
            switch admission {
            case .accepted(let wake): wake?.resume(returning: true)
            case .stopped: continuation.resume(throwing: AppError(.unavailable, code: "shutting_down", "The server is shutting down; deliver again."))
            case .full: continuation.resume(throwing: AppError(.unavailable, code: "ingest_overloaded", "Too many deliveries are waiting; deliver again."))
            }
        }
    }

    public func run() async throws {
        await withTaskGroup(of: Void.self) { group in
            for _ in 0..<writers { group.addTask { await self.writerLoop() } }
            // Stop taking new work on shutdown; writers drain what is queued, then end.
            await withGracefulShutdownHandler {
                await group.waitForAll()
            } onGracefulShutdown: {
                self.stop()
            }
        }
    }

    func stop() {
        let waiters = state.withLock { state -> [CheckedContinuation<Bool, Never>] in
            state.stopped = true
            defer { state.waiting.removeAll() }
            return state.waiting
        }
        for waiter in waiters { waiter.resume(returning: false) }
    }

    private func writerLoop() async {
        while let jobs = await take() {
            await write(jobs)
        }
    }

    /// The next batch of queued jobs, waiting for one if needed; nil once stopped and drained.
    private func take() async -> [Job]? {
        while true {
            let taken = state.withLock { state -> [Job]? in
                guard !state.queue.isEmpty else { return nil }
                var count = 0
                var items = 0
                for job in state.queue {
                    let size = job.batch.messages.count + job.batch.statuses.count
                    if count > 0 && items + size > batchMax { break }
                    count += 1
                    items += size
                }
                let jobs = Array(state.queue.prefix(count))
                state.queue.removeFirst(count)
                return jobs
            }
            if let taken { return taken }
            // Cancellation (the service group giving up) stops the service like a graceful shutdown.
            let keepGoing = await withTaskCancellationHandler {
                await withCheckedContinuation { (continuation: CheckedContinuation<Bool, Never>) in
                    let resumeNow = state.withLock { state -> Bool? in
                        if !state.queue.isEmpty { return true }
                        if state.stopped { return false }
                        state.waiting.append(continuation)
                        return nil
                    }
                    if let resumeNow { continuation.resume(returning: resumeNow) }
                }
            } onCancel: {
                stop()
            }
            if !keepGoing { return nil }
        }
    }

    private func write(_ jobs: [Job]) async {
        var combined = WebhookBatch()
        for job in jobs {
            combined.messages += job.batch.messages
            combined.statuses += job.batch.statuses
        }
        do {
            let stored = try await storeWithTimeout(combined)
            if !stored.isEmpty, let hook = storedHook.withLock({ $0 }) { hook.call() }
            // Attribute each stored message to the first delivery that carried it (concurrent
            // redeliveries of one message share a batch; only one of them stored it).
            var unclaimed = stored
            for job in jobs {
                var mine = 0
                for message in job.batch.messages where unclaimed.remove(Key(message.tenantId, message.wamid)) != nil { mine += 1 }
                job.continuation.resume(returning: Outcome(storedMessages: mine, duplicateMessages: job.batch.messages.count - mine,
                                                           statuses: job.batch.statuses.count))
            }
        } catch where jobs.count > 1 && !Self.isAvailabilityFailure(error) {
            logger.warning("webhook batch failed; storing its deliveries one by one",
                           metadata: ["deliveries": "\(jobs.count)", "error": "\(Database.describe(error))"])
            for job in jobs { await write([job]) }
        } catch {
            logger.error("webhook deliveries could not be stored", metadata: ["deliveries": "\(jobs.count)", "error": "\(Database.describe(error))"])
            // The database is away or the data is refused: every delivery of the batch is answered
            // 5xx (Meta retries), none of them waits for the next attempt.
            let failure = Self.isAvailabilityFailure(error) ? AppError.databaseUnavailable : AppError.from(error)
            for job in jobs { job.continuation.resume(throwing: failure) }
        }
    }

    struct WriteTimeout: Error {}

    static func isAvailabilityFailure(_ error: any Error) -> Bool {
        error is WriteTimeout || Database.isUnavailable(error)
    }

    /// `store`, abandoned (cancelled) after `writeTimeout`.
    func storeWithTimeout(_ batch: WebhookBatch) async throws -> Set<Key> {
        try await withTimeout(writeTimeout, onTimeout: WriteTimeout()) { try await self.store(batch) }
    }

    struct Key: Hashable {
        var tenant: UUID
        var wamid: String
        init(_ tenant: UUID, _ wamid: String) {
            self.tenant = tenant
            self.wamid = wamid
        }
    }

    /// Writes messages and statuses in one transaction; returns the (tenant, wamid) of messages
    /// this write inserted. Two statements, whatever the batch size.
    func store(_ batch: WebhookBatch) async throws -> Set<Key> {
        // A batch holds the deliveries of several webhooks, so of several tenants (each message's
        // tenant is the one routing found for its phone number).
        try await db.platform(.webhookIngestion).transaction(logger: logger) { tx in try await write(batch, on: tx) }
    }

    private func write(_ batch: WebhookBatch, on tx: Tx) async throws -> Set<Key> {
        do {
            var inserted: Set<Key> = []
            if !batch.messages.isEmpty {
                let m = batch.messages
                let rows = try await tx.prepared(IngestMessages.self, """
                    WITH input AS (
                        SELECT tenant_id, provider_id, wa_id, nullif(profile_name, '') AS profile_name, wamid, type,
                               nullif(body, '') AS body, payload, occurred_at, ord
                        FROM unnest(\(m.map(\.tenantId))::uuid[], \(m.map { $0.providerId ?? $0.tenantId })::uuid[], \(m.map(\.waId))::text[],
                                    \(m.map { $0.profileName ?? "" })::text[], \(m.map(\.wamid))::text[], \(m.map(\.type))::text[],
                                    \(m.map { $0.body ?? "" })::text[], \(m.map(\.payloadJSON))::text[], \(m.map(\.occurredAt))::timestamptz[])
                            WITH ORDINALITY AS t(tenant_id, provider_id, wa_id, profile_name, wamid, type, body, payload, occurred_at, ord)
                    ),
                    fresh AS (
                        SELECT DISTINCT ON (i.tenant_id, i.wamid) i.* FROM input i
                        WHERE NOT EXISTS (SELECT 1 FROM chat_messages m WHERE m.tenant_id = i.tenant_id AND m.provider_message_id = i.wamid)
                        ORDER BY i.tenant_id, i.wamid, i.ord
                    ),
                    cust AS (
                        INSERT INTO customers AS c (tenant_id, wa_id, profile_name)
                        SELECT DISTINCT ON (tenant_id, wa_id) tenant_id, wa_id, profile_name FROM fresh ORDER BY tenant_id, wa_id, ord DESC
                        ON CONFLICT (tenant_id, wa_id) DO UPDATE
                            SET profile_name = coalesce(EXCLUDED.profile_name, c.profile_name), updated_at = now()
                        RETURNING c.id, c.tenant_id, c.wa_id
                    ),
                    conv AS (
                        INSERT INTO active_conversations AS a (tenant_id, customer_id, provider_id, last_message_at, last_inbound_at)
                        SELECT DISTINCT ON (f.tenant_id, cu.id) f.tenant_id, cu.id, f.provider_id, f.occurred_at, f.occurred_at
                        FROM fresh f JOIN cust cu ON cu.tenant_id = f.tenant_id AND cu.wa_id = f.wa_id
                        ORDER BY f.tenant_id, cu.id, f.occurred_at DESC
                        ON CONFLICT (tenant_id, customer_id) WHERE status = 'open' DO UPDATE SET
                            last_message_at = greatest(a.last_message_at, EXCLUDED.last_message_at),
                            last_inbound_at = greatest(a.last_inbound_at, EXCLUDED.last_inbound_at),
                            provider_id = coalesce(EXCLUDED.provider_id, a.provider_id),
                            updated_at = now()
                        RETURNING a.id, a.tenant_id, a.customer_id, (xmax = 0) AS created,
                                  -- For the bot: not handed over, and a flow is running or the tenant has one published.
                                  NOT a.bot_paused AND (a.flow_state IS NOT NULL OR EXISTS (
                                      SELECT 1 FROM flows fl WHERE fl.tenant_id = a.tenant_id AND fl.published_version IS NOT NULL
                                                              AND fl.deleted_at IS NULL)) AS for_bot
                    ),
                    msg AS (
                        INSERT INTO chat_messages (tenant_id, conversation_id, customer_id, direction, provider_message_id, type, body,
                                                   payload, status, occurred_at, awaiting_bot, created_at)
                        -- clock_timestamp(): messages of one batch keep their order for the engine.
                        SELECT f.tenant_id, cv.id, cu.id, 'inbound', f.wamid, f.type, f.body, f.payload::jsonb, 'received', f.occurred_at, cv.for_bot,
                               clock_timestamp()
                        FROM fresh f
                        JOIN cust cu ON cu.tenant_id = f.tenant_id AND cu.wa_id = f.wa_id
                        JOIN conv cv ON cv.tenant_id = f.tenant_id AND cv.customer_id = cu.id
                        ORDER BY f.ord
                        ON CONFLICT (tenant_id, provider_message_id) DO NOTHING
                        RETURNING id, tenant_id, conversation_id, provider_message_id, type, occurred_at, awaiting_bot
                    ),
                    -- The flow engine handles each conversation's new messages after the tenant's debounce.
                    queued AS (
                        INSERT INTO engine_queue AS q (conversation_id, tenant_id, due_at)
                        SELECT DISTINCT ON (m.conversation_id) m.conversation_id, m.tenant_id,
                               now() + make_interval(secs => CASE WHEN jsonb_typeof(cl.tools_config -> 'debounce_ms') = 'number'
                                   THEN least(greatest((cl.tools_config ->> 'debounce_ms')::numeric, 0), 60000) / 1000.0 ELSE 0 END)
                        FROM msg m JOIN clients cl ON cl.id = m.tenant_id
                        WHERE m.awaiting_bot
                        ORDER BY m.conversation_id
                        ON CONFLICT (conversation_id) DO UPDATE SET due_at = EXCLUDED.due_at, generation = q.generation + 1
                        RETURNING 1
                    ),
                    ev AS (
                        INSERT INTO conversation_events (tenant_id, conversation_id, type, data, occurred_at)
                        SELECT tenant_id, id, 'conversation_started', '{}'::jsonb, now() FROM conv WHERE created
                        UNION ALL
                        SELECT tenant_id, conversation_id, 'message_received',
                               jsonb_build_object('message_id', id, 'message_type', type), occurred_at FROM msg
                        RETURNING 1
                    )
                    SELECT msg.tenant_id, msg.provider_message_id, (SELECT count(*) FROM ev)::int8 + (SELECT count(*) FROM queued)::int8 FROM msg
                    """, logger: logger)
                for row in rows {
                    let (tenant, wamid, _) = try row.decode((UUID, String, Int).self)
                    inserted.insert(Key(tenant, wamid))
                }
            }
            if !batch.statuses.isEmpty {
                let s = batch.statuses
                _ = try await tx.prepared(IngestStatuses.self, """
                    WITH input AS (
                        SELECT tenant_id, wamid, status, nullif(error_code, '') AS error_code, nullif(error_title, '') AS error_title, occurred_at
                        FROM unnest(\(s.map(\.tenantId))::uuid[], \(s.map(\.wamid))::text[], \(s.map(\.status))::text[],
                                    \(s.map { $0.errorCode ?? "" })::text[], \(s.map { $0.errorTitle ?? "" })::text[],
                                    \(s.map(\.occurredAt))::timestamptz[])
                            AS t(tenant_id, wamid, status, error_code, error_title, occurred_at)
                    ),
                    logged AS (
                        INSERT INTO message_statuses (tenant_id, provider_message_id, status, error_code, error_title, occurred_at)
                        SELECT tenant_id, wamid, status, error_code, error_title, occurred_at FROM input
                    ),
                    best AS (
                        SELECT DISTINCT ON (tenant_id, wamid) * FROM input
                        ORDER BY tenant_id, wamid, pytake_status_rank(status) DESC, occurred_at DESC
                    )
                    UPDATE chat_messages m SET
                        status = b.status,
                        error_code = CASE WHEN b.status = 'failed' THEN b.error_code ELSE m.error_code END,
                        error_title = CASE WHEN b.status = 'failed' THEN b.error_title ELSE m.error_title END,
                        updated_at = now()
                    FROM best b
                    WHERE m.tenant_id = b.tenant_id AND m.provider_message_id = b.wamid AND m.direction = 'outbound'
                      AND pytake_status_rank(b.status) > pytake_status_rank(m.status)
                    """, logger: logger)
            }
            return inserted
        }
    }
}

/// The webhook's statements, prepared once per connection.
enum IngestMessages {}
enum IngestStatuses {}

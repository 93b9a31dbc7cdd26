import AsyncHTTPClient
import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Runs published flows on stored customer messages, outside the webhook request.
///
/// The webhook queues each conversation with new messages in `engine_queue` (due after the
/// tenant's debounce). Workers claim due conversations with `FOR UPDATE SKIP LOCKED` and a lease,
/// so replicas share the work and one conversation has one turn at a time. A turn reads the
/// conversation's unhandled messages, runs the flow (`FlowRunner`) from the stored state, and
/// commits in one transaction: messages handled, replies queued in `engine_outbox`, events, the
/// new state. Replies are sent after the commit, in order, each marked attempted first: a crash
/// before the commit runs the turn again (nothing was sent), a crash after it never sends a
/// reply twice.
public final class FlowEngine: Service, Sendable {
    let db: DB
    let logger: Logger
    let settings: EngineSettings
    let catalog: FlowCatalog
    let tenants: EngineTenantSettings
    let modules: ModuleRegistry
    let limiter: ModuleRateLimiter
    let outbound: Outbound
    let http: HTTPClient
    /// The engine's statements at once, at most (three quarters of the pool): it shares the pool with the webhook and the API,
    /// which must not wait behind a backlog of turns.
    let permits: Permits
    /// The longest one reply's send may take (every attempt timing out, plus backoff): a reply is
    /// given up by the recovery only after its turn's lease plus this per reply.
    let sendBudgetSeconds: Int
    private let stopping = Atomic<Bool>(false)
    private let inFlight = Atomic<Int>(0)
    private let recorder = Mutex<(items: [Finished], waiter: CheckedContinuation<Void, Never>?, stopped: Bool)>(([], nil, false))
    private let signal = Mutex<(pending: Bool, waiter: CheckedContinuation<Void, Never>?)>((false, nil))

    public init(db: DB, logger: Logger, settings: EngineSettings, catalog: FlowCatalog, tenants: EngineTenantSettings,
                modules: ModuleRegistry, outbound: Outbound, http: HTTPClient, databaseConnections: Int, sendBudgetSeconds: Int) {
        self.db = db
        self.logger = logger
        self.settings = settings
        self.catalog = catalog
        self.tenants = tenants
        self.modules = modules
        self.limiter = ModuleRateLimiter(perMinute: settings.moduleRatePerMinute)
        self.outbound = outbound
        self.http = http
        self.permits = Permits(max(1, databaseConnections * 3 / 4))
        self.sendBudgetSeconds = sendBudgetSeconds
    }

    /// New work may be due (called after the webhook stored messages).
    public func wake() {
        let waiter = signal.withLock { state -> CheckedContinuation<Void, Never>? in
            defer { state.waiter = nil }
            if state.waiter == nil { state.pending = true }
            return state.waiter
        }
        waiter?.resume()
    }

    private func sleep(upTo duration: Duration) async {
        await withTaskGroup(of: Void.self) { group in
            group.addTask {
                await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
                    let resumeNow = self.signal.withLock { state -> Bool in
                        if state.pending {
                            state.pending = false
                            return true
                        }
                        state.waiter = continuation
                        return false
                    }
                    if resumeNow { continuation.resume() }
                }
            }
            group.addTask { try? await Task.sleep(for: duration) }
            await group.next()
            self.wake()  // releases the other child when the timer won
            group.cancelAll()
            await group.waitForAll()
            self.signal.withLock { $0.pending = false }
        }
    }

    public func run() async throws {
        guard settings.enabled else {
            try? await gracefulShutdown()
            return
        }
        await withGracefulShutdownHandler {
            await withTaskGroup(of: Void.self) { group in
                group.addTask { await self.recordLoop() }
                group.addTask {
                    await withTaskGroup(of: Void.self) { workers in
                        workers.addTask { await self.dispatch() }
                        workers.addTask { await self.maintain() }
                        await workers.waitForAll()
                    }
                    // Turns are done: record their last outcomes, then stop.
                    self.stopRecorder()
                }
                await group.waitForAll()
            }
        } onGracefulShutdown: {
            self.stopping.store(true, ordering: .relaxed)
            self.wake()
        }
    }

    // MARK: Claiming

    struct Claim: Sendable {
        var conversationId: UUID
        var tenantId: UUID
        var generation: Int64
        var failures: Int
        var token: UUID
        /// The conversation as the claim read it; nil when it is gone.
        var loaded: Loaded?
    }

    private func dispatch() async {
        // Discarding: a plain task group keeps every finished child until it is awaited, which
        // here would grow memory with every turn.
        await withDiscardingTaskGroup { group in
            while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
                let free = settings.concurrency - inFlight.load(ordering: .relaxed)
                var claimed: [Claim] = []
                if free > 0 {
                    do {
                        claimed = try await claim(limit: min(free, 64))
                    } catch {
                        if stopping.load(ordering: .relaxed) || Task.isCancelled { break }
                        logger.warning("engine could not claim turns", metadata: ["error": "\(Database.describe(error))"])
                        await sleep(upTo: .seconds(1))
                        continue
                    }
                }
                for item in claimed {
                    inFlight.add(1, ordering: .relaxed)
                    group.addTask {
                        await self.process(item)
                        self.inFlight.subtract(1, ordering: .relaxed)
                        self.wake()
                    }
                }
                if claimed.isEmpty || claimed.count == free {
                    await sleep(upTo: .milliseconds(settings.pollMilliseconds))
                }
            }
        }
    }

    /// Claims due conversations and reads what their turns need, in one statement. What it read
    /// may miss a message committed meanwhile: the commit then sees the generation moved or the
    /// message still waiting, and keeps the conversation queued.
    func claim(limit: Int) async throws -> [Claim] {
        let token = UUID()
        let rows = try await permits.with { try await db.platform(.engineQueue).prepared(EngineClaim.self, """
            WITH due AS (
                SELECT conversation_id FROM engine_queue
                WHERE due_at <= now() AND (lease_until IS NULL OR lease_until < now())
                  -- One turn at a time, sends included: the previous turn's replies go out first.
                  AND NOT EXISTS (SELECT 1 FROM engine_outbox o WHERE o.conversation_id = engine_queue.conversation_id)
                ORDER BY due_at LIMIT \(limit) FOR UPDATE SKIP LOCKED
            ),
            claimed AS (
                UPDATE engine_queue q SET lease_token = \(token), lease_until = now() + make_interval(secs => \(settings.leaseSeconds))
                FROM due WHERE q.conversation_id = due.conversation_id
                RETURNING q.conversation_id, q.tenant_id, q.generation, q.failures
            )
            SELECT c.conversation_id, c.tenant_id, c.generation, c.failures,
                   a.status = 'open', a.bot_paused, a.flow_state::text, a.provider_id, cu.wa_id, cu.profile_name, cu.erased_at IS NOT NULL,
                   coalesce((SELECT json_agg(json_build_object('id', m.id, 'body', m.body, 'type', m.type) ORDER BY m.created_at, m.id)
                             FROM chat_messages m WHERE m.conversation_id = c.conversation_id AND m.awaiting_bot), '[]')::text
            FROM claimed c
            LEFT JOIN active_conversations a ON a.id = c.conversation_id
            LEFT JOIN customers cu ON cu.id = a.customer_id
            """, logger: logger) }
        var claims: [Claim] = []
        for row in rows {
            typealias Row = (UUID, UUID, Int64, Int, Bool?, Bool?, String?, UUID?, String?, String?, Bool?, String)
            let r = try row.decode(Row.self)
            var loaded: Loaded?
            if let open = r.4, let paused = r.5, let waId = r.8, let erased = r.10 {
                loaded = Loaded(open: open, paused: paused, state: FlowState.decode(r.6), providerId: r.7, waId: waId, customerName: r.9,
                                erased: erased, messages: (try? JSONDecoder().decode([Pending].self, from: Data(r.11.utf8))) ?? [])
            }
            claims.append(Claim(conversationId: r.0, tenantId: r.1, generation: r.2, failures: r.3, token: token, loaded: loaded))
        }
        return claims
    }

    // MARK: A turn

    struct Pending: Sendable, Decodable {
        var id: UUID
        var body: String?
        var type: String
    }

    struct Loaded: Sendable {
        var open: Bool
        var paused: Bool
        var state: FlowState?
        var providerId: UUID?
        var waId: String
        var customerName: String?
        var erased: Bool
        var messages: [Pending]
    }

    struct Outcome: Sendable {
        var handled: [UUID]
        var replies: [BotReply] = []
        var events: [FlowEvent] = []
        var state: FlowState?
        var keepState: Bool
        var handoff: FlowRunner.Handoff?
        /// The customer's number and the provider instance they wrote to.
        var recipient: (to: String, providerId: UUID?)?
    }

    func process(_ claim: Claim) async {
        let started = ContinuousClock.now
        do {
            let outcome = try await withTimeout(.seconds(max(1, settings.leaseSeconds - 2)), onTimeout: TurnTimeout()) { try await self.turn(claim) }
            guard let committed = try await commit(claim, outcome) else { return }
            Telemetry.engineTurn("ok", duration: ContinuousClock.now - started)
            if let recipient = outcome.recipient {
                await send(committed, tenantId: claim.tenantId, conversationId: claim.conversationId, recipient: recipient)
            }
        } catch {
            // Stopping: the lease expires and another worker (or this one, restarted) takes the turn over.
            if error is CancellationError || Task.isCancelled { return }
            await failed(claim, error)
        }
    }

    struct TurnTimeout: Error, CustomStringConvertible {
        var description: String { "the turn ran out of time (lease)" }
    }

    func turn(_ claim: Claim) async throws -> Outcome {
        guard let loaded = claim.loaded else { return Outcome(handled: [], keepState: true) }
        let handled = loaded.messages.map(\.id)
        let tenant = try await tenants.get(claim.tenantId)
        // Nothing to answer: a closed or erased conversation, a suspended tenant, a human in charge.
        if !loaded.open || loaded.erased || !tenant.active || loaded.paused {
            return Outcome(handled: handled, keepState: true)
        }
        let input: String? = loaded.messages.isEmpty ? nil
            : loaded.messages.compactMap { $0.body?.isEmpty == false ? $0.body : nil }.joined(separator: "\n")
        var state = loaded.state
        var flow: (id: UUID, version: Int)
        var definition: FlowDefinition?
        if let current = state {
            flow = (current.flowId, current.version)
            definition = try await catalog.definition(flowId: current.flowId, version: current.version, tenant: claim.tenantId)
            if definition == nil { state = nil }
            // Handed back by an agent, from a handoff with nowhere to go: the conversation starts over.
            if current.status == .handedOff, let definition, FlowRunner.Graph(definition).next(current.node, "next") == nil { state = nil }
        } else {
            flow = (UUID(), 0)
        }
        if state == nil {
            guard let input, let candidate = try await catalog.flow(for: input, tenant: claim.tenantId),
                  let found = try await catalog.definition(flowId: candidate.flowId, version: candidate.version, tenant: claim.tenantId) else {
                return Outcome(handled: handled, state: nil, keepState: loaded.state == nil)
            }
            flow = (candidate.flowId, candidate.version)
            definition = found
        }
        let context: [String: JSONValue] = [
            "customer_name": .string(loaded.customerName ?? ""), "customer_phone": .string(loaded.waId),
            "last_message": .string(input ?? (state?.variables["last_message"]?.string ?? "")),
        ]
        let runner = FlowRunner(modules: moduleInvoker(tenantId: claim.tenantId, conversationId: claim.conversationId, settings: tenant.modules))
        let result = await runner.turn(definition: definition!, flowId: flow.id, version: flow.version, state: state, input: input, context: context)
        return Outcome(handled: handled, replies: result.replies, events: result.events, state: result.state, keepState: false,
                       handoff: result.handoff, recipient: (loaded.waId, loaded.providerId))
    }

    /// Module runs for the engine: the node's timeout (`timeout_ms`, default 10 s) and retry policy
    /// (`retry: {attempts, delay_ms}`), the tenant's rate limit, the Postgres cache.
    func moduleInvoker(tenantId: UUID, conversationId: UUID?, settings tenantSettings: ModuleTenantSettings,
                       cache: (any ModuleCacheStore)? = nil, history: (@Sendable (Int) async -> [ChatLine])? = nil,
                       simulation: Bool = false) -> ModuleInvoker {
        let registry = modules
        let limiter = limiter
        let db = db
        let logger = logger
        let http = http
        let settings = settings
        return { node, name, with, variables in
            guard limiter.take(tenantId) else {
                return ModuleRunResult(output: .failure(ModuleFailure(
                    "the tenant's module rate limit (\(settings.moduleRatePerMinute) per minute) is reached", retryable: false)))
            }
            let config = node.config ?? [:]
            let timeout = Int(min(max(config["timeout_ms"]?.number ?? 10_000, 100), Double(settings.moduleMaxTimeoutMilliseconds)))
            let attempts = Int(min(max(config["retry"]?["attempts"]?.number ?? 1, 1), 5))
            let delay = Int(min(max(config["retry"]?["delay_ms"]?.number ?? 0, 0), 60_000))
            let effects = ModuleEffects()
            let context = ModuleContext(
                tenantId: tenantId, conversationId: conversationId, variables: variables, http: http,
                allowPrivateNetworks: settings.moduleAllowPrivateNetworks, timeout: .milliseconds(timeout), settings: tenantSettings,
                cache: cache ?? PostgresModuleCache(db: db, tenantId: tenantId, logger: logger),
                history: history ?? { limit in
                    guard let conversationId else { return [] }
                    return (try? await FlowEngine.history(db: db, logger: logger, tenantId: tenantId, conversationId: conversationId, limit: limit)) ?? []
                },
                effects: effects, simulation: simulation)
            do throws(ModuleFailure) {
                let output = try await registry.run(name, with: with, context: context, attempts: attempts, delay: .milliseconds(delay))
                return ModuleRunResult(output: .success(output), replies: effects.replies)
            } catch {
                return ModuleRunResult(output: .failure(error))
            }
        }
    }

    static func history(db: DB, logger: Logger, tenantId: UUID, conversationId: UUID, limit: Int) async throws -> [ChatLine] {
        guard limit > 0 else { return [] }
        let rows = try await db.tenant(tenantId).query("""
            SELECT direction, body FROM chat_messages
            WHERE conversation_id = \(conversationId) AND body IS NOT NULL AND status <> 'failed'
            ORDER BY occurred_at DESC, created_at DESC LIMIT \(limit)
            """, logger: logger)
        var lines: [ChatLine] = []
        for try await (direction, body) in rows.decode((String, String).self) {
            lines.append(ChatLine(role: direction == "inbound" ? "user" : "assistant", text: body))
        }
        return lines.reversed()
    }

    // MARK: Commit

    struct QueuedReply: Sendable {
        var messageId: UUID
        var reply: BotReply
    }

    /// Records the turn in one statement (atomic without a transaction block: one round trip);
    /// nil when the lease was lost (another worker took the conversation over).
    ///
    /// The conversation, then the queue row, are locked first. When an agent paused the bot while
    /// the turn ran, the turn says nothing and leaves the flow where it was (its messages are
    /// still handled). The queue row goes away unless messages arrived meanwhile (the generation
    /// moved) or a `wait` node set a timer.
    func commit(_ claim: Claim, _ outcome: Outcome) async throws -> [QueuedReply]? {
        let replies = outcome.replies.map { QueuedReply(messageId: UUID(), reply: $0) }
        let payloads = replies.map { Self.payload($0.reply) }
        let waitUntil = outcome.keepState ? nil : outcome.state?.waitUntil
        let rows = try await permits.with { try await db.tenant(claim.tenantId).prepared(EngineCommit.self, """
            -- The conversation is locked before the queue row, in the order the webhook's statement
            -- locks them (it upserts the conversation, then queues it): no deadlock between the two.
            WITH locked AS (
                SELECT a.tenant_id, a.customer_id, (\(outcome.keepState) OR NOT a.bot_paused) AS go
                FROM active_conversations a WHERE a.id = \(claim.conversationId) FOR UPDATE
            ),
            lease AS (
                SELECT q.generation, l.tenant_id, l.customer_id, l.go FROM engine_queue q, locked l
                WHERE q.conversation_id = \(claim.conversationId) AND q.lease_token = \(claim.token) FOR UPDATE OF q
            ),
            handled AS (
                UPDATE chat_messages SET awaiting_bot = false
                WHERE id = ANY(\(outcome.handled)::uuid[]) AND awaiting_bot AND EXISTS (SELECT 1 FROM lease)
                RETURNING 1
            ),
            conv AS (
                UPDATE active_conversations a SET
                    -- Text, never NULL, in the binding: a prepared statement keeps the parameter types of its first call.
                    flow_state = CASE WHEN \(outcome.keepState) THEN a.flow_state ELSE nullif(\(outcome.state?.json ?? ""), '')::jsonb END,
                    bot_paused = a.bot_paused OR \(outcome.handoff != nil),
                    -- Only an agent or admin of this tenant (a flow may name anyone).
                    assignee_id = coalesce((SELECT u.id FROM users u WHERE u.id = \(outcome.handoff?.assignee)::uuid
                                              AND u.tenant_id = lease.tenant_id AND u.role IN ('tenant_admin', 'agent')), a.assignee_id),
                    last_outbound_at = CASE WHEN \(replies.count) > 0 THEN now() ELSE a.last_outbound_at END,
                    last_message_at = CASE WHEN \(replies.count) > 0 THEN greatest(a.last_message_at, now()) ELSE a.last_message_at END,
                    updated_at = now()
                FROM lease WHERE a.id = \(claim.conversationId) AND lease.go
                RETURNING a.id
            ),
            msgs AS (
                INSERT INTO chat_messages (id, tenant_id, conversation_id, customer_id, direction, type, body, payload, status, occurred_at)
                SELECT r.id, l.tenant_id, \(claim.conversationId), l.customer_id, 'outbound', r.type, r.body, r.payload::jsonb, 'pending',
                       clock_timestamp()
                FROM lease l, unnest(\(replies.map(\.messageId))::uuid[], \(payloads.map(\.type))::text[], \(replies.map(\.reply.text))::text[],
                                      \(payloads.map(\.json))::text[]) WITH ORDINALITY AS r(id, type, body, payload, ord)
                WHERE l.go
                ORDER BY r.ord
                RETURNING id
            ),
            outbox AS (
                -- The replies leave right after this commit, in order; they stay here until their outcome is recorded.
                INSERT INTO engine_outbox (message_id, tenant_id, conversation_id, claim_until)
                SELECT r.id, \(claim.tenantId), \(claim.conversationId),
                       now() + make_interval(secs => \(settings.leaseSeconds + replies.count * sendBudgetSeconds))
                FROM unnest(\(replies.map(\.messageId))::uuid[]) WITH ORDINALITY AS r(id, ord)
                WHERE r.id IN (SELECT id FROM msgs)
                ORDER BY r.ord
            ),
            events AS (
                INSERT INTO conversation_events (tenant_id, conversation_id, type, data)
                SELECT \(claim.tenantId), \(claim.conversationId), e.type, e.data::jsonb
                FROM lease l, unnest(\(outcome.events.map(\.type))::text[], \(outcome.events.map { JSONValue.object($0.data).jsonText })::text[])
                    WITH ORDINALITY AS e(type, data, ord)
                WHERE l.go
                ORDER BY e.ord
            ),
            -- Messages this turn did not see (committed after its read) keep the conversation queued.
            unseen AS (
                SELECT EXISTS (SELECT 1 FROM chat_messages m WHERE m.conversation_id = \(claim.conversationId) AND m.awaiting_bot
                                                                AND m.id <> ALL(\(outcome.handled)::uuid[])) AS any
            ),
            dequeued AS (
                DELETE FROM engine_queue q USING lease, unseen
                WHERE q.conversation_id = \(claim.conversationId) AND lease.generation = \(claim.generation) AND NOT unseen.any
                  AND NOT (\(waitUntil)::timestamptz IS NOT NULL AND EXISTS (SELECT 1 FROM conv))
                RETURNING 1
            ),
            requeued AS (
                -- Messages arrived during the turn (the row stays due: the webhook set its time), or a timer runs.
                UPDATE engine_queue q SET lease_token = NULL, lease_until = NULL, failures = 0, last_error = NULL,
                    due_at = CASE WHEN unseen.any THEN least(q.due_at, now())
                                  WHEN \(waitUntil)::timestamptz IS NULL OR NOT EXISTS (SELECT 1 FROM conv) THEN q.due_at
                                  WHEN lease.generation = \(claim.generation) THEN \(waitUntil)::timestamptz
                                  ELSE least(q.due_at, \(waitUntil)::timestamptz) END
                FROM lease, unseen
                WHERE q.conversation_id = \(claim.conversationId)
                  AND NOT (lease.generation = \(claim.generation) AND NOT unseen.any
                           AND NOT (\(waitUntil)::timestamptz IS NOT NULL AND EXISTS (SELECT 1 FROM conv)))
                RETURNING 1
            )
            SELECT EXISTS (SELECT 1 FROM lease), coalesce((SELECT go FROM lease), false),
                   (SELECT count(*) FROM handled)::int8 + (SELECT count(*) FROM dequeued)::int8 + (SELECT count(*) FROM requeued)::int8
            """, logger: logger) }
        guard let (leased, go, _) = try rows.first?.decode((Bool, Bool, Int).self), leased else {
            logger.warning("engine lease lost; the turn is discarded", metadata: ["conversation": "\(claim.conversationId)"])
            return nil
        }
        return go ? replies : []
    }

    static func payload(_ reply: BotReply) -> (type: String, json: String) {
        if let choices = reply.choices, !choices.isEmpty {
            let value: JSONValue = .object(["type": .string("choices"), "text": .object(["body": .string(reply.text)]),
                                            "choices": .array(choices.map(JSONValue.string)), "node_id": .string(reply.nodeId)])
            return ("interactive", value.jsonText)
        }
        let value: JSONValue = .object(["type": .string("text"), "text": .object(["body": .string(reply.text)]), "node_id": .string(reply.nodeId)])
        return ("text", value.jsonText)
    }

    /// A turn failed (database, deadline): it is retried with backoff, and given up after
    /// `maxFailures` (its messages stay for the agents, a `flow_failed` event says why).
    func failed(_ claim: Claim, _ error: any Error) async {
        let failures = claim.failures + 1
        let message = String(Database.describe(error).prefix(500))
        Telemetry.engineTurn(failures >= settings.maxFailures ? "gave_up" : "failed")
        logger.error("engine turn failed", metadata: ["conversation": "\(claim.conversationId)", "failures": "\(failures)", "error": "\(message)"])
        do {
            if failures >= settings.maxFailures {
                try await db.tenant(claim.tenantId).transaction(logger: logger) { tx in
                    let rows = try await tx.query("""
                        DELETE FROM engine_queue WHERE conversation_id = \(claim.conversationId) AND lease_token = \(claim.token) RETURNING 1
                        """, logger: logger)
                    guard try await rows.decode(Int.self).first(where: { _ in true }) != nil else { return }
                    try await tx.query("""
                        WITH handled AS (
                            UPDATE chat_messages SET awaiting_bot = false WHERE conversation_id = \(claim.conversationId) AND awaiting_bot
                        )
                        INSERT INTO conversation_events (tenant_id, conversation_id, type, data)
                        VALUES (\(claim.tenantId), \(claim.conversationId), 'flow_failed',
                                jsonb_build_object('error', \(message)::text, 'attempts', \(failures)))
                        """, logger: logger)
                }
            } else {
                let backoff = min(300, 1 << min(failures, 8))
                try await db.tenant(claim.tenantId).query("""
                    UPDATE engine_queue SET lease_token = NULL, lease_until = NULL, failures = \(failures), last_error = \(message),
                        due_at = now() + make_interval(secs => \(backoff))
                    WHERE conversation_id = \(claim.conversationId) AND lease_token = \(claim.token)
                    """, logger: logger)
            }
        } catch {
            // The lease expires on its own and the turn is taken over.
            logger.warning("engine could not record a failed turn", metadata: ["error": "\(Database.describe(error))"])
        }
    }

    // MARK: Sending

    /// Sends committed replies in order (the commit marked them attempted); outcomes are recorded
    /// in batches (`Finished`).
    func send(_ replies: [QueuedReply], tenantId: UUID, conversationId: UUID, recipient: (to: String, providerId: UUID?)) async {
        guard !replies.isEmpty else { return }
        let sender: any MessageSender
        do {
            sender = try await outbound.sender(tenantId: tenantId, preferring: recipient.providerId).sender
        } catch {
            let failure = SendError(.unavailable, .meta, (error as? AppError)?.detail ?? Database.describe(error))
            for reply in replies { finished(Finished(messageId: reply.messageId, tenantId: tenantId, conversationId: conversationId, result: .failure(failure))) }
            return
        }
        for reply in replies {
            let result: Result<SendReceipt, SendError>
            do {
                if let choices = reply.reply.choices, !choices.isEmpty {
                    result = .success(try await sender.sendChoices(to: recipient.to, text: reply.reply.text, choices: choices))
                } else {
                    result = .success(try await sender.sendText(to: recipient.to, text: reply.reply.text))
                }
            } catch {
                result = .failure(error)
            }
            finished(Finished(messageId: reply.messageId, tenantId: tenantId, conversationId: conversationId, result: result))
        }
    }

    /// A reply's send outcome, waiting to be recorded.
    struct Finished: Sendable {
        var messageId: UUID
        var tenantId: UUID
        var conversationId: UUID
        var result: Result<SendReceipt, SendError>
    }

    /// Queues an outcome for the recorder, which writes whatever is queued in one statement (group
    /// commit). An outcome lost in a crash leaves its reply attempted in the outbox: the recovery
    /// marks it failed, never sends it again.
    func finished(_ item: Finished) {
        let waiter = recorder.withLock { state -> CheckedContinuation<Void, Never>? in
            state.items.append(item)
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    private func recordLoop() async {
        while true {
            enum Next { case write([Finished]), wait, stop }
            let next = recorder.withLock { state -> Next in
                if !state.items.isEmpty {
                    defer { state.items.removeAll(keepingCapacity: true) }
                    return .write(state.items)
                }
                return state.stopped ? .stop : .wait
            }
            switch next {
            case .write(let items):
                await write(items)
                // Their conversations may take their next turn now.
                wake()
            case .stop: return
            case .wait:
                await withCheckedContinuation { (wake: CheckedContinuation<Void, Never>) in
                    let ready = recorder.withLock { state -> Bool in
                        if !state.items.isEmpty || state.stopped { return true }
                        state.waiter = wake
                        return false
                    }
                    if ready { wake.resume() }
                }
            }
        }
    }

    private func stopRecorder() {
        let waiter = recorder.withLock { state -> CheckedContinuation<Void, Never>? in
            state.stopped = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume()
    }

    /// Records send outcomes and takes the replies out of the outbox, in one statement.
    func write(_ items: [Finished]) async {
        var oks: [Bool] = []
        var wamids: [String] = []
        var codes: [String] = []
        var titles: [String] = []
        for item in items {
            switch item.result {
            case .success(let receipt):
                oks.append(true)
                wamids.append(receipt.providerMessageId ?? "")
                codes.append("")
                titles.append("")
            case .failure(let error):
                oks.append(false)
                wamids.append("")
                codes.append(error.code)
                titles.append(String(error.message.prefix(500)))
            }
        }
        do {
            _ = try await permits.with { try await db.platform(.engineQueue).prepared(EngineRecord.self, """
                WITH input AS (
                    SELECT * FROM unnest(\(items.map(\.messageId))::uuid[], \(oks)::bool[], \(wamids)::text[], \(codes)::text[], \(titles)::text[])
                        AS t(id, ok, wamid, code, title)
                ),
                gone AS (DELETE FROM engine_outbox o USING input i WHERE o.message_id = i.id),
                sent AS (
                    UPDATE chat_messages m SET provider_message_id = nullif(i.wamid, ''), updated_at = now(),
                        status = CASE WHEN NOT i.ok THEN 'failed' ELSE coalesce((
                            SELECT s.status FROM message_statuses s
                            WHERE s.tenant_id = m.tenant_id AND s.provider_message_id = i.wamid
                              AND pytake_status_rank(s.status) > pytake_status_rank('sent')
                            ORDER BY pytake_status_rank(s.status) DESC LIMIT 1), 'sent') END,
                        error_code = nullif(i.code, ''), error_title = nullif(i.title, '')
                    FROM input i
                    -- A send that succeeded after the recovery gave it up still counts.
                    WHERE m.id = i.id AND (m.status = 'pending' OR (i.ok AND m.status = 'failed' AND m.provider_message_id IS NULL))
                    RETURNING m.id, m.tenant_id, m.conversation_id, m.status
                )
                INSERT INTO conversation_events (tenant_id, conversation_id, type, data)
                SELECT tenant_id, conversation_id, CASE WHEN status = 'failed' THEN 'message_failed' ELSE 'message_sent' END,
                       jsonb_build_object('message_id', id, 'by', 'bot')
                FROM sent
                """, logger: logger) }
        } catch {
            // The replies stay attempted in the outbox; the recovery marks them failed after their claim.
            logger.error("engine could not record send outcomes", metadata: ["replies": "\(items.count)", "error": "\(Database.describe(error))"])
        }
    }

    // MARK: Maintenance

    /// Recovers replies a dead worker left in the outbox and sweeps expired cache entries.
    private func maintain() async {
        var round = 0
        while !stopping.load(ordering: .relaxed) && !Task.isCancelled {
            try? await Task.sleep(for: .milliseconds(min(5_000, max(500, settings.leaseSeconds * 250))))
            if stopping.load(ordering: .relaxed) { break }
            do {
                _ = try await recoverOutbox()
                round += 1
                if round % 12 == 0 { _ = try await PostgresModuleCache.sweep(db: db, logger: logger) }
            } catch {
                if stopping.load(ordering: .relaxed) || Task.isCancelled { break }
                logger.warning("engine maintenance failed", metadata: ["error": "\(Database.describe(error))"])
            }
        }
    }

    /// Replies whose worker stopped between the turn's commit and their send (a crash: a graceful
    /// stop finishes its sends): they may or may not have reached WhatsApp, and there is no way to
    /// ask, so they are marked failed (agents see them) and never sent again.
    public func recoverOutbox() async throws -> Int {
        let rows = try await db.platform(.engineQueue).query("""
            WITH stale AS (
                SELECT seq FROM engine_outbox WHERE claim_until < now() ORDER BY seq LIMIT 500 FOR UPDATE SKIP LOCKED
            )
            UPDATE engine_outbox o SET claim_until = now() + make_interval(secs => \(settings.leaseSeconds))
            FROM stale WHERE o.seq = stale.seq
            RETURNING o.message_id, o.tenant_id, o.conversation_id
            """, logger: logger)
        var found: [Finished] = []
        for try await (message, tenant, conversation) in rows.decode((UUID, UUID, UUID).self) {
            found.append(Finished(messageId: message, tenantId: tenant, conversationId: conversation, result: .failure(Self.interrupted)))
        }
        guard !found.isEmpty else { return 0 }
        logger.warning("engine marks failed the replies a stopped worker left unsent", metadata: ["replies": "\(found.count)"])
        await write(found)
        return found.count
    }

    static let interrupted = SendError(.unavailable, .meta,
                                       "The sender stopped while sending; the reply may or may not have been delivered, so it is not sent again.")

}

/// The engine's hot statements, prepared once per connection.
enum EngineClaim {}
enum EngineCommit {}
enum EngineRecord {}

/// A counting semaphore for async code.
final class Permits: Sendable {
    private let state: Mutex<(available: Int, waiters: [CheckedContinuation<Void, Never>])>

    init(_ count: Int) { state = Mutex((count, [])) }

    func with<T>(_ body: () async throws -> T) async throws -> T {
        await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async {
        await withCheckedContinuation { (continuation: CheckedContinuation<Void, Never>) in
            let now = state.withLock { state -> Bool in
                if state.available > 0 {
                    state.available -= 1
                    return true
                }
                state.waiters.append(continuation)
                return false
            }
            if now { continuation.resume() }
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, Never>? in
            if state.waiters.isEmpty {
                state.available += 1
                return nil
            }
            return state.waiters.removeFirst()
        }
        next?.resume()
    }
}

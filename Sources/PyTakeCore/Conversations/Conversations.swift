import Foundation
import Logging
import PostgresNIO

public enum ConversationStatus: String, Sendable, CaseIterable { case open, closed }

public struct Customer: Sendable {
    public var id: UUID
    public var waId: String?
    public var profileName: String?
    public var erased: Bool
}

public struct Conversation: Sendable {
    public var id: UUID
    public var tenantId: UUID
    public var customer: Customer
    public var providerId: UUID?
    public var status: ConversationStatus
    public var botPaused: Bool
    public var assigneeId: UUID?
    public var lastMessageAt: Date
    public var lastInboundAt: Date?
    public var unreadCount: Int
    public var openedAt: Date
    public var closedAt: Date?
}

public struct ChatMessage: Sendable {
    public var id: UUID
    public var conversationId: UUID
    public var direction: String
    public var providerMessageId: String?
    public var type: String
    public var body: String?
    public var payloadJSON: String
    public var status: String
    public var errorCode: String?
    public var errorTitle: String?
    public var sentBy: UUID?
    public var occurredAt: Date
}

public struct ConversationQuery: Sendable {
    public var page: PageRequest
    public var status: ConversationStatus?
    public var botPaused: Bool?
    public var assigneeId: UUID?
    public init(page: PageRequest, status: ConversationStatus? = nil, botPaused: Bool? = nil, assigneeId: UUID? = nil) {
        self.page = page
        self.status = status
        self.botPaused = botPaused
        self.assigneeId = assigneeId
    }
}

/// Conversations of a tenant: every tenant role reads; tenant_admin and agent act (reply, handover,
/// close); viewers only read.
public struct ConversationService: Sendable {
    let db: DB
    let logger: Logger
    let outbound: Outbound

    public init(db: DB, logger: Logger, outbound: Outbound) {
        self.db = db
        self.logger = logger
        self.outbound = outbound
    }

    static func requireActor(_ identity: Identity, tenant: UUID) throws(AppError) {
        try Access.require(identity, .read, tenant: tenant, what: "Conversation")
        guard identity.role != .viewer else { throw AppError.forbidden }
    }

    static let columns = """
        a.id, a.tenant_id, a.customer_id, c.wa_id, c.profile_name, c.erased_at IS NOT NULL, a.provider_id, a.status, a.bot_paused,
        a.assignee_id, a.last_message_at, a.last_inbound_at,
        (SELECT count(*) FROM chat_messages m WHERE m.conversation_id = a.id AND m.direction = 'inbound'
            AND m.occurred_at > coalesce(a.last_outbound_at, '-infinity'))::int8,
        a.opened_at, a.closed_at, ((extract(epoch FROM a.last_message_at) * 1000000)::int8)::text AS cursor_time
        """

    public func list(tenantId: UUID, _ query: ConversationQuery, identity: Identity) async throws -> Page<Conversation> {
        try Access.require(identity, .read, tenant: tenantId)
        guard try await TenantStore.exists(client: db, logger: logger, id: tenantId) else {
            throw AppError.notFound("Tenant")
        }
        let after = try Cursor.decodeTimeAndID(query.page.cursor)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns)
            FROM active_conversations a JOIN customers c ON c.id = a.customer_id
            WHERE a.tenant_id = \(tenantId)
              AND (\(query.status?.rawValue)::text IS NULL OR a.status = \(query.status?.rawValue))
              AND (\(query.botPaused)::boolean IS NULL OR a.bot_paused = \(query.botPaused))
              AND (\(query.assigneeId)::uuid IS NULL OR a.assignee_id = \(query.assigneeId))
              AND (\(after?.time)::timestamptz IS NULL OR (a.last_message_at, a.id) < (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY a.last_message_at DESC, a.id DESC
            LIMIT \(query.page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await decode(rows), limit: query.page.limit, item: \.conversation,
                                cursor: { [$0.cursor, $0.conversation.id.uuidString] })
    }

    public func get(tenantId: UUID, id: UUID, identity: Identity) async throws -> Conversation {
        try Access.require(identity, .read, tenant: tenantId, what: "Conversation")
        return try await fetch(tenantId: tenantId, id: id, on: nil)
    }

    func fetch(tenantId: UUID, id: UUID, on tx: Tx?) async throws -> Conversation {
        let query: PostgresQuery = """
            SELECT \(unescaped: Self.columns)
            FROM active_conversations a JOIN customers c ON c.id = a.customer_id
            WHERE a.tenant_id = \(tenantId) AND a.id = \(id)
              AND EXISTS (SELECT 1 FROM clients t WHERE t.id = a.tenant_id AND t.status <> 'deleted')
            """
        let rows = if let tx { Rows(try await tx.query(query, logger: logger).collect()) } else { try await db.tenant(tenantId).query(query, logger: logger) }
        guard let found = try await decode(rows).first?.conversation else { throw AppError.notFound("Conversation") }
        return found
    }

    /// Oldest first, so a page reads like the chat.
    public func messages(tenantId: UUID, conversationId: UUID, page: PageRequest, identity: Identity) async throws -> Page<ChatMessage> {
        _ = try await get(tenantId: tenantId, id: conversationId, identity: identity)
        let after = try Cursor.decodeTimeAndID(page.cursor)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.messageColumns) FROM chat_messages
            WHERE tenant_id = \(tenantId) AND conversation_id = \(conversationId)
              AND (\(after?.time)::timestamptz IS NULL OR (occurred_at, id) > (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY occurred_at, id
            LIMIT \(page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await Self.decodeMessages(rows), limit: page.limit, item: \.message,
                                cursor: { [$0.cursor, $0.message.id.uuidString] })
    }

    /// An agent's reply: stored as `pending` before it leaves, then `sent` with the provider's id, or
    /// `failed` with the provider's error (which the caller also receives).
    public func reply(tenantId: UUID, conversationId: UUID, text: String, identity: Identity) async throws -> ChatMessage {
        try Self.requireActor(identity, tenant: tenantId)
        var v = Validator()
        v.check(!text.isBlank && text.unicodeScalars.count <= 4096 && !text.containsNUL,
                "text", "must be 1 to 4096 characters and not blank")
        try v.finish()
        let conversation = try await fetch(tenantId: tenantId, id: conversationId, on: nil)
        guard conversation.status == .open else {
            throw AppError(.conflict, code: "conversation_closed", "The conversation is closed; the customer must write again.")
        }
        guard let to = conversation.customer.waId, !conversation.customer.erased else {
            throw AppError(.conflict, code: "customer_erased", "The customer's data was erased; there is no one to write to.")
        }
        // The instance the customer wrote to, when it is still active; else the tenant's best meta provider.
        let (_, sender) = try await senderFor(conversation)
        let messageId = UUID()
        let payload = String(decoding: try JSONSerialization.data(withJSONObject: ["type": "text", "text": ["body": text]], options: [.sortedKeys]),
                             as: UTF8.self)
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            try await tx.query("""
                INSERT INTO chat_messages (id, tenant_id, conversation_id, customer_id, direction, type, body, payload, status, sent_by, occurred_at)
                VALUES (\(messageId), \(tenantId), \(conversationId), \(conversation.customer.id), 'outbound', 'text', \(text),
                        \(payload)::jsonb, 'pending', \(identity.userId), now())
                """, logger: logger)
        }
        let outcome: Result<SendReceipt, SendError>
        do {
            outcome = .success(try await sender.sendText(to: to, text: text))
        } catch {
            outcome = .failure(error)
        }
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            switch outcome {
            case .success(let receipt):
                try await Self.markSent(tx, tenantId: tenantId, conversationId: conversationId, messageId: messageId, receipt: receipt, logger: logger)
                try await Self.event(tx, tenantId: tenantId, conversationId: conversationId, type: "message_sent", actor: identity.userId,
                                     data: ["message_id": messageId.uuidString.lowercased(), "by": "agent"], logger: logger)
            case .failure(let error):
                try await Self.markFailed(tx, messageId: messageId, error: error, logger: logger)
            }
        }
        if case .failure(let error) = outcome { throw error.appError }
        return try await message(tenantId: tenantId, id: messageId)
    }

    /// A pending outbound message the provider accepted: its id, its status (a delivery status may
    /// have overtaken the send's own answer: the best one already logged wins), and the
    /// conversation's last outbound time.
    static func markSent(_ tx: Tx, tenantId: UUID, conversationId: UUID, messageId: UUID, receipt: SendReceipt,
                         logger: Logger) async throws {
        try await tx.query("""
            UPDATE chat_messages SET provider_message_id = \(receipt.providerMessageId), updated_at = now(),
                status = coalesce((SELECT s.status FROM message_statuses s
                                   WHERE s.tenant_id = \(tenantId) AND s.provider_message_id = \(receipt.providerMessageId)
                                     AND pytake_status_rank(s.status) > pytake_status_rank('sent')
                                   ORDER BY pytake_status_rank(s.status) DESC LIMIT 1), 'sent')
            WHERE id = \(messageId)
            """, logger: logger)
        try await tx.query("""
            UPDATE active_conversations SET last_outbound_at = now(), last_message_at = greatest(last_message_at, now()), updated_at = now()
            WHERE id = \(conversationId)
            """, logger: logger)
    }

    /// A pending outbound message the provider refused, with its error.
    static func markFailed(_ tx: Tx, messageId: UUID, error: SendError, logger: Logger) async throws {
        try await tx.query("""
            UPDATE chat_messages SET status = 'failed', error_code = \(error.code), error_title = \(String(error.message.prefix(500))),
                updated_at = now()
            WHERE id = \(messageId)
            """, logger: logger)
    }

    func senderFor(_ conversation: Conversation) async throws -> (ResolvedCredentials, any MessageSender) {
        try await outbound.sender(tenantId: conversation.tenantId, preferring: conversation.providerId)
    }

    func message(tenantId: UUID, id: UUID) async throws -> ChatMessage {
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.messageColumns) FROM chat_messages WHERE tenant_id = \(tenantId) AND id = \(id)
            """, logger: logger)
        guard let found = try await Self.decodeMessages(rows).first?.message else { throw AppError.notFound("Message") }
        return found
    }

    static let messageColumns = """
        id, conversation_id, direction, provider_message_id, type, body, payload::text, status, error_code, error_title,
        sent_by, occurred_at, ((extract(epoch FROM occurred_at) * 1000000)::int8)::text AS cursor_time
        """

    static func decodeMessages(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(message: ChatMessage, cursor: String)] {
        typealias Row = (UUID, UUID, String, String?, String, String?, String, String, String?, String?, UUID?, Date, String)
        var result: [(ChatMessage, String)] = []
        for try await r in rows.decode(Row.self) {
            result.append((ChatMessage(id: r.0, conversationId: r.1, direction: r.2, providerMessageId: r.3, type: r.4, body: r.5,
                                       payloadJSON: r.6, status: r.7, errorCode: r.8, errorTitle: r.9, sentBy: r.10, occurredAt: r.11), r.12))
        }
        return result
    }

    /// Human handover: `paused` stops the bot; `assigneeId` (an agent or admin of the tenant) takes it.
    public func handover(tenantId: UUID, conversationId: UUID, paused: Bool, assigneeId: UUID?, identity: Identity) async throws -> Conversation {
        try Self.requireActor(identity, tenant: tenantId)
        return try await db.tenant(tenantId).transaction(logger: logger) { tx in
            if let assigneeId {
                let rows = try await tx.query("""
                    SELECT 1 FROM users WHERE id = \(assigneeId) AND tenant_id = \(tenantId) AND role IN ('tenant_admin', 'agent')
                    """, logger: logger)
                guard try await rows.decode(Int.self).first(where: { _ in true }) != nil else {
                    throw AppError.validation([.init(field: "assignee_id", message: "must be an agent or tenant_admin of this tenant")])
                }
            }
            let rows = try await tx.query("""
                UPDATE active_conversations SET bot_paused = \(paused), assignee_id = CASE WHEN \(paused) THEN coalesce(\(assigneeId), assignee_id) ELSE \(assigneeId) END,
                    updated_at = now()
                WHERE tenant_id = \(tenantId) AND id = \(conversationId) AND status = 'open'
                RETURNING id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else {
                _ = try await fetch(tenantId: tenantId, id: conversationId, on: tx)
                throw AppError(.conflict, code: "conversation_closed", "The conversation is closed.")
            }
            var data = ["paused": paused ? "true" : "false"]
            if let assigneeId { data["assignee_id"] = assigneeId.uuidString.lowercased() }
            try await Self.event(tx, tenantId: tenantId, conversationId: conversationId, type: paused ? "handoff" : "bot_resumed",
                                 actor: identity.userId, data: data, logger: logger)
            return try await fetch(tenantId: tenantId, id: conversationId, on: tx)
        }
    }

    public func close(tenantId: UUID, conversationId: UUID, identity: Identity) async throws -> Conversation {
        try Self.requireActor(identity, tenant: tenantId)
        return try await db.tenant(tenantId).transaction(logger: logger) { tx in
            let rows = try await tx.query("""
                UPDATE active_conversations SET status = 'closed', closed_at = now(), updated_at = now()
                WHERE tenant_id = \(tenantId) AND id = \(conversationId) AND status = 'open'
                RETURNING id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else {
                _ = try await fetch(tenantId: tenantId, id: conversationId, on: tx)
                throw AppError(.conflict, code: "conversation_closed", "The conversation is already closed.")
            }
            try await Self.event(tx, tenantId: tenantId, conversationId: conversationId, type: "conversation_closed",
                                 actor: identity.userId, data: [:], logger: logger)
            return try await fetch(tenantId: tenantId, id: conversationId, on: tx)
        }
    }

    /// LGPD: irreversibly removes the customer's personal data (name, number, message bodies and
    /// media references); conversations, messages and events stay as counts for metrics.
    public func eraseCustomer(tenantId: UUID, customerId: UUID, identity: Identity, actor: AuditActor) async throws {
        try Access.require(identity, .administer, tenant: tenantId, what: "Customer")
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            let rows = try await tx.query("""
                UPDATE customers SET wa_id = 'erased:' || gen_random_uuid(), profile_name = NULL, erased_at = now(), updated_at = now()
                WHERE tenant_id = \(tenantId) AND id = \(customerId) AND erased_at IS NULL
                RETURNING id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else {
                let exists = try await tx.query("SELECT 1 FROM customers WHERE tenant_id = \(tenantId) AND id = \(customerId)", logger: logger)
                if try await exists.decode(Int.self).first(where: { _ in true }) != nil {
                    throw AppError(.conflict, code: "customer_erased", "The customer was already erased.")
                }
                throw AppError.notFound("Customer")
            }
            try await tx.query("""
                UPDATE chat_messages SET body = NULL, payload = jsonb_build_object('erased', true), updated_at = now()
                WHERE tenant_id = \(tenantId) AND customer_id = \(customerId)
                """, logger: logger)
            try await tx.query("""
                UPDATE message_statuses s SET error_title = NULL
                FROM chat_messages m WHERE m.tenant_id = \(tenantId) AND m.customer_id = \(customerId)
                  AND s.tenant_id = m.tenant_id AND s.provider_message_id = m.provider_message_id
                """, logger: logger)
            try await tx.query("""
                UPDATE active_conversations SET status = 'closed', closed_at = coalesce(closed_at, now()), updated_at = now()
                WHERE tenant_id = \(tenantId) AND customer_id = \(customerId)
                """, logger: logger)
            try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "customer.erase",
                                      targetType: "customer", targetId: customerId.uuidString.lowercased())
        }
    }

    static func event(_ tx: Tx, tenantId: UUID, conversationId: UUID, type: String, actor: UUID?,
                      data: [String: String], logger: Logger) async throws {
        try await tx.query("""
            INSERT INTO conversation_events (tenant_id, conversation_id, type, actor_id, data)
            VALUES (\(tenantId), \(conversationId), \(type), \(actor), \(try JSONColumn.encode(data))::jsonb)
            """, logger: logger)
    }

    func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(conversation: Conversation, cursor: String)] {
        typealias Row = (UUID, UUID, UUID, String, String?, Bool, UUID?, String, Bool, UUID?, Date, Date?, Int, Date, Date?, String)
        var result: [(Conversation, String)] = []
        for try await r in rows.decode(Row.self) {
            result.append((Conversation(
                id: r.0, tenantId: r.1,
                customer: Customer(id: r.2, waId: r.5 ? nil : r.3, profileName: r.4, erased: r.5),
                providerId: r.6, status: ConversationStatus(rawValue: r.7) ?? .open, botPaused: r.8, assigneeId: r.9,
                lastMessageAt: r.10, lastInboundAt: r.11, unreadCount: r.12, openedAt: r.13, closedAt: r.14), r.15))
        }
        return result
    }
}

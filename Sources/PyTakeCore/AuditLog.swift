import Foundation
import Logging
import PostgresNIO

/// Who is acting, for the audit log: a signed-in user, or an operator at the CLI.
public struct AuditActor: Sendable {
    public var userId: UUID?
    public var email: String?
    public var requestId: String?

    public init(userId: UUID?, email: String?, requestId: String?) {
        self.userId = userId
        self.email = email
        self.requestId = requestId
    }

    public init(_ identity: Identity, requestId: String?) {
        self.init(userId: identity.userId, email: identity.email, requestId: requestId)
    }

    /// An operator using `pytake-admin`.
    public static let cli = AuditActor(userId: nil, email: "pytake-admin", requestId: nil)
}

public struct AuditEntry: Sendable {
    public var id: Int64
    public var tenantId: UUID?
    public var actorId: UUID?
    public var actorEmail: String?
    public var action: String
    public var targetType: String
    public var targetId: String?
    public var requestId: String?
    public var detailsJSON: String
    public var createdAt: Date
}

public enum AuditLog {
    /// Writes one row on `connection`, inside the caller's transaction so the change and its record
    /// commit together. `details` must never hold a secret.
    public static func record(
        _ connection: Tx, logger: Logger, tenantId: UUID?, actor: AuditActor,
        action: String, targetType: String, targetId: String?, details: [String: String] = [:]
    ) async throws {
        let detailsJSON = try JSONColumn.encode(details)
        try await connection.query("""
            INSERT INTO audit_logs (tenant_id, actor_id, actor_email, action, target_type, target_id, request_id, details)
            VALUES (\(tenantId), \(actor.userId), \(actor.email), \(action), \(targetType), \(targetId), \(actor.requestId), \(detailsJSON)::jsonb)
            """, logger: logger)
    }

    /// A tenant's log, newest first (tenant_admin and platform_admin).
    public static func list(
        client: DB, logger: Logger, identity: Identity, tenantId: UUID, page: PageRequest
    ) async throws -> Page<AuditEntry> {
        try Access.require(identity, .administer, tenant: tenantId)
        let before = try Cursor.decodeID(page.cursor)
        guard try await TenantStore.exists(client: client, logger: logger, id: tenantId) else {
            throw AppError.notFound("Tenant")
        }
        let rows = try await client.tenant(tenantId).query("""
            SELECT id, tenant_id, actor_id, actor_email, action, target_type, target_id, request_id, details::text, created_at
            FROM audit_logs
            WHERE tenant_id = \(tenantId) AND (\(before)::int8 IS NULL OR id < \(before))
            ORDER BY id DESC
            LIMIT \(page.limit + 1)
            """, logger: logger)
        var items: [AuditEntry] = []
        for try await row in rows.decode((Int64, UUID?, UUID?, String?, String, String, String?, String?, String, Date).self) {
            items.append(AuditEntry(
                id: row.0, tenantId: row.1, actorId: row.2, actorEmail: row.3, action: row.4,
                targetType: row.5, targetId: row.6, requestId: row.7, detailsJSON: row.8, createdAt: row.9
            ))
        }
        return Page.overfetched(items, limit: page.limit, item: { $0 }, cursor: { [String($0.id)] })
    }
}

import Foundation
import Logging
import PostgresNIO

public struct User: Sendable {
    public var id: UUID
    public var email: String
    public var role: Role
    public var tenantId: UUID?
    public var createdAt: Date
    public var updatedAt: Date
}

public struct UserPatch: Sendable {
    public var email: String?
    public var password: String?
    public var role: Role?
    public init(email: String? = nil, password: String? = nil, role: Role? = nil) {
        self.email = email
        self.password = password
        self.role = role
    }
}

enum UserRules {
    /// `local@domain.tld`: one `@`, no White_Space, two or more non-empty labels in the domain
    /// (openapi.yaml's `Email`). Checked on code points, as the contract counts.
    static func isValidEmail(_ email: String) -> Bool {
        let scalars = email.unicodeScalars
        guard scalars.count <= 254, !email.containsNUL, !scalars.contains(where: \.properties.isWhitespace) else { return false }
        let parts = scalars.split(separator: "@", omittingEmptySubsequences: false)
        guard parts.count == 2, !parts[0].isEmpty else { return false }
        let labels = parts[1].split(separator: ".", omittingEmptySubsequences: false)
        return labels.count >= 2 && labels.allSatisfy { !$0.isEmpty }
    }

    /// How sign-in looks an address up: forgiving of surrounding spaces and case.
    static func normalize(email: String) -> String {
        email.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
    }

    static func check(email: String?, password: String?, into v: inout Validator) {
        if let email {
            v.check(isValidEmail(email), "email", "must be a valid email address")
        }
        if let password {
            v.check((PasswordHasher.minimumPasswordLength...PasswordHasher.maximumPasswordLength).contains(password.unicodeScalars.count)
                        && !password.containsNUL,
                    "password", "must be \(PasswordHasher.minimumPasswordLength) to \(PasswordHasher.maximumPasswordLength) characters")
        }
    }
}

public struct UserService: Sendable {
    let db: DB
    let logger: Logger
    let hasher: PasswordHasher

    public init(db: DB, logger: Logger, hasher: PasswordHasher) {
        self.db = db
        self.logger = logger
        self.hasher = hasher
    }

    static let columns = "id, email, role, tenant_id, created_at, updated_at, ((extract(epoch FROM created_at) * 1000000)::int8)::text AS cursor_time"

    /// Creates a user. `identity` nil means the operator CLI, the only way to create a platform admin.
    public func create(email rawEmail: String, password: String, role: Role, tenantId: UUID?,
                       identity: Identity?, actor: AuditActor) async throws -> User {
        if let identity {
            guard let tenantId else { throw AppError.forbidden }
            try Access.require(identity, .administer, tenant: tenantId)
        }
        var v = Validator()
        // Validated as given (an address with spaces is refused, not trimmed), stored lowercased.
        UserRules.check(email: rawEmail, password: password, into: &v)
        let email = rawEmail.lowercased()
        if role == .platformAdmin {
            v.check(tenantId == nil && identity == nil, "role", "platform_admin is created with pytake-admin and belongs to no tenant")
        } else {
            v.check(tenantId != nil, "tenant", "\(role.rawValue) users belong to a tenant (pass its id)")
        }
        try v.finish()
        if let tenantId, try await !TenantStore.exists(client: db, logger: logger, id: tenantId) {
            throw AppError.notFound("Tenant")
        }
        let hash = try await hasher.hash(password)
        do {
            return try await db.scoped(tenantId.map { .tenant($0) } ?? .platform(.tenantAdministration)).transaction(logger: logger) { tx in
                let rows = try await tx.query("""
                    INSERT INTO users (email, password_hash, role, tenant_id)
                    VALUES (\(email), \(hash), \(role.rawValue), \(tenantId))
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                let user = try await Self.decode(rows).first!.user
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "user.create",
                                          targetType: "user", targetId: user.id.uuidString.lowercased(),
                                          details: ["email": email, "role": role.rawValue])
                return user
            }
        } catch where Database.isUniqueViolation(error, constraint: "users_email_key") {
            throw AppError(.conflict, code: "email_taken", "A user with this email already exists.")
        }
    }

    public func list(tenantId: UUID, page: PageRequest, identity: Identity) async throws -> Page<User> {
        try Access.require(identity, .read, tenant: tenantId)
        guard try await TenantStore.exists(client: db, logger: logger, id: tenantId) else {
            throw AppError.notFound("Tenant")
        }
        let after = try Cursor.decodeTimeAndID(page.cursor)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM users
            WHERE tenant_id = \(tenantId)
              AND (\(after?.time)::timestamptz IS NULL OR (created_at, id) > (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY created_at, id
            LIMIT \(page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await Self.decode(rows), limit: page.limit, item: \.user, cursor: { [$0.cursorTime, $0.user.id.uuidString] })
    }

    public func get(tenantId: UUID, userId: UUID, identity: Identity) async throws -> User {
        try Access.require(identity, .read, tenant: tenantId, what: "User")
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM users u
            WHERE u.id = \(userId) AND u.tenant_id = \(tenantId)
              AND EXISTS (SELECT 1 FROM clients c WHERE c.id = u.tenant_id AND c.status <> 'deleted')
            """, logger: logger)
        guard let user = try await Self.decode(rows).first?.user else { throw AppError.notFound("User") }
        return user
    }

    /// A new password or role revokes the user's sessions, so the change takes effect at once.
    public func update(tenantId: UUID, userId: UUID, _ patch: UserPatch, identity: Identity, actor: AuditActor) async throws -> User {
        try Access.require(identity, .administer, tenant: tenantId, what: "User")
        var v = Validator()
        UserRules.check(email: patch.email, password: patch.password, into: &v)
        let email = patch.email?.lowercased()
        v.check(patch.role != .platformAdmin, "role", "must be tenant_admin, agent or viewer")
        try v.finish()
        _ = try await get(tenantId: tenantId, userId: userId, identity: identity)
        let hash: String? = if let password = patch.password { try await hasher.hash(password) } else { nil }
        do {
            return try await db.tenant(tenantId).transaction(logger: logger) { tx in
                let rows = try await tx.query("""
                    UPDATE users SET
                        email = coalesce(\(email), email),
                        password_hash = coalesce(\(hash), password_hash),
                        role = coalesce(\(patch.role?.rawValue), role),
                        updated_at = now()
                    WHERE id = \(userId) AND tenant_id = \(tenantId)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let user = try await Self.decode(rows).first?.user else { throw AppError.notFound("User") }
                if patch.password != nil || patch.role != nil {
                    try await tx.query(
                        "UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(userId) AND revoked_at IS NULL",
                        logger: logger)
                }
                var fields: [String] = []
                if email != nil { fields.append("email") }
                if patch.password != nil { fields.append("password") }
                var details = ["fields": fields.joined(separator: ",")]
                if let role = patch.role { details["role"] = role.rawValue }
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "user.update",
                                          targetType: "user", targetId: userId.uuidString.lowercased(), details: details)
                return user
            }
        } catch where Database.isUniqueViolation(error, constraint: "users_email_key") {
            throw AppError(.conflict, code: "email_taken", "A user with this email already exists.")
        }
    }

    public func delete(tenantId: UUID, userId: UUID, identity: Identity, actor: AuditActor) async throws {
        try Access.require(identity, .administer, tenant: tenantId, what: "User")
        let user = try await get(tenantId: tenantId, userId: userId, identity: identity)
        guard user.id != identity.userId else {
            throw AppError(.conflict, code: "cannot_delete_self", "You cannot delete your own account.")
        }
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            // refresh_tokens go with the user (ON DELETE CASCADE); audit rows keep the id and email.
            try await tx.query("DELETE FROM users WHERE id = \(userId) AND tenant_id = \(tenantId)", logger: logger)
            try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "user.delete",
                                      targetType: "user", targetId: userId.uuidString.lowercased(),
                                      details: ["email": user.email])
        }
    }

    static func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(user: User, cursorTime: String)] {
        var result: [(User, String)] = []
        for try await row in rows.decode((UUID, String, String, UUID?, Date, Date, String).self) {
            result.append((User(id: row.0, email: row.1, role: Role(rawValue: row.2) ?? .viewer, tenantId: row.3,
                                createdAt: row.4, updatedAt: row.5), row.6))
        }
        return result
    }
}

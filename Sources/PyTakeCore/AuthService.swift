import Foundation
import Logging
import PostgresNIO

public struct TokenPair: Sendable {
    public var accessToken: String
    public var refreshToken: String
    public var expiresIn: Int
}

/// Sign-in, refresh-token rotation with reuse detection, sign-out.
public struct AuthService: Sendable {
    let db: DB
    let logger: Logger
    let hasher: PasswordHasher
    public let tokens: TokenService
    let throttle: LoginThrottle

    public init(db: DB, logger: Logger, hasher: PasswordHasher, tokens: TokenService, throttle: LoginThrottle) {
        self.db = db
        self.logger = logger
        self.hasher = hasher
        self.tokens = tokens
        self.throttle = throttle
    }

    static let invalidCredentials = AppError(.unauthorized, code: "invalid_credentials", "Email or password is incorrect.")
    static let invalidRefresh = AppError(.unauthorized, code: "refresh_token_invalid", "The refresh token is invalid, expired or revoked.")
    static let tenantInactive = AppError(.unauthorized, code: "tenant_inactive", "This account's tenant is suspended or deleted.")

    private struct Account {
        var identity: Identity
        var passwordHash: String
        var tenantStatus: String?
    }

    public func login(email rawEmail: String, password: String, ip: String, requestId: String?) async throws -> TokenPair {
        let email = UserRules.normalize(email: rawEmail)
        guard UserRules.isValidEmail(email) else {
            // Not an address any account can have: spend the same effort, then refuse.
            _ = try await hasher.verifyDummy(password)
            throw Self.invalidCredentials
        }
        // Independent, so they travel to the database together.
        async let throttled = throttle.reserve(email: email, ip: ip)
        async let fetched = fetchAccount(email: email)
        let (retryAfter, account) = try await (throttled, fetched)
        if let wait = retryAfter {
            throw AppError(.tooManyRequests, code: "login_throttled", "Too many failed sign-ins; try again in \(wait) seconds.", retryAfter: wait)
        }
        let ok: Bool
        if let account, password.count <= PasswordHasher.maximumPasswordLength * 4 {
            ok = try await hasher.verify(password, against: account.passwordHash)
        } else {
            ok = try await hasher.verifyDummy(password)
        }
        guard ok, let account else {
            logger.info("sign-in failed", metadata: ["ip": "\(ip)"])
            throw Self.invalidCredentials
        }
        try await throttle.release(email: email, ip: ip)
        guard account.tenantStatus == nil || account.tenantStatus == TenantStatus.active.rawValue else { throw Self.tenantInactive }
        return try await startSession(for: account.identity, requestId: requestId)
    }

    /// A new sign-in session (refresh-token family) for an already authenticated user.
    public func startSession(for identity: Identity, requestId: String?) async throws -> TokenPair {
        try await db.scoped(Self.scope(of: identity)).transaction(logger: logger) { connection in
            try await issue(connection, identity: identity, familyId: UUID(), action: "auth.login", requestId: requestId)
        }
    }

    /// Rotates a refresh token. Presenting one that was already used revokes its whole family:
    /// either the client or an attacker holds a copy, and we cannot tell which.
    public func refresh(_ token: String, requestId: String?) async throws -> TokenPair {
        guard let claims = await tokens.verifyRefresh(token),
              let tokenId = UUID(uuidString: claims.jti.value),
              let familyId = UUID(uuidString: claims.fam)
        else { throw Self.invalidRefresh }

        enum Outcome: Sendable { case issued(TokenPair), reused, invalid, inactive }
        // The token names no tenant; its user (and so its tenant) is read inside.
        let outcome: Outcome = try await db.platform(.authentication).transaction(logger: logger) { tx in
            // Serialises every rotation and revocation of this family (see revokeFamily).
            try await Self.lockFamily(tx, familyId, logger: logger)
            let rows = try await tx.query("""
                UPDATE refresh_tokens SET used_at = now()
                WHERE id = \(tokenId) AND family_id = \(familyId) AND used_at IS NULL AND revoked_at IS NULL AND expires_at > now()
                RETURNING user_id
                """, logger: logger)
            guard let userId = try await rows.decode(UUID.self).first(where: { _ in true }) else {
                let seen = try await tx.query(
                    "SELECT used_at IS NOT NULL FROM refresh_tokens WHERE id = \(tokenId)", logger: logger)
                let wasUsed = try await seen.decode(Bool.self).first(where: { _ in true }) ?? false
                return wasUsed ? .reused : .invalid
            }
            guard let account = try await fetchAccount(tx, userId: userId) else { return .invalid }
            guard account.tenantStatus == nil || account.tenantStatus == TenantStatus.active.rawValue else { return .inactive }
            return .issued(try await issue(tx, identity: account.identity, familyId: familyId, action: "auth.refresh", requestId: requestId))
        }
        switch outcome {
        case .issued(let pair):
            return pair
        case .reused:
            try await revokeFamily(familyId)
            logger.warning("refresh token reused; family revoked", metadata: ["family": "\(familyId)"])
            throw AppError(.unauthorized, code: "refresh_token_reused", "This refresh token was already used; every session descended from it has been signed out.")
        case .inactive:
            try await revokeFamily(familyId)
            throw Self.tenantInactive
        case .invalid:
            throw Self.invalidRefresh
        }
    }

    /// Revokes the given refresh token's family, or all of the user's sessions when none is given.
    public func logout(identity: Identity, refreshToken: String?, requestId: String?) async throws {
        try await db.scoped(Self.scope(of: identity)).transaction(logger: logger) { tx in
            if let refreshToken {
                guard let claims = await tokens.verifyRefresh(refreshToken),
                      claims.sub.value == identity.userId.uuidString.lowercased(),
                      let familyId = UUID(uuidString: claims.fam)
                else { throw Self.invalidRefresh }
                try await Self.lockFamily(tx, familyId, logger: logger)
                try await tx.query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(familyId) AND revoked_at IS NULL", logger: logger)
            } else {
                try await tx.query("UPDATE refresh_tokens SET revoked_at = now() WHERE user_id = \(identity.userId) AND revoked_at IS NULL", logger: logger)
            }
            try await AuditLog.record(tx, logger: logger, tenantId: identity.tenantId, actor: AuditActor(identity, requestId: requestId),
                                      action: "auth.logout", targetType: "user", targetId: identity.userId.uuidString.lowercased(),
                                      details: ["scope": refreshToken == nil ? "all_sessions" : "session"])
        }
    }

    /// Under the family's lock, so a rotation in flight either finishes first (and its new token is
    /// revoked here) or starts after (and finds its token revoked).
    private func revokeFamily(_ familyId: UUID) async throws {
        try await db.unscoped.transaction(logger: logger) { tx in
            try await Self.lockFamily(tx, familyId, logger: logger)
            try await tx.query("UPDATE refresh_tokens SET revoked_at = now() WHERE family_id = \(familyId) AND revoked_at IS NULL", logger: logger)
        }
    }

    private static func lockFamily(_ tx: Tx, _ familyId: UUID, logger: Logger) async throws {
        try await tx.query("SELECT pg_advisory_xact_lock(hashtextextended(\(familyId.uuidString), 0))", logger: logger)
    }

    /// Stores a new refresh token and its audit row in one statement (one round trip, atomic even
    /// outside a transaction), then signs the pair.
    private func issue(_ connection: Tx, identity: Identity, familyId: UUID,
                       action: String, requestId: String?) async throws -> TokenPair {
        let tokenId = UUID()
        let now = Date()
        let expiresAt = now.addingTimeInterval(TimeInterval(tokens.refreshTTL))
        var identity = identity
        identity.sessionId = familyId
        let actor = AuditActor(identity, requestId: requestId)
        try await connection.query("""
            WITH issued AS (
                INSERT INTO refresh_tokens (id, family_id, user_id, expires_at)
                VALUES (\(tokenId), \(familyId), \(identity.userId), \(expiresAt)) RETURNING user_id
            )
            INSERT INTO audit_logs (tenant_id, actor_id, actor_email, action, target_type, target_id, request_id)
            SELECT \(identity.tenantId), \(actor.userId), \(actor.email), \(action), 'user', user_id::text, \(actor.requestId) FROM issued
            """, logger: logger)
        return TokenPair(
            accessToken: try await tokens.accessToken(for: identity, now: now),
            refreshToken: try await tokens.refreshToken(userId: identity.userId, tokenId: tokenId, familyId: familyId, expiresAt: expiresAt, now: now),
            expiresIn: tokens.accessTTL
        )
    }

    private static let accountColumns = "u.id, u.email, u.role, u.tenant_id, u.password_hash, c.status"

    /// The audit rows of a session belong to its user's tenant (none for a platform admin).
    static func scope(of identity: Identity) -> DataScope {
        identity.tenantId.map { .tenant($0) } ?? .platform(.authentication)
    }

    private func fetchAccount(email: String) async throws -> Account? {
        // Sign-in knows only the address: which tenant the user belongs to is what it finds out.
        let rows = try await db.platform(.authentication).query("""
            SELECT \(unescaped: Self.accountColumns) FROM users u LEFT JOIN clients c ON c.id = u.tenant_id
            WHERE lower(u.email) = \(email)
            """, logger: logger)
        return try await decodeAccount(rows)
    }

    private func fetchAccount(_ tx: Tx, userId: UUID) async throws -> Account? {
        let rows = try await tx.query("""
            SELECT \(unescaped: Self.accountColumns) FROM users u LEFT JOIN clients c ON c.id = u.tenant_id
            WHERE u.id = \(userId)
            """, logger: logger)
        return try await decodeAccount(rows)
    }

    private func decodeAccount(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> Account? {
        for try await (id, email, role, tenantId, hash, status) in rows.decode((UUID, String, String, UUID?, String, String?).self) {
            guard let role = Role(rawValue: role) else { return nil }
            return Account(identity: Identity(userId: id, email: email, role: role, tenantId: tenantId), passwordHash: hash, tenantStatus: status)
        }
        return nil
    }
}

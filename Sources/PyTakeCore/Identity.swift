import Foundation

public enum Role: String, Sendable, Codable, CaseIterable {
    case platformAdmin = "platform_admin"
    case tenantAdmin = "tenant_admin"
    case agent
    case viewer
}

/// Who is calling, as proven by a verified access token.
public struct Identity: Sendable, Equatable {
    public var userId: UUID
    public var email: String
    public var role: Role
    /// Nil only for platform admins.
    public var tenantId: UUID?
    /// The sign-in session (refresh-token family) an access token belongs to; revoking the
    /// session ends the access token too.
    public var sessionId: UUID?

    public init(userId: UUID, email: String, role: Role, tenantId: UUID?, sessionId: UUID? = nil) {
        self.userId = userId
        self.email = email
        self.role = role
        self.tenantId = tenantId
        self.sessionId = sessionId
    }

    public var isPlatformAdmin: Bool { role == .platformAdmin }
}

/// Who may do what. Every check that concerns a tenant first asks `canSee`: a tenant the caller
/// may not see answers 404, so other tenants' existence is never revealed.
public enum Access {
    public enum Action: Sendable {
        case read
        /// Manage the tenant itself, its users and its settings.
        case administer
    }

    public static func canSee(_ identity: Identity, tenant: UUID) -> Bool {
        identity.isPlatformAdmin || identity.tenantId == tenant
    }

    /// Throws 404 for a tenant the caller cannot see, 403 for a role that may not act on it.
    public static func require(_ identity: Identity, _ action: Action, tenant: UUID, what: String = "Tenant") throws(AppError) {
        guard canSee(identity, tenant: tenant) else { throw AppError.notFound(what) }
        switch action {
        case .read:
            return
        case .administer:
            guard identity.role == .platformAdmin || identity.role == .tenantAdmin else { throw AppError.forbidden }
        }
    }

    public static func requirePlatformAdmin(_ identity: Identity) throws(AppError) {
        guard identity.isPlatformAdmin else { throw AppError.forbidden }
    }
}

import Foundation
import Logging
import PostgresNIO

/// Credentials for sending as one tenant through one provider type, with where each field came from.
public struct ResolvedCredentials: Sendable {
    public enum Source: String, Sendable, CaseIterable {
        case clientProviders = "client_providers"
        case clientsAPIURL = "clients.api_url"
        case clientsToken = "clients.token"
        case clientsToolsConfig = "clients.tools_config"
    }

    public var tenantId: UUID
    public var tenantActive: Bool
    public var providerType: ProviderType
    /// The `client_providers` row, nil for legacy credentials.
    public var providerId: UUID?
    public var providerName: String?
    public var apiURL: String?
    public var token: String?
    /// Meta only: the provider's own app secret, when it overrides META_APP_SECRET.
    public var appSecret: String?
    public var config: ProviderConfig
    public var apiURLSource: Source?
    public var tokenSource: Source?

    public var tokenMasked: String? { token.map(maskSecret) }

    /// URL and token from different places (a legacy column and `tools_config`).
    public var isMixed: Bool {
        guard let apiURLSource, let tokenSource else { return false }
        return (apiURLSource == .clientsToolsConfig) != (tokenSource == .clientsToolsConfig)
    }

    /// The key of this provider instance's circuit breaker.
    public var breakerKey: String {
        providerId.map { $0.uuidString.lowercased() } ?? "legacy:\(tenantId.uuidString.lowercased()):\(providerType.rawValue)"
    }
}

/// The one place that decides which credentials a send uses, in this order:
/// 1. an active `client_providers` row of the type (the requested id; else highest priority, then most
///    recently updated);
/// 2. the legacy columns of `clients` (URL from `api_url`, else `tools_config.whatsapp.url`; token from
///    `token`, else `tools_config.whatsapp.key`), when `whatsapp_provider` names this type or is empty;
/// 3. otherwise `no_credentials`.
/// One query per resolution; secrets are opened in memory only.
public struct CredentialResolver: Sendable {
    let db: DB
    let logger: Logger
    let secrets: SecretBox
    let outbound: OutboundSettings
    public let cache: CredentialCache

    public init(db: DB, logger: Logger, secrets: SecretBox, outbound: OutboundSettings,
                cache: CredentialCache = CredentialCache(ttl: .zero)) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.outbound = outbound
        self.cache = cache
    }

    public static func toolsKeyContext(_ tenant: UUID) -> String { TenantService.toolsSecretContext(["whatsapp", "key"], tenant: tenant) }

    /// For API callers: checks that `identity` may read the tenant first.
    public func resolve(tenantId: UUID, type: ProviderType, providerId: UUID? = nil, identity: Identity) async throws -> ResolvedCredentials {
        try Access.require(identity, .read, tenant: tenantId)
        return try await resolve(tenantId: tenantId, type: type, providerId: providerId)
    }

    /// `includeInactive` lets an explicitly requested, inactive instance resolve (to test it before
    /// switching it on); resolution without an id only ever picks active ones.
    public func resolve(tenantId: UUID, type: ProviderType, providerId: UUID? = nil, includeInactive: Bool = false) async throws -> ResolvedCredentials {
        let key = "\(tenantId.uuidString.lowercased())|\(type.rawValue)|\(providerId?.uuidString ?? "-")|\(includeInactive)"
        let (cached, generation) = cache.lookup(key)
        if let cached { return cached }
        let resolved = try await resolveFromDatabase(tenantId: tenantId, type: type, providerId: providerId, includeInactive: includeInactive)
        cache.store(key, resolved, generation: generation)
        return resolved
    }

    func resolveFromDatabase(tenantId: UUID, type: ProviderType, providerId: UUID?, includeInactive: Bool) async throws -> ResolvedCredentials {
        let rows = try await db.tenant(tenantId).query("""
            SELECT c.status, c.api_url, c.token, c.whatsapp_provider,
                   c.tools_config #>> '{whatsapp,url}', c.tools_config #>> '{whatsapp,key}',
                   c.tools_config #>> '{whatsapp,phone_number_id}', c.tools_config #>> '{whatsapp,workspace_id}',
                   p.id, p.name, p.api_url, p.token, p.app_secret, p.config::text
            FROM clients c
            LEFT JOIN LATERAL (
                SELECT id, name, api_url, token, app_secret, config FROM client_providers p
                WHERE p.tenant_id = c.id AND p.provider_type = \(type.rawValue)
                  AND (\(providerId)::uuid IS NULL AND p.active OR p.id = \(providerId) AND (p.active OR \(includeInactive)))
                ORDER BY p.priority DESC, p.updated_at DESC
                LIMIT 1
            ) p ON true
            WHERE c.id = \(tenantId) AND c.status <> 'deleted'
            """, logger: logger)
        typealias Row = (String, String?, String?, String?, String?, String?, String?, String?,
                         UUID?, String?, String?, String?, String?, String?)
        guard let row = try await rows.decode(Row.self).first(where: { _ in true }) else { throw AppError.notFound("Tenant") }
        var result = ResolvedCredentials(tenantId: tenantId, tenantActive: row.0 == "active", providerType: type,
                                         config: ProviderConfig())

        if let id = row.8, let sealedToken = row.11 {
            result.providerId = id
            result.providerName = row.9
            result.apiURL = row.10 ?? defaultURL(type)
            result.token = try secrets.open(sealedToken, context: ProviderService.tokenContext(id))
            result.appSecret = try row.12.map { try secrets.open($0, context: ProviderService.appSecretContext(id)) }
            result.config = ProviderConfig.decode(row.13 ?? "{}")
            result.apiURLSource = .clientProviders
            result.tokenSource = .clientProviders
            return result
        }
        if providerId != nil {
            throw AppError(.notFound, code: "not_found",
                           "Provider not found\(includeInactive ? "" : " or not active") for \(type.rawValue) in this tenant.")
        }

        let legacyType = row.3.flatMap(ProviderType.init(rawValue:))
        if legacyType == nil || legacyType == type {
            if let url = row.1.nonEmpty {
                (result.apiURL, result.apiURLSource) = (url, .clientsAPIURL)
            } else if let url = row.4.nonEmpty {
                (result.apiURL, result.apiURLSource) = (url, .clientsToolsConfig)
            }
            if let token = row.2.nonEmpty {
                result.token = try secrets.openLegacy(token, context: TenantService.tokenContext(tenantId))
                result.tokenSource = .clientsToken
            } else if let key = row.5.nonEmpty {
                result.token = try secrets.openLegacy(key, context: Self.toolsKeyContext(tenantId))
                result.tokenSource = .clientsToolsConfig
            }
            result.config = ProviderConfig(phoneNumberId: type == .meta ? row.6.nonEmpty : nil,
                                           workspaceId: type == .lancepilot ? row.7.nonEmpty : nil)
            if result.apiURLSource != nil || result.tokenSource != nil { return result }
        }
        let why = legacyType.map { $0 == type ? "its legacy columns are empty" : "its legacy credentials belong to \($0.rawValue)" }
            ?? "it has no legacy credentials"
        throw AppError(.notFound, code: "no_credentials",
                       "No credentials for \(type.rawValue): the tenant has no active \(type.rawValue) provider and \(why).")
    }

    func defaultURL(_ type: ProviderType) -> String? {
        switch type {
        case .meta: outbound.metaGraphURL
        case .lancepilot: outbound.lancePilotURL
        case .uazapi: nil
        }
    }
}

extension Optional where Wrapped == String {
    var nonEmpty: String? {
        guard let self, !self.trimmingCharacters(in: .whitespaces).isEmpty else { return nil }
        return self
    }
}

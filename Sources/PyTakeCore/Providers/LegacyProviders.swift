import Foundation
import Logging
import PostgresNIO

/// Moving tenants off the legacy credential columns of `clients` (`api_url`, `token`,
/// `whatsapp_provider`, `tools_config.whatsapp`) onto `client_providers` rows.
public struct LegacyProviders: Sendable {
    let db: DB
    let logger: Logger
    let secrets: SecretBox
    let providers: ProviderService

    public init(db: DB, logger: Logger, secrets: SecretBox) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.providers = ProviderService(db: db, logger: logger, secrets: secrets)
    }

    /// A tenant's legacy credentials, as stored.
    public struct Legacy: Sendable {
        public var tenantId: UUID
        public var slug: String
        public var whatsappProvider: ProviderType?
        public var apiURL: String?
        public var token: String?
        public var toolsURL: String?
        public var toolsKey: String?
        public var phoneNumberId: String?
        public var workspaceId: String?
        /// Types with an active `client_providers` row.
        public var activeTypes: Set<ProviderType>

        public var fields: [String] {
            [apiURL.map { _ in "api_url" }, token.map { _ in "token" }, toolsURL.map { _ in "tools_config.whatsapp.url" },
             toolsKey.map { _ in "tools_config.whatsapp.key" }].compactMap { $0 }
        }

        /// Types a send would still resolve from the legacy columns.
        public var dependentTypes: [ProviderType] {
            let served = whatsappProvider.map { [$0] } ?? ProviderType.allCases
            return served.filter { !activeTypes.contains($0) }
        }
    }

    public enum Outcome: Sendable, Equatable {
        case created(providerId: UUID, type: ProviderType)
        case wouldCreate(type: ProviderType)
        case alreadyMigrated(type: ProviderType)
        case skipped(String)
    }

    public static func rowName(_ type: ProviderType) -> String { "legacy-\(type.rawValue)" }

    /// Every tenant (not deleted) with something in its legacy columns.
    public func tenants(only tenant: UUID? = nil) async throws -> [Legacy] {
        let rows = try await db.scoped(tenant.map { .tenant($0) } ?? .platform(.maintenance)).query("""
            SELECT c.id, c.slug, c.whatsapp_provider, nullif(btrim(c.api_url), ''), nullif(c.token, ''),
                   nullif(btrim(c.tools_config #>> '{whatsapp,url}'), ''), nullif(c.tools_config #>> '{whatsapp,key}', ''),
                   nullif(c.tools_config #>> '{whatsapp,phone_number_id}', ''), nullif(c.tools_config #>> '{whatsapp,workspace_id}', ''),
                   coalesce((SELECT string_agg(DISTINCT p.provider_type, ',') FROM client_providers p
                             WHERE p.tenant_id = c.id AND p.active), '')
            FROM clients c
            WHERE c.status <> 'deleted' AND (\(tenant)::uuid IS NULL OR c.id = \(tenant))
              AND (nullif(btrim(c.api_url), '') IS NOT NULL OR nullif(c.token, '') IS NOT NULL
                   OR nullif(btrim(c.tools_config #>> '{whatsapp,url}'), '') IS NOT NULL
                   OR nullif(c.tools_config #>> '{whatsapp,key}', '') IS NOT NULL)
            ORDER BY c.slug
            """, logger: logger)
        typealias Row = (UUID, String, String?, String?, String?, String?, String?, String?, String?, String)
        var result: [Legacy] = []
        for try await row in rows.decode(Row.self) {
            result.append(Legacy(
                tenantId: row.0, slug: row.1, whatsappProvider: row.2.flatMap(ProviderType.init(rawValue:)),
                apiURL: row.3, token: try row.4.map { try secrets.openLegacy($0, context: TenantService.tokenContext(row.0)) },
                toolsURL: row.5, toolsKey: try row.6.map { try secrets.openLegacy($0, context: CredentialResolver.toolsKeyContext(row.0)) },
                phoneNumberId: row.7, workspaceId: row.8,
                activeTypes: Set(row.9.split(separator: ",").compactMap { ProviderType(rawValue: String($0)) })))
        }
        return result
    }

    /// Tenants a send would still serve from legacy columns.
    public func report() async throws -> [Legacy] {
        try await tenants().filter { !$0.dependentTypes.isEmpty }
    }

    /// Copies each tenant's legacy credentials into a `client_providers` row named `legacy-<type>`.
    /// Idempotent: a tenant whose row exists is reported as already migrated. The legacy columns are
    /// left as they are (the new row wins resolution), so nothing breaks if the copy is wrong.
    public func migrate(tenant: UUID? = nil, dryRun: Bool, typeWhenUnset: ProviderType? = nil) async throws -> [(Legacy, Outcome)] {
        var results: [(Legacy, Outcome)] = []
        for legacy in try await tenants(only: tenant) {
            results.append((legacy, try await migrate(legacy, dryRun: dryRun, typeWhenUnset: typeWhenUnset)))
        }
        return results
    }

    private func migrate(_ legacy: Legacy, dryRun: Bool, typeWhenUnset: ProviderType?) async throws -> Outcome {
        guard let type = legacy.whatsappProvider ?? typeWhenUnset else {
            return .skipped("whatsapp_provider is empty, so the type is unknown; pass --type-when-unset")
        }
        let existing = try await db.tenant(legacy.tenantId).query("""
            SELECT 1 FROM client_providers WHERE tenant_id = \(legacy.tenantId) AND lower(name) = \(Self.rowName(type))
            """, logger: logger)
        if try await existing.decode(Int.self).first(where: { _ in true }) != nil { return .alreadyMigrated(type: type) }
        guard let token = legacy.token ?? legacy.toolsKey else { return .skipped("no token in the legacy columns") }
        let url = legacy.apiURL ?? legacy.toolsURL
        var config = ProviderConfig()
        switch type {
        case .meta:
            guard let id = legacy.phoneNumberId else { return .skipped("meta needs tools_config.whatsapp.phone_number_id") }
            config.phoneNumberId = id
        case .uazapi:
            guard url != nil else { return .skipped("uazapi needs an api_url") }
        case .lancepilot:
            guard let workspace = legacy.workspaceId else { return .skipped("lancepilot needs tools_config.whatsapp.workspace_id") }
            config.workspaceId = workspace
        }
        if dryRun { return .wouldCreate(type: type) }
        do {
            let created = try await providers.create(
                tenantId: legacy.tenantId,
                ProviderInput(type: type, name: Self.rowName(type), apiURL: url, token: token, config: config),
                identity: nil, actor: .cli)
            return .created(providerId: created.id, type: type)
        } catch let error as AppError {
            let fields = error.fieldErrors.map { "\($0.field) \($0.message)" }.joined(separator: "; ")
            return .skipped("\(error.detail)\(fields.isEmpty ? "" : " " + fields)")
        }
    }
}

import Foundation
import Logging
import PostgresNIO

/// Non-secret settings of a provider instance; which fields apply depends on the provider type.
public struct ProviderConfig: Sendable, Equatable, Codable {
    /// Meta: the WhatsApp Business phone number id messages are sent from (webhooks are routed by it).
    public var phoneNumberId: String?
    /// Meta: the number as people see it, e.g. "+55 11 91234-5678".
    public var displayPhoneNumber: String?
    /// Meta: WhatsApp Business Account id.
    public var wabaId: String?
    /// Meta: Business portfolio id.
    public var businessId: String?
    /// Uazapi: the instance name, for operators (the instance token authenticates).
    public var instance: String?
    /// LancePilot: the workspace messages are sent from.
    public var workspaceId: String?

    public init(phoneNumberId: String? = nil, displayPhoneNumber: String? = nil, wabaId: String? = nil, businessId: String? = nil,
                instance: String? = nil, workspaceId: String? = nil) {
        self.phoneNumberId = phoneNumberId
        self.displayPhoneNumber = displayPhoneNumber
        self.wabaId = wabaId
        self.businessId = businessId
        self.instance = instance
        self.workspaceId = workspaceId
    }

    enum CodingKeys: String, CodingKey {
        case phoneNumberId = "phone_number_id", displayPhoneNumber = "display_phone_number", wabaId = "waba_id"
        case businessId = "business_id", instance, workspaceId = "workspace_id"
    }

    static let fields: [(key: CodingKeys, types: Set<ProviderType>, required: Bool)] = [
        (.phoneNumberId, [.meta], true), (.displayPhoneNumber, [.meta], false), (.wabaId, [.meta], false),
        (.businessId, [.meta], false), (.instance, [.uazapi], false), (.workspaceId, [.lancepilot], true),
    ]

    func value(_ key: CodingKeys) -> String? {
        switch key {
        case .phoneNumberId: phoneNumberId
        case .displayPhoneNumber: displayPhoneNumber
        case .wabaId: wabaId
        case .businessId: businessId
        case .instance: instance
        case .workspaceId: workspaceId
        }
    }

    var json: String { (try? JSONColumn.encode(self)) ?? "{}" }

    static func decode(_ json: String) -> ProviderConfig {
        (try? JSONDecoder().decode(ProviderConfig.self, from: Data(json.utf8))) ?? ProviderConfig()
    }
}

/// One provider instance of a tenant (table `client_providers`). Secrets are held in clear only in
/// memory; the API shows them masked.
public struct Provider: Sendable {
    public var id: UUID
    public var tenantId: UUID
    public var type: ProviderType
    public var name: String
    public var active: Bool
    public var priority: Int
    public var apiURL: String?
    public var token: String
    public var appSecret: String?
    public var config: ProviderConfig
    public var createdAt: Date
    public var updatedAt: Date
}

public struct ProviderInput: Sendable {
    public var type: ProviderType
    public var name: String
    public var active: Bool?
    public var priority: Int?
    public var apiURL: String?
    public var token: String
    public var appSecret: String?
    public var config: ProviderConfig
    /// The PIN PyTake registered the number with (Embedded Signup), stored sealed.
    public var registrationPin: String?
    /// How the change came about, for the audit log (e.g. "embedded_signup").
    public var via: String?

    public init(type: ProviderType, name: String, active: Bool? = nil, priority: Int? = nil, apiURL: String? = nil,
                token: String, appSecret: String? = nil, config: ProviderConfig = ProviderConfig()) {
        self.type = type
        self.name = name
        self.active = active
        self.priority = priority
        self.apiURL = apiURL
        self.token = token
        self.appSecret = appSecret
        self.config = config
    }
}

public struct ProviderPatch: Sendable {
    public enum Clearable: String, Sendable, CaseIterable { case apiURL = "api_url", appSecret = "app_secret" }
    public var name: String?
    public var active: Bool?
    public var priority: Int?
    public var apiURL: String?
    public var token: String?
    public var appSecret: String?
    /// Replaces the whole configuration when present.
    public var config: ProviderConfig?
    public var clear: Set<Clearable> = []
    public var registrationPin: String?
    public var via: String?
    public init() {}

    var changedFields: String {
        var fields: [String] = []
        if name != nil { fields.append("name") }
        if active != nil { fields.append("active") }
        if priority != nil { fields.append("priority") }
        if apiURL != nil { fields.append("api_url") }
        if token != nil { fields.append("token") }
        if appSecret != nil { fields.append("app_secret") }
        if config != nil { fields.append("config") }
        return (fields + clear.map(\.rawValue).sorted()).joined(separator: ",")
    }
}

public struct ProviderQuery: Sendable {
    public var page: PageRequest
    public var type: ProviderType?
    public var active: Bool?
    public init(page: PageRequest, type: ProviderType? = nil, active: Bool? = nil) {
        self.page = page
        self.type = type
        self.active = active
    }
}

enum ProviderRules {
    static func check(name: String?, priority: Int?, apiURL: String?, token: String?, appSecret: String?, into v: inout Validator) {
        if let name {
            v.check(!name.isBlank && name.unicodeScalars.count <= 100 && !name.containsNUL,
                    "name", "must be 1 to 100 characters and not blank")
        }
        if let priority { v.check((-1000...1000).contains(priority), "priority", "must be between -1000 and 1000") }
        if let apiURL {
            v.check(HTTPURLRule.matches(apiURL), "api_url", "must be an absolute http(s) URL without query, fragment or credentials")
        }
        if let token {
            v.check(!token.isBlank && token.unicodeScalars.count <= 4096 && !token.containsNUL,
                    "token", "must be 1 to 4096 characters")
        }
        if let appSecret {
            v.check(!appSecret.isEmpty && appSecret.unicodeScalars.count <= 256 && !appSecret.containsNUL,
                    "config.app_secret", "must be 1 to 256 characters")
        }
    }

    /// The fields of `config` must be the ones `type` uses, and well-formed.
    static func check(config: ProviderConfig, type: ProviderType, hasAppSecret: Bool, into v: inout Validator) {
        for field in ProviderConfig.fields {
            let value = config.value(field.key)
            let name = "config." + field.key.rawValue
            if !field.types.contains(type) {
                v.check(value == nil, name, "is not used by \(type.rawValue) providers")
            } else if let value {
                switch field.key {
                case .phoneNumberId, .wabaId, .businessId:
                    v.check((1...32).contains(value.count) && value.allSatisfy(\.isASCIIDigit), name, "must be 1 to 32 digits")
                case .displayPhoneNumber:
                    v.check((1...32).contains(value.count) && value.allSatisfy { $0.isASCIIDigit || " +-()".contains($0) },
                            name, "must be a phone number (digits, spaces, + - and parentheses)")
                case .workspaceId:
                    v.check((1...100).contains(value.count) && value.allSatisfy { $0.isASCII && ($0.isLetter || $0.isNumber || $0 == "-" || $0 == "_") },
                            name, "must be 1 to 100 letters, digits, - or _")
                case .instance:
                    v.check((1...100).contains(value.unicodeScalars.count) && !value.containsNUL, name, "must be 1 to 100 characters")
                }
            } else if field.required {
                v.check(false, name, "is required for \(type.rawValue) providers")
            }
        }
        if hasAppSecret { v.check(type == .meta, "config.app_secret", "is used by meta providers only") }
    }
}

extension Character {
    var isASCIIDigit: Bool { isASCII && isNumber }
}

/// Provider instances of a tenant: tenant_admin and platform_admin write; every tenant role reads.
public struct ProviderService: Sendable {
    let db: DB
    let logger: Logger
    let secrets: SecretBox
    /// Told (locally at once, other processes through NOTIFY) when a tenant's providers change.
    let cache: CredentialCache?

    public init(db: DB, logger: Logger, secrets: SecretBox, cache: CredentialCache? = nil) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.cache = cache
    }

    static func tokenContext(_ id: UUID) -> String { "client_providers.token:" + id.uuidString.lowercased() }
    static func appSecretContext(_ id: UUID) -> String { "client_providers.app_secret:" + id.uuidString.lowercased() }

    static let columns = """
        id, tenant_id, provider_type, name, active, priority, api_url, token, app_secret, config::text,
        created_at, updated_at, ((extract(epoch FROM created_at) * 1000000)::int8)::text AS cursor_time
        """

    public func create(tenantId: UUID, _ input: ProviderInput, identity: Identity?, actor: AuditActor) async throws -> Provider {
        if let identity { try Access.require(identity, .administer, tenant: tenantId) }
        var v = Validator()
        ProviderRules.check(name: input.name, priority: input.priority, apiURL: input.apiURL, token: input.token,
                            appSecret: input.appSecret, into: &v)
        if input.type == .uazapi { v.check(input.apiURL != nil, "api_url", "is required for uazapi providers (the instance's server)") }
        ProviderRules.check(config: input.config, type: input.type, hasAppSecret: input.appSecret != nil, into: &v)
        try v.finish()
        let id = UUID()
        let token = try secrets.seal(input.token, context: Self.tokenContext(id))
        let appSecret = try input.appSecret.map { try secrets.seal($0, context: Self.appSecretContext(id)) }
        let pin = try input.registrationPin.map { try secrets.seal($0, context: Self.pinContext(id)) }
        return try await mapConflicts(input.name, input.config) {
            try await changing(tenantId) { tx in
                let rows = try await tx.query("""
                    INSERT INTO client_providers (id, tenant_id, provider_type, name, active, priority, api_url, token, app_secret, config,
                                                  registration_pin)
                    VALUES (\(id), \(tenantId), \(input.type.rawValue), \(input.name), \(input.active ?? true), \(input.priority ?? 0),
                            \(input.apiURL), \(token), \(appSecret), \(input.config.json)::jsonb, \(pin))
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                let provider = try await decode(rows).first!.provider
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "provider.create",
                                          targetType: "provider", targetId: id.uuidString.lowercased(),
                                          details: ["provider_type": input.type.rawValue, "name": input.name, "via": input.via ?? "api"])
                return provider
            }
        }
    }

    public func get(tenantId: UUID, id: UUID, identity: Identity) async throws -> Provider {
        try Access.require(identity, .read, tenant: tenantId)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM client_providers p
            WHERE id = \(id) AND tenant_id = \(tenantId)
              AND EXISTS (SELECT 1 FROM clients c WHERE c.id = p.tenant_id AND c.status <> 'deleted')
            """, logger: logger)
        guard let provider = try await decode(rows).first?.provider else { throw AppError.notFound("Provider") }
        return provider
    }

    public func list(tenantId: UUID, _ query: ProviderQuery, identity: Identity) async throws -> Page<Provider> {
        try Access.require(identity, .read, tenant: tenantId)
        guard try await TenantStore.exists(client: db, logger: logger, id: tenantId) else {
            throw AppError.notFound("Tenant")
        }
        let after = try Cursor.decodeTimeAndID(query.page.cursor)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM client_providers
            WHERE tenant_id = \(tenantId)
              AND (\(query.type?.rawValue)::text IS NULL OR provider_type = \(query.type?.rawValue))
              AND (\(query.active)::boolean IS NULL OR active = \(query.active))
              AND (\(after?.time)::timestamptz IS NULL OR (created_at, id) > (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY created_at, id
            LIMIT \(query.page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await decode(rows), limit: query.page.limit, item: \.provider, cursor: { [$0.cursorTime, $0.provider.id.uuidString] })
    }

    /// `identity` nil: PyTake itself (Embedded Signup) or an operator.
    public func update(tenantId: UUID, id: UUID, _ patch: ProviderPatch, identity: Identity?, actor: AuditActor) async throws -> Provider {
        if let identity { try Access.require(identity, .administer, tenant: tenantId) }
        var v = Validator()
        ProviderRules.check(name: patch.name, priority: patch.priority, apiURL: patch.apiURL, token: patch.token,
                            appSecret: patch.appSecret, into: &v)
        v.check(!(patch.apiURL != nil && patch.clear.contains(.apiURL)), "api_url", "cannot be both set and cleared")
        v.check(!(patch.appSecret != nil && patch.clear.contains(.appSecret)), "config.app_secret", "cannot be both set and cleared")
        try v.finish()
        let token = try patch.token.map { try secrets.seal($0, context: Self.tokenContext(id)) }
        let appSecret = try patch.appSecret.map { try secrets.seal($0, context: Self.appSecretContext(id)) }
        let pin = try patch.registrationPin.map { try secrets.seal($0, context: Self.pinContext(id)) }
        return try await mapConflicts(patch.name ?? "", patch.config ?? ProviderConfig()) {
            try await changing(tenantId) { tx in
                // Type-dependent rules need the stored type: validate under the row lock.
                let current = try await decode(try await tx.query("""
                    SELECT \(unescaped: Self.columns) FROM client_providers WHERE id = \(id) AND tenant_id = \(tenantId) FOR UPDATE
                    """, logger: logger)).first?.provider
                guard let current else { throw AppError.notFound("Provider") }
                var v = Validator()
                let keepsAppSecret = patch.appSecret != nil || (current.appSecret != nil && !patch.clear.contains(.appSecret))
                ProviderRules.check(config: patch.config ?? current.config, type: current.type, hasAppSecret: keepsAppSecret, into: &v)
                if current.type == .uazapi { v.check(!patch.clear.contains(.apiURL), "api_url", "is required for uazapi providers") }
                try v.finish()
                let rows = try await tx.query("""
                    UPDATE client_providers SET
                        name = coalesce(\(patch.name), name),
                        active = coalesce(\(patch.active), active),
                        priority = coalesce(\(patch.priority), priority),
                        api_url = CASE WHEN \(patch.clear.contains(.apiURL)) THEN NULL ELSE coalesce(\(patch.apiURL), api_url) END,
                        token = coalesce(\(token), token),
                        app_secret = CASE WHEN \(patch.clear.contains(.appSecret)) THEN NULL ELSE coalesce(\(appSecret), app_secret) END,
                        config = coalesce(\(patch.config?.json)::jsonb, config),
                        registration_pin = coalesce(\(pin), registration_pin),
                        updated_at = now()
                    WHERE id = \(id) AND tenant_id = \(tenantId)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                let provider = try await decode(rows).first!.provider
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "provider.update",
                                          targetType: "provider", targetId: id.uuidString.lowercased(),
                                          details: ["fields": patch.changedFields, "via": patch.via ?? "api"])
                return provider
            }
        }
    }

    public func delete(tenantId: UUID, id: UUID, identity: Identity, actor: AuditActor) async throws {
        try Access.require(identity, .administer, tenant: tenantId)
        try await changing(tenantId) { tx in
            let rows = try await tx.query("""
                DELETE FROM client_providers WHERE id = \(id) AND tenant_id = \(tenantId) RETURNING provider_type, name
                """, logger: logger)
            guard let (type, name) = try await rows.decode((String, String).self).first(where: { _ in true }) else {
                throw AppError.notFound("Provider")
            }
            try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "provider.delete",
                                      targetType: "provider", targetId: id.uuidString.lowercased(),
                                      details: ["provider_type": type, "name": name])
        }
    }

    /// A write to `tenantId`'s providers: locks the (live) tenant, announces the change to every
    /// process's credential cache at commit, and forgets this process's entries after it.
    private func changing<T: Sendable>(_ tenantId: UUID, _ body: @Sendable (Tx) async throws -> T) async throws -> T {
        let result = try await db.tenant(tenantId).transaction(logger: logger) { tx in
            try await Self.lockLiveTenant(tx, tenantId, logger: logger)
            let result = try await body(tx)
            try await CredentialCache.notify(tx, tenant: tenantId, logger: logger)
            return result
        }
        cache?.invalidate(tenant: tenantId)
        return result
    }

    /// Writes need a tenant that exists and is not deleted; the share lock keeps it so until commit.
    static func lockLiveTenant(_ tx: Tx, _ tenantId: UUID, logger: Logger) async throws {
        let rows = try await tx.query("SELECT 1 FROM clients WHERE id = \(tenantId) AND status <> 'deleted' FOR SHARE", logger: logger)
        guard try await rows.decode(Int.self).first(where: { _ in true }) != nil else { throw AppError.notFound("Tenant") }
    }

    private func mapConflicts<T: Sendable>(_ name: String, _ config: ProviderConfig, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch where Database.isUniqueViolation(error, constraint: "client_providers_name_key") {
            throw AppError(.conflict, code: "provider_name_taken", "This tenant already has a provider named '\(name)'.")
        } catch where Database.isUniqueViolation(error, constraint: "client_providers_phone_number_key") {
            throw AppError(.conflict, code: "phone_number_taken",
                           "WhatsApp phone number id \(config.phoneNumberId ?? "") is already connected to a provider.")
        }
    }

    func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(provider: Provider, cursorTime: String)] {
        var result: [(Provider, String)] = []
        typealias Row = (UUID, UUID, String, String, Bool, Int, String?, String, String?, String, Date, Date, String)
        for try await row in rows.decode(Row.self) {
            result.append((Provider(
                id: row.0, tenantId: row.1, type: ProviderType(rawValue: row.2) ?? .meta, name: row.3, active: row.4, priority: row.5,
                apiURL: row.6, token: try secrets.open(row.7, context: Self.tokenContext(row.0)),
                appSecret: try row.8.map { try secrets.open($0, context: Self.appSecretContext(row.0)) },
                config: ProviderConfig.decode(row.9), createdAt: row.10, updatedAt: row.11
            ), row.12))
        }
        return result
    }
}

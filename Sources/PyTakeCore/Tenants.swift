import Foundation
import Logging
import PostgresNIO

public enum TenantStatus: String, Sendable, CaseIterable {
    case active, suspended, deleted
}

public enum ProviderType: String, Sendable, CaseIterable {
    case meta, uazapi, lancepilot
}

/// A business using PyTake (table `clients`).
public struct Tenant: Sendable {
    public var id: UUID
    public var name: String
    public var slug: String
    public var timezone: String
    public var status: TenantStatus
    /// A JSON object, as text.
    public var toolsConfigJSON: String
    public var apiURL: String?
    public var token: String?
    public var whatsappProvider: ProviderType?
    public var createdAt: Date
    public var updatedAt: Date

    /// The legacy token as the API shows it: its last 4 characters only.
    public var tokenMasked: String? { token.map(maskSecret) }
}

extension String {
    /// PostgreSQL text cannot hold U+0000.
    var containsNUL: Bool { unicodeScalars.contains("\0") }
    /// Nothing but Unicode White_Space (the opposite of openapi.yaml's `NotBlank`).
    var isBlank: Bool { unicodeScalars.allSatisfy(\.properties.isWhitespace) }
}

/// openapi.yaml's `HttpUrl`: `http` or `https`, a host name of DNS labels, an optional port and a
/// path of RFC 3986 path characters; no credentials, query or fragment. Foundation must agree it
/// is a URL with a host (every sender builds on `URL`).
enum HTTPURLRule {
    nonisolated(unsafe) static let regex: Regex<AnyRegexOutput> = {
        let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
        let port = "(?:6553[0-5]|655[0-2][0-9]|65[0-4][0-9]{2}|6[0-4][0-9]{3}|[1-5][0-9]{4}|[0-9]{1,4})"
        let path = "(?:/(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})*)*"
        return try! Regex("https?://\(label)(?:\\.\(label))*(?::\(port))?\(path)").matchingSemantics(.unicodeScalar)
    }()

    static func matches(_ text: String) -> Bool {
        guard text.unicodeScalars.count <= 2048, text.wholeMatch(of: regex) != nil, let url = URL(string: text) else { return false }
        return url.host?.isEmpty == false
    }
}

/// Shows only the last 4 characters of a secret (fewer when the secret is short).
public func maskSecret(_ secret: String) -> String {
    let visible = secret.count >= 12 ? 4 : 0
    return "••••" + secret.suffix(visible)
}

public struct TenantInput: Sendable {
    public var name: String
    public var slug: String
    public var timezone: String?
    public var status: TenantStatus?
    public var toolsConfigJSON: String?
    public var apiURL: String?
    public var token: String?
    public var whatsappProvider: ProviderType?

    public init(name: String, slug: String, timezone: String? = nil, status: TenantStatus? = nil,
                toolsConfigJSON: String? = nil, apiURL: String? = nil, token: String? = nil, whatsappProvider: ProviderType? = nil) {
        self.name = name
        self.slug = slug
        self.timezone = timezone
        self.status = status
        self.toolsConfigJSON = toolsConfigJSON
        self.apiURL = apiURL
        self.token = token
        self.whatsappProvider = whatsappProvider
    }
}

public struct TenantPatch: Sendable {
    public enum Clearable: String, Sendable, CaseIterable { case apiURL = "api_url", token, whatsappProvider = "whatsapp_provider" }
    public var name: String?
    public var slug: String?
    public var timezone: String?
    public var status: TenantStatus?
    public var toolsConfigJSON: String?
    public var apiURL: String?
    public var token: String?
    public var whatsappProvider: ProviderType?
    public var clear: Set<Clearable> = []
    public init() {}
}

public struct TenantQuery: Sendable {
    public var page: PageRequest
    public var search: String?
    public var status: TenantStatus?
    public init(page: PageRequest, search: String? = nil, status: TenantStatus? = nil) {
        self.page = page
        self.search = search
        self.status = status
    }
}

enum TenantRules {
    /// `^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?$`, 2 to 63 characters.
    static func isValidSlug(_ slug: String) -> Bool {
        let bytes = Array(slug.utf8)
        func alnum(_ b: UInt8) -> Bool { (b >= 0x61 && b <= 0x7a) || (b >= 0x30 && b <= 0x39) }
        guard (2...63).contains(bytes.count), alnum(bytes.first!), alnum(bytes.last!) else { return false }
        return bytes.allSatisfy { alnum($0) || $0 == 0x2d }
    }
    /// The sections of `tools_config` PyTake itself reads; anything else is kept as the tenant sent it.
    static func checkToolsConfig(_ config: [String: JSONValue], into v: inout Validator) {
        if let debounce = config["debounce_ms"] {
            v.check(debounce.number.map { (0...60_000).contains($0) && $0.rounded() == $0 } ?? false,
                    "tools_config.debounce_ms", "must be a whole number of milliseconds from 0 to 60000")
        }
        if let ai = config["ai"] {
            if let ai = ai.object {
                v.check(ai["base_url"] == nil || ai["base_url"]?.string.map(HTTPURLRule.matches) == true,
                        "tools_config.ai.base_url", "must be an absolute http(s) URL")
                for field in ["model", "key", "system_prompt"] where ai[field] != nil {
                    v.check(ai[field]?.string.map { !$0.isEmpty && $0.unicodeScalars.count <= 8000 } ?? false, "tools_config.ai.\(field)",
                            "must be a string of 1 to 8000 characters")
                }
            } else {
                v.check(false, "tools_config.ai", "must be an object")
            }
        }
        if let followup = config["followup"] {
            for problem in FollowUpPolicy.problems(followup) { v.check(false, problem.field, problem.message) }
        }
        if let webhooks = config["webhooks"] {
            let secret = webhooks["secret"]
            v.check(webhooks.object != nil && (secret == nil || (secret?.string.map { $0.hasPrefix("••••") || (16...256).contains($0.unicodeScalars.count) } ?? false)),
                    "tools_config.webhooks.secret", "must be a string of 16 to 256 characters")
        }
    }

    static let timezones = Set(TimeZone.knownTimeZoneIdentifiers).union(["UTC"])

    static func check(name: String?, slug: String?, timezone: String?, apiURL: String?, token: String?, toolsConfigJSON: String?,
                      into v: inout Validator) {
        if let name {
            // unicodeScalars: the database counts code points, not what Swift calls characters.
            v.check(!name.isBlank && name.unicodeScalars.count <= 200 && !name.containsNUL, "name", "must be 1 to 200 characters and not blank")
        }
        if let token {
            v.check(!token.isEmpty && token.unicodeScalars.count <= 4096 && !token.containsNUL, "token", "must be 1 to 4096 characters")
        }
        if let toolsConfigJSON {
            v.check(!toolsConfigJSON.contains("\\u0000"), "tools_config", "must not contain NUL characters")
            if let object = try? JSONDecoder().decode([String: JSONValue].self, from: Data(toolsConfigJSON.utf8)) {
                checkToolsConfig(object, into: &v)
            }
        }
        if let slug {
            v.check(isValidSlug(slug),
                    "slug", "must be 2 to 63 lowercase letters, digits or inner hyphens")
        }
        if let timezone {
            v.check(timezones.contains(timezone), "timezone", "not an IANA time zone: \(timezone)")
        }
        if let apiURL {
            v.check(HTTPURLRule.matches(apiURL), "api_url", "must be an absolute http(s) URL without credentials, query or fragment")
        }
    }
}

public struct TenantService: Sendable {
    let db: DB
    let logger: Logger
    /// The legacy `clients.token` is stored sealed, bound to its tenant.
    let secrets: SecretBox
    /// Legacy credentials and tenant status feed credential resolution: changes are announced.
    let cache: CredentialCache?

    public init(db: DB, logger: Logger, secrets: SecretBox, cache: CredentialCache? = nil) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.cache = cache
    }

    static func tokenContext(_ tenant: UUID) -> String { "clients.token:" + tenant.uuidString.lowercased() }

    static let columns = "id, name, slug, timezone, status, tools_config::text, api_url, token, whatsapp_provider, created_at, updated_at, ((extract(epoch FROM created_at) * 1000000)::int8)::text AS cursor_time"

    /// Creates a tenant. `identity` nil means the operator CLI; otherwise only platform_admin may.
    public func create(_ input: TenantInput, identity: Identity?, actor: AuditActor) async throws -> Tenant {
        if let identity { try Access.requirePlatformAdmin(identity) }
        var v = Validator()
        TenantRules.check(name: input.name, slug: input.slug, timezone: input.timezone, apiURL: input.apiURL,
                          token: input.token, toolsConfigJSON: input.toolsConfigJSON, into: &v)
        v.check(input.status != .deleted, "status", "a new tenant is active or suspended")
        try v.finish()
        do {
            let id = UUID()
            let sealedToken = try input.token.map { try secrets.seal($0, context: Self.tokenContext(id)) }
            let toolsConfig = try input.toolsConfigJSON.map { try sealToolsSecrets($0, tenant: id).json }
            return try await db.tenant(id).transaction(logger: logger) { tx in
                let rows = try await tx.query("""
                    INSERT INTO clients (id, name, slug, timezone, status, tools_config, api_url, token, whatsapp_provider)
                    VALUES (\(id), \(input.name), \(input.slug), \(input.timezone ?? "UTC"), \((input.status ?? .active).rawValue),
                            \(toolsConfig ?? "{}")::jsonb, \(input.apiURL), \(sealedToken), \(input.whatsappProvider?.rawValue))
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                let tenant = try await decode(rows).first!.tenant
                try await AuditLog.record(tx, logger: logger, tenantId: tenant.id, actor: actor, action: "tenant.create",
                                          targetType: "tenant", targetId: tenant.id.uuidString.lowercased(),
                                          details: ["slug": tenant.slug])
                return tenant
            }
        } catch where Database.isUniqueViolation(error, constraint: "clients_slug_key") {
            throw AppError(.conflict, code: "slug_taken", "Another tenant already uses the slug '\(input.slug)'.")
        }
    }

    public func get(_ id: UUID, identity: Identity) async throws -> Tenant {
        try Access.require(identity, .read, tenant: id)
        // A deleted tenant is gone from the API, for platform admins too, until it is restored.
        guard let tenant = try await fetch(id), tenant.status != .deleted else { throw AppError.notFound("Tenant") }
        return tenant
    }

    /// platform_admin: every tenant (deleted ones only when asked by status); others: their own.
    public func list(_ query: TenantQuery, identity: Identity) async throws -> Page<Tenant> {
        if query.status == .deleted { try Access.requirePlatformAdmin(identity) }
        if let search = query.search, search.unicodeScalars.count > 100 || search.containsNUL {
            throw AppError.invalidParameter("q", "must be at most 100 characters")
        }
        let after = try Cursor.decodeTimeAndID(query.page.cursor)
        let onlyTenant = identity.isPlatformAdmin ? nil : identity.tenantId
        let pattern = query.search.map { "%" + $0.replacingOccurrences(of: "\\", with: "\\\\")
            .replacingOccurrences(of: "%", with: "\\%").replacingOccurrences(of: "_", with: "\\_") + "%" }
        let scope: DataScope = identity.isPlatformAdmin ? .platform(.tenantAdministration) : onlyTenant.map { .tenant($0) } ?? .none
        let rows = try await db.scoped(scope).query("""
            SELECT \(unescaped: Self.columns) FROM clients
            WHERE (\(onlyTenant)::uuid IS NULL OR id = \(onlyTenant))
              AND (\(query.status?.rawValue)::text IS NULL AND status <> 'deleted' OR status = \(query.status?.rawValue))
              AND (\(pattern)::text IS NULL OR name ILIKE \(pattern) OR slug ILIKE \(pattern))
              AND (\(after?.time)::timestamptz IS NULL OR (created_at, id) > (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY created_at, id
            LIMIT \(query.page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await decode(rows), limit: query.page.limit, item: \.tenant, cursor: { [$0.cursorTime, $0.tenant.id.uuidString] })
    }

    public func update(_ id: UUID, _ patch: TenantPatch, identity: Identity, actor: AuditActor) async throws -> Tenant {
        try Access.require(identity, .administer, tenant: id)
        if patch.status != nil { try Access.requirePlatformAdmin(identity) }
        var v = Validator()
        TenantRules.check(name: patch.name, slug: patch.slug, timezone: patch.timezone, apiURL: patch.apiURL,
                          token: patch.token, toolsConfigJSON: patch.toolsConfigJSON, into: &v)
        for field in patch.clear {
            let set = switch field {
            case .apiURL: patch.apiURL != nil
            case .token: patch.token != nil
            case .whatsappProvider: patch.whatsappProvider != nil
            }
            v.check(!set, field.rawValue, "cannot be both set and cleared")
        }
        try v.finish()
        let sealedToken = try patch.token.map { try secrets.seal($0, context: Self.tokenContext(id)) }
        let toolsConfig = try patch.toolsConfigJSON.map { try sealToolsSecrets($0, tenant: id) }
        let keep = toolsConfig?.keep ?? []
        do {
            let updated = try await db.tenant(id).transaction(logger: logger) { tx in
                let rows = try await tx.query("""
                    UPDATE clients SET
                        name = coalesce(\(patch.name), name),
                        slug = coalesce(\(patch.slug), slug),
                        timezone = coalesce(\(patch.timezone), timezone),
                        status = coalesce(\(patch.status?.rawValue), status),
                        deleted_at = CASE WHEN \(patch.status?.rawValue)::text IS NULL THEN deleted_at
                                          WHEN \(patch.status?.rawValue) = 'deleted' THEN coalesce(deleted_at, now()) ELSE NULL END,
                        tools_config = CASE
                            WHEN \(toolsConfig?.json)::jsonb IS NULL THEN tools_config
                            ELSE pytake_keep_secret(pytake_keep_secret(pytake_keep_secret(\(toolsConfig?.json)::jsonb, tools_config,
                                     '{whatsapp,key}', \(keep.contains(["whatsapp", "key"]))), tools_config,
                                     '{ai,key}', \(keep.contains(["ai", "key"]))), tools_config,
                                     '{webhooks,secret}', \(keep.contains(["webhooks", "secret"]))) END,
                        api_url = CASE WHEN \(patch.clear.contains(.apiURL)) THEN NULL ELSE coalesce(\(patch.apiURL), api_url) END,
                        token = CASE WHEN \(patch.clear.contains(.token)) THEN NULL ELSE coalesce(\(sealedToken), token) END,
                        whatsapp_provider = CASE WHEN \(patch.clear.contains(.whatsappProvider)) THEN NULL
                                                 ELSE coalesce(\(patch.whatsappProvider?.rawValue), whatsapp_provider) END,
                        updated_at = now()
                    WHERE id = \(id) AND status <> 'deleted'
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let tenant = try await decode(rows).first?.tenant else { throw AppError.notFound("Tenant") }
                if tenant.status != .active {
                    // A suspended or deleted tenant's users are signed out now, not when their tokens expire.
                    try await Self.revokeSessions(tx, tenant: id, logger: logger)
                }
                try await AuditLog.record(tx, logger: logger, tenantId: id, actor: actor, action: "tenant.update",
                                          targetType: "tenant", targetId: id.uuidString.lowercased(),
                                          details: patch.changedFields)
                try await CredentialCache.notify(tx, tenant: id, logger: logger)
                return tenant
            }
            cache?.invalidate(tenant: id)
            return updated
        } catch where Database.isUniqueViolation(error, constraint: "clients_slug_key") {
            throw AppError(.conflict, code: "slug_taken", "Another tenant already uses the slug '\(patch.slug ?? "")'.")
        }
    }

    /// Brings a deleted tenant back as active (platform_admin). One that is not deleted is returned
    /// as it is, so a repeated restore is harmless.
    public func restore(_ id: UUID, identity: Identity, actor: AuditActor) async throws -> Tenant {
        guard Access.canSee(identity, tenant: id) else { throw AppError.notFound("Tenant") }
        try Access.requirePlatformAdmin(identity)
        let restored = try await db.tenant(id).transaction(logger: logger) { tx -> Tenant? in
            let rows = try await tx.query("""
                UPDATE clients SET status = 'active', deleted_at = NULL, updated_at = now()
                WHERE id = \(id) AND status = 'deleted'
                RETURNING \(unescaped: Self.columns)
                """, logger: logger)
            guard let tenant = try await decode(rows).first?.tenant else { return nil }
            try await AuditLog.record(tx, logger: logger, tenantId: id, actor: actor, action: "tenant.restore",
                                      targetType: "tenant", targetId: id.uuidString.lowercased())
            try await CredentialCache.notify(tx, tenant: id, logger: logger)
            return tenant
        }
        guard let restored else { return try await get(id, identity: identity) }
        cache?.invalidate(tenant: id)
        return restored
    }

    /// Soft delete: the row and its data stay; the tenant leaves lists, its users cannot sign in,
    /// and it and everything under it answer 404 until `restore`.
    public func delete(_ id: UUID, identity: Identity, actor: AuditActor) async throws {
        guard Access.canSee(identity, tenant: id) else { throw AppError.notFound("Tenant") }
        try Access.requirePlatformAdmin(identity)
        try await db.tenant(id).transaction(logger: logger) { tx in
            let rows = try await tx.query("""
                UPDATE clients SET status = 'deleted', deleted_at = now(), updated_at = now()
                WHERE id = \(id) AND status <> 'deleted' RETURNING id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else { throw AppError.notFound("Tenant") }
            try await Self.revokeSessions(tx, tenant: id, logger: logger)
            try await AuditLog.record(tx, logger: logger, tenantId: id, actor: actor, action: "tenant.delete",
                                      targetType: "tenant", targetId: id.uuidString.lowercased())
            try await CredentialCache.notify(tx, tenant: id, logger: logger)
        }
        cache?.invalidate(tenant: id)
    }

    /// Secrets inside `tools_config`, sealed like `clients.token`: the legacy provider token
    /// (`whatsapp.key`), the AI endpoint's key (`ai.key`) and the signing secret of outgoing
    /// webhooks (`webhooks.secret`).
    public static let sealedToolsPaths: [[String]] = [["whatsapp", "key"], ["ai", "key"], ["webhooks", "secret"]]

    /// The sealing context of a `tools_config` secret: bound to its tenant and path.
    public static func toolsSecretContext(_ path: [String], tenant: UUID) -> String {
        "clients.tools_config.\(path.joined(separator: ".")):" + tenant.uuidString.lowercased()
    }

    /// Seals every secret of `sealedToolsPaths` present in `json`. A value that is the masked form
    /// the API returned (`••••1234`) means "keep the stored one", so a settings form can send back
    /// what it read: those paths are returned in `keep`.
    func sealToolsSecrets(_ json: String, tenant: UUID) throws -> (json: String, keep: Set<[String]>) {
        guard var object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return (json, []) }
        var keep: Set<[String]> = []
        var changed = false
        for path in Self.sealedToolsPaths {
            guard var section = object[path[0]] as? [String: Any], let value = section[path[1]] as? String else { continue }
            if value.hasPrefix("••••") { keep.insert(path); continue }
            section[path[1]] = try secrets.seal(value, context: Self.toolsSecretContext(path, tenant: tenant))
            object[path[0]] = section
            changed = true
        }
        guard changed else { return (json, keep) }
        return (String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self), keep)
    }

    /// The API never shows a `tools_config` secret in clear: only its last 4 characters.
    func maskToolsSecrets(_ json: String, tenant: UUID) throws -> String {
        guard json.contains("\"key\"") || json.contains("\"secret\""),
              var object = try? JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any] else { return json }
        var changed = false
        for path in Self.sealedToolsPaths {
            guard var section = object[path[0]] as? [String: Any], let value = section[path[1]] as? String else { continue }
            section[path[1]] = maskSecret(try secrets.openLegacy(value, context: Self.toolsSecretContext(path, tenant: tenant)))
            object[path[0]] = section
            changed = true
        }
        guard changed else { return json }
        return String(decoding: try JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]), as: UTF8.self)
    }

    static func revokeSessions(_ tx: Tx, tenant id: UUID, logger: Logger) async throws {
        try await tx.query("""
            UPDATE refresh_tokens SET revoked_at = now()
            WHERE revoked_at IS NULL AND user_id IN (SELECT id FROM users WHERE tenant_id = \(id))
            """, logger: logger)
    }

    func fetch(_ id: UUID) async throws -> Tenant? {
        let rows = try await db.tenant(id).query("SELECT \(unescaped: Self.columns) FROM clients WHERE id = \(id)", logger: logger)
        return try await decode(rows).first?.tenant
    }

    func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(tenant: Tenant, cursorTime: String)] {
        var result: [(Tenant, String)] = []
        for try await row in rows.decode((UUID, String, String, String, String, String, String?, String?, String?, Date, Date, String).self) {
            result.append((Tenant(
                id: row.0, name: row.1, slug: row.2, timezone: row.3, status: TenantStatus(rawValue: row.4) ?? .suspended,
                toolsConfigJSON: try maskToolsSecrets(row.5, tenant: row.0), apiURL: row.6,
                token: try row.7.map { try secrets.openLegacy($0, context: Self.tokenContext(row.0)) },
                whatsappProvider: row.8.flatMap(ProviderType.init(rawValue:)),
                createdAt: row.9, updatedAt: row.10
            ), row.11))
        }
        return result
    }
}

public enum TenantStore {
    /// Whether the tenant exists and is not deleted (a deleted tenant is gone from the API).
    public static func exists(client: DB, logger: Logger, id: UUID) async throws -> Bool {
        let rows = try await client.tenant(id).query("SELECT 1 FROM clients WHERE id = \(id) AND status <> 'deleted'", logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) != nil
    }
}

extension TenantPatch {
    /// Names (never values) of what changed, for the audit log.
    var changedFields: [String: String] {
        var fields: [String] = []
        if name != nil { fields.append("name") }
        if slug != nil { fields.append("slug") }
        if timezone != nil { fields.append("timezone") }
        if toolsConfigJSON != nil { fields.append("tools_config") }
        if apiURL != nil { fields.append("api_url") }
        if token != nil { fields.append("token") }
        if whatsappProvider != nil { fields.append("whatsapp_provider") }
        fields += clear.map(\.rawValue).sorted()
        var details = ["fields": fields.joined(separator: ",")]
        if let status { details["status"] = status.rawValue }
        return details
    }
}

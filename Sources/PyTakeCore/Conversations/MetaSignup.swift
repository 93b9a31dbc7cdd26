import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO

public struct SignupSession: Sendable {
    public var appId: String
    public var configId: String
    public var graphVersion: String
    public var state: String
    public var expiresAt: Date
    /// For the `pytake_signup` cookie (HttpOnly) of the browser that starts the signup.
    public var browserNonce: String
}

/// Meta Embedded Signup: a signed, expiring, single-use `state` bound to tenant and user, then the
/// server-side steps against the Graph API. Nothing is stored unless every step succeeded.
public struct MetaSignup: Sendable {
    public enum Step: String, Sendable {
        case exchangeCode = "exchange_code", debugToken = "debug_token", phoneNumbers = "phone_numbers"
        case register, subscribe
    }

    let db: DB
    let logger: Logger
    let secrets: SecretBox
    let settings: MetaSettings
    let outbound: OutboundSettings
    let client: HTTPClient
    let providers: ProviderService
    /// HMAC key for `state`, derived from the JWT secret (never the secret itself).
    let stateKey: SymmetricKey

    public static let stateLifetime: TimeInterval = 600

    public init(db: DB, logger: Logger, secrets: SecretBox, settings: MetaSettings, outbound: OutboundSettings,
                client: HTTPClient, providers: ProviderService, signingSecret: [UInt8]) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.settings = settings
        self.outbound = outbound
        self.client = client
        self.providers = providers
        self.stateKey = SymmetricKey(data: HMAC<SHA256>.authenticationCode(for: Data("pytake-embedded-signup-state".utf8),
                                                                          using: SymmetricKey(data: signingSecret)))
    }

    static let notConfigured = AppError(.unavailable, code: "meta_not_configured",
                                        "Embedded Signup needs META_APP_ID, META_APP_SECRET and META_CONFIG_ID to be configured.")

    public func createSession(tenantId: UUID, identity: Identity) async throws -> SignupSession {
        try Access.require(identity, .administer, tenant: tenantId)
        guard let appId = settings.appId, let configId = settings.configId, settings.appSecret != nil else { throw Self.notConfigured }
        guard try await TenantStore.exists(client: db, logger: logger, id: tenantId) else { throw AppError.notFound("Tenant") }
        let id = UUID()
        let expires = Date().addingTimeInterval(Self.stateLifetime)
        let nonce = randomToken(bytes: 24)
        try await db.tenant(tenantId).query("""
            INSERT INTO meta_signup_sessions (id, tenant_id, user_id, browser_nonce_hash, expires_at)
            VALUES (\(id), \(tenantId), \(identity.userId), \(Self.digest(nonce)), \(expires))
            """, logger: logger)
        let payload = "\(id.uuidString.lowercased()).\(tenantId.uuidString.lowercased()).\(Int(expires.timeIntervalSince1970))"
        return SignupSession(appId: appId, configId: configId, graphVersion: outbound.metaGraphVersion,
                             state: payload + "." + hex(HMAC<SHA256>.authenticationCode(for: Data(payload.utf8), using: stateKey)),
                             expiresAt: expires, browserNonce: nonce)
    }

    static let stateInvalid = AppError(.forbidden, code: "signup_state_invalid",
                                       "The signup state is invalid, expired, already used, or not for this tenant; start again.")

    /// Checks the signature, expiry and tenant, then marks the session used (once, atomically).
    /// Returns the tenant and the user who started it.
    static func digest(_ nonce: String) -> String { hex(SHA256.hash(data: Data(nonce.utf8))) }

    /// `userId` (browser flow, signed-in caller) or `browserNonce` (redirect flow, the cookie) must match.
    func consume(state: String, tenantId: UUID?, userId: UUID?, browserNonce: String? = nil) async throws -> (tenant: UUID, user: UUID) {
        guard userId != nil || browserNonce != nil else { throw Self.stateInvalid }
        let nonceHash = browserNonce.map(Self.digest)
        let parts = state.split(separator: ".").map(String.init)
        guard parts.count == 4, let id = UUID(uuidString: parts[0]), let tenant = UUID(uuidString: parts[1]),
              let expires = TimeInterval(parts[2]), let mac = MetaWebhook.hexBytes(Substring(parts[3])),
              HMAC<SHA256>.isValidAuthenticationCode(mac, authenticating: Data(parts[0...2].joined(separator: ".").utf8), using: stateKey),
              Date(timeIntervalSince1970: expires) > Date(), tenantId == nil || tenantId == tenant
        else { throw Self.stateInvalid }
        // The state's tenant is signed by us (checked above).
        let rows = try await db.tenant(tenant).query("""
            UPDATE meta_signup_sessions SET used_at = now()
            WHERE id = \(id) AND tenant_id = \(tenant) AND used_at IS NULL AND expires_at > now()
              AND (\(userId)::uuid IS NULL OR user_id = \(userId))
              AND (\(nonceHash)::text IS NULL OR browser_nonce_hash = \(nonceHash))
            RETURNING user_id
            """, logger: logger)
        guard let user = try await rows.decode(UUID.self).first(where: { _ in true }) else { throw Self.stateInvalid }
        return (tenant, user)
    }

    /// The browser flow: the JS SDK gave the page `code`, `waba_id` and maybe `phone_number_id`.
    public func complete(tenantId: UUID, code: String, state: String, wabaId: String, phoneNumberId: String?, businessId: String?,
                         identity: Identity) async throws -> Provider {
        try Access.require(identity, .administer, tenant: tenantId)
        guard settings.appId != nil, settings.appSecret != nil else { throw Self.notConfigured }
        var v = Validator()
        v.check(!code.isEmpty && code.unicodeScalars.count <= 2048 && !code.containsNUL, "code", "must be 1 to 2048 characters")
        for (field, value) in [("waba_id", wabaId), ("phone_number_id", phoneNumberId), ("business_id", businessId)] {
            if let value { v.check((1...32).contains(value.count) && value.allSatisfy(\.isASCIIDigit), field, "must be 1 to 32 digits") }
        }
        try v.finish()
        let (_, user) = try await consume(state: state, tenantId: tenantId, userId: identity.userId)
        return try await run(tenantId: tenantId, code: code, wabaId: wabaId, phoneNumberId: phoneNumberId, businessId: businessId,
                             redirect: false, actor: AuditActor(userId: user, email: identity.email, requestId: nil))
    }

    /// The redirect flow (`GET /meta/oauth/callback`): the state says which tenant and user, and
    /// the browser must be the one that started the signup (its `pytake_signup` cookie).
    public func completeRedirect(code: String, state: String, browserNonce: String?) async throws -> Provider {
        guard settings.appId != nil, settings.appSecret != nil else { throw Self.notConfigured }
        guard let browserNonce, !browserNonce.isEmpty else { throw Self.stateInvalid }
        let (tenant, user) = try await consume(state: state, tenantId: nil, userId: nil, browserNonce: browserNonce)
        return try await run(tenantId: tenant, code: code, wabaId: nil, phoneNumberId: nil, businessId: nil, redirect: true,
                             actor: AuditActor(userId: user, email: nil, requestId: nil))
    }

    /// Which tenant a state names, without using it (to send the browser back to the right page).
    public func tenant(ofState state: String) -> UUID? {
        let parts = state.split(separator: ".")
        return parts.count == 4 ? UUID(uuidString: String(parts[1])) : nil
    }

    func run(tenantId: UUID, code: String, wabaId: String?, phoneNumberId: String?, businessId: String?, redirect: Bool,
             actor: AuditActor) async throws -> Provider {
        let appId = settings.appId!, appSecret = settings.appSecret!
        let graph = "\(SenderFactory.trimmed(outbound.metaGraphURL))/\(outbound.metaGraphVersion)"

        // 1. The code becomes a business integration system user access token.
        var exchange = "\(graph)/oauth/access_token?client_id=\(q(appId))&client_secret=\(q(appSecret))&code=\(q(code))"
        if redirect { exchange += "&redirect_uri=\(q(settings.redirectURL ?? ""))" }
        let token = try await call(.exchangeCode, .GET, exchange)["access_token"] as? String
        guard let token, !token.isEmpty else { throw failure(.exchangeCode, "Meta returned no access token.") }

        // 2. The token must manage the WABA (granular scope whatsapp_business_management).
        let debug = try await call(.debugToken, .GET, "\(graph)/debug_token?input_token=\(q(token))&access_token=\(q(appId + "|" + appSecret))")
        let data = debug["data"] as? [String: Any] ?? [:]
        guard data["is_valid"] as? Bool ?? false else { throw failure(.debugToken, "Meta says the token is not valid.") }
        let scopes = data["granular_scopes"] as? [[String: Any]] ?? []
        let managed = scopes.filter { $0["scope"] as? String == "whatsapp_business_management" }
            .flatMap { ($0["target_ids"] as? [Any] ?? []).map { "\($0)" } }
        guard let waba = wabaId ?? managed.first else {
            throw failure(.debugToken, "The token does not grant whatsapp_business_management on any WhatsApp Business Account.")
        }
        guard managed.contains(waba) else {
            throw failure(.debugToken, "The token does not grant whatsapp_business_management on WABA \(waba).")
        }

        // 3. The WABA's numbers: the one asked for, else the first.
        let numbers = try await call(.phoneNumbers, .GET, "\(graph)/\(q(waba))/phone_numbers", token: token)["data"] as? [[String: Any]] ?? []
        let number = phoneNumberId.map { id in numbers.first { "\($0["id"] ?? "")" == id } } ?? numbers.first
        guard let number, let numberId = number["id"].map({ "\($0)" }), !numberId.isEmpty else {
            throw failure(.phoneNumbers, phoneNumberId.map { "Phone number \($0) is not in WABA \(waba)." } ?? "WABA \(waba) has no phone numbers.")
        }
        let display = number["display_phone_number"] as? String
        let verifiedName = number["verified_name"] as? String

        // 4. Register the number for Cloud API messaging when it is not verified yet, with a new PIN.
        var pin: String?
        if (number["code_verification_status"] as? String)?.uppercased() != "VERIFIED" {
            let newPin = String(format: "%06d", Int.random(in: 0...999_999))
            _ = try await call(.register, .POST, "\(graph)/\(q(numberId))/register", token: token,
                               json: ["messaging_product": "whatsapp", "pin": newPin])
            pin = newPin
        }

        // 5. Subscribe the app to the WABA's webhooks.
        _ = try await call(.subscribe, .POST, "\(graph)/\(q(waba))/subscribed_apps", token: token, json: [:])

        // 6. Only now: create or update the tenant's provider for this number, in one transaction.
        return try await store(tenantId: tenantId, token: token, pin: pin, config: ProviderConfig(
            phoneNumberId: numberId, displayPhoneNumber: display.map { String($0.prefix(32)) }, wabaId: waba, businessId: businessId
        ), name: verifiedName, actor: actor)
    }

    func store(tenantId: UUID, token: String, pin: String?, config: ProviderConfig, name: String?, actor: AuditActor) async throws -> Provider {
        let existing = try await db.platform(.phoneNumberOwnership).query("""
            SELECT id, tenant_id FROM client_providers WHERE provider_type = 'meta' AND config ->> 'phone_number_id' = \(config.phoneNumberId!)
            """, logger: logger)
        let found = try await existing.decode((UUID, UUID).self).first(where: { _ in true })
        if let found, found.1 != tenantId {
            throw AppError(.conflict, code: "phone_number_taken", "This WhatsApp number is connected to another tenant.")
        }
        // One write (its own transaction, with its audit row): the provider with token, config and PIN.
        if let found {
            var patch = ProviderPatch()
            patch.token = token
            patch.active = true
            var merged = config
            if merged.businessId == nil { merged.businessId = try await providers.fetchConfig(found.0, tenantId: tenantId)?.businessId }
            patch.config = merged
            patch.registrationPin = pin
            patch.via = "embedded_signup"
            return try await providers.update(tenantId: tenantId, id: found.0, patch, identity: nil, actor: actor)
        }
        let base = "WhatsApp " + (name ?? config.displayPhoneNumber ?? config.phoneNumberId!)
        var input = ProviderInput(type: .meta, name: String("\(base.prefix(80)) (\(config.phoneNumberId!.suffix(6)))".prefix(100)),
                                  token: token, config: config)
        input.registrationPin = pin
        input.via = "embedded_signup"
        return try await providers.create(tenantId: tenantId, input, identity: nil, actor: actor)
    }

    func failure(_ step: Step, _ message: String, code: String? = nil, status: Int? = nil) -> AppError {
        var error = AppError(.badGateway, code: "signup_step_failed", "Embedded Signup failed at step '\(step.rawValue)': \(message)")
        error.providerError = ProviderErrorInfo(providerType: "meta", code: code, message: message, httpStatus: status, step: step.rawValue)
        return error
    }

    /// One Graph API call; Meta's error envelope becomes a failure of `step`.
    func call(_ step: Step, _ method: HTTPMethod, _ url: String, token: String? = nil, json: [String: Any]? = nil) async throws -> [String: Any] {
        do {
            try await OutboundAddressGuard.check(url, allowPrivate: outbound.allowPrivateNetworks, providerType: .meta)
        } catch {
            throw failure(step, error.message)
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        request.headers.add(name: "Accept", value: "application/json")
        if let token { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        if let json {
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: jsonBody(json)))
        }
        let status: Int
        let body: Data
        do {
            let response = try await client.execute(request, timeout: .seconds(Int64(outbound.timeoutSeconds)))
            status = Int(response.status.code)
            body = Data(buffer: try await response.body.collect(upTo: 1 << 20))
        } catch {
            let transport = ProviderHTTP.transportError(error, .meta, timeoutSeconds: outbound.timeoutSeconds)
            var failure = failure(step, transport.message)
            if transport.kind == .timeout { failure.kind = .gatewayTimeout }
            throw failure
        }
        guard (200..<300).contains(status) else {
            let classified = MetaCloudSender.classify(ProviderHTTP.Response(status: status, body: body, headers: [:]))
            throw failure(step, classified.message, code: classified.providerCode, status: status)
        }
        return jsonObject(body)
    }

    func q(_ value: String) -> String { percentEncodedSegment(value) }
}

func hex(_ bytes: some Sequence<UInt8>) -> String { bytes.map { String(format: "%02x", $0) }.joined() }

extension ProviderService {
    static func pinContext(_ id: UUID) -> String { "client_providers.registration_pin:" + id.uuidString.lowercased() }

    func fetchConfig(_ id: UUID, tenantId: UUID) async throws -> ProviderConfig? {
        let rows = try await db.tenant(tenantId).query("SELECT config::text FROM client_providers WHERE id = \(id)", logger: logger)
        return try await rows.decode(String.self).first(where: { _ in true }).map(ProviderConfig.decode)
    }
}

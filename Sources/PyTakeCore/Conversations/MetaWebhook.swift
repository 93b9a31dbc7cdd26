import Crypto
import Foundation
import Logging
import PostgresNIO
import Synchronization

/// A customer message as Meta delivered it, routed to its tenant.
public struct InboundMessage: Sendable, Equatable {
    public var tenantId: UUID
    public var providerId: UUID?
    public var waId: String
    public var profileName: String?
    public var wamid: String
    /// text, image, audio, video, document, sticker, interactive, button, location, … (unknown types kept as named).
    public var type: String
    /// Text, caption, or the title of a button/list reply.
    public var body: String?
    /// The message object as received.
    public var payloadJSON: String
    public var occurredAt: Date
}

/// A delivery status of an outbound message.
public struct InboundStatus: Sendable, Equatable {
    public var tenantId: UUID
    public var wamid: String
    public var status: String
    public var errorCode: String?
    public var errorTitle: String?
    public var occurredAt: Date
}

/// Where a WhatsApp number's webhooks go: an active meta provider of an active tenant.
public struct PhoneRoute: Sendable, Equatable {
    public var tenantId: UUID
    public var providerId: UUID
    /// The provider's own app secret, when it overrides META_APP_SECRET.
    public var appSecret: String?
}

/// What a webhook delivery contained, after routing.
public struct WebhookBatch: Sendable {
    public var messages: [InboundMessage] = []
    public var statuses: [InboundStatus] = []
    /// Changes for numbers no active provider claims (acknowledged, not stored).
    public var unroutable: [String] = []
    /// Changes whose number requires a secret the signature was not made with.
    public var unauthenticated: [String] = []
}

public enum MetaWebhookError: Error, Equatable {
    case missingSignature, badSignature, malformed(String), notWhatsApp
}

/// Verifies, parses and routes Meta webhook deliveries (`POST /meta/webhook`).
public struct MetaWebhook: Sendable {
    let routes: PhoneRoutes
    let appSecret: String?
    let logger: Logger

    public init(routes: PhoneRoutes, appSecret: String?, logger: Logger) {
        self.routes = routes
        self.appSecret = appSecret
        self.logger = logger
    }

    /// `X-Hub-Signature-256: sha256=<hex>` over the exact bytes received, compared in constant time.
    public static func signatureMatches(_ header: String, body: some DataProtocol, secret: String) -> Bool {
        guard header.hasPrefix("sha256="), let expected = hexBytes(header.dropFirst(7)), expected.count == 32 else { return false }
        return HMAC<SHA256>.isValidAuthenticationCode(expected, authenticating: body, using: SymmetricKey(data: Data(secret.utf8)))
    }

    public static func signature(_ body: some DataProtocol, secret: String) -> String {
        "sha256=" + hex(HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8))))
    }

    static func hexBytes(_ text: Substring) -> [UInt8]? {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(text.utf8.count / 2)
        var high: UInt8?
        for c in text.utf8 {
            let v: UInt8
            switch c {
            case 0x30...0x39: v = c - 0x30
            case 0x61...0x66: v = c - 0x61 + 10
            case 0x41...0x46: v = c - 0x41 + 10
            default: return nil
            }
            if let h = high { bytes.append(h << 4 | v); high = nil } else { high = v }
        }
        return high == nil ? bytes : nil
    }

    /// Checks the signature, then parses and routes every change. A change is kept only when the
    /// signature was made with the secret that applies to its number (the provider's own app secret,
    /// else META_APP_SECRET), so one tenant's secret can never vouch for another tenant's number.
    public func process(body: [UInt8], signature: String?) async throws -> WebhookBatch {
        guard let signature, !signature.isEmpty else { throw MetaWebhookError.missingSignature }
        let globalValid = appSecret.map { Self.signatureMatches(signature, body: body, secret: $0) } ?? false
        let parsed: ParsedPayload
        switch Self.parse(body) {
        case .success(let payload): parsed = payload
        case .failure(let error):
            // Unauthenticated garbage is 401, not a hint about our parser.
            throw globalValid ? error : MetaWebhookError.badSignature
        }
        let ids = Set(parsed.changes.compactMap(\.phoneNumberId))
        let displays = Set(parsed.changes.filter { $0.phoneNumberId == nil }.compactMap(\.displayNumber))
        // Until a signature is proven, the body is anyone's: bound the lookups it can cause.
        if !globalValid && ids.count + displays.count > 20 { throw MetaWebhookError.badSignature }
        let resolved = try await routes.lookup(phoneNumberIds: Array(ids), displayNumbers: Array(displays), cacheMisses: globalValid)
        var validSecrets: Set<String> = []
        if globalValid, let appSecret { validSecrets.insert(appSecret) }
        for route in resolved.values {
            if let own = route.appSecret, !validSecrets.contains(own), Self.signatureMatches(signature, body: body, secret: own) {
                validSecrets.insert(own)
            }
        }
        guard !validSecrets.isEmpty else { throw MetaWebhookError.badSignature }
        if parsed.object != "whatsapp_business_account" { throw MetaWebhookError.notWhatsApp }

        var batch = WebhookBatch()
        for change in parsed.changes {
            let number = change.phoneNumberId ?? change.displayNumber ?? "(none)"
            // The display number is a fallback for changes without an id only: an id that no active
            // provider claims must not land on whichever tenant typed the same display number.
            let route = if let id = change.phoneNumberId { resolved[id] } else { change.displayNumber.flatMap { resolved["display:" + $0] } }
            guard let route else {
                batch.unroutable.append(number)
                continue
            }
            guard let secret = route.appSecret ?? appSecret, validSecrets.contains(secret) else {
                batch.unauthenticated.append(number)
                continue
            }
            for message in change.messages {
                batch.messages.append(InboundMessage(
                    tenantId: route.tenantId, providerId: route.providerId, waId: message.from,
                    profileName: change.profiles[message.from], wamid: message.id, type: message.type, body: message.body,
                    payloadJSON: message.payloadJSON, occurredAt: message.timestamp))
            }
            for status in change.statuses {
                batch.statuses.append(InboundStatus(tenantId: route.tenantId, wamid: status.id, status: status.status,
                                                    errorCode: status.errorCode, errorTitle: status.errorTitle, occurredAt: status.timestamp))
            }
        }
        if !batch.unroutable.isEmpty, routes.shouldLog("unroutable") {
            logger.warning("webhook for numbers no active provider claims; acknowledged, not stored (logged at most once a minute)",
                           metadata: ["numbers": "\(batch.unroutable.joined(separator: ","))"])
        }
        if !batch.unauthenticated.isEmpty, routes.shouldLog("unauthenticated") {
            logger.warning("webhook changes not signed with their number's app secret; dropped (logged at most once a minute)",
                           metadata: ["numbers": "\(batch.unauthenticated.joined(separator: ","))"])
        }
        return batch
    }

    // MARK: parsing

    struct ParsedMessage {
        var from: String
        var id: String
        var type: String
        var body: String?
        var payloadJSON: String
        var timestamp: Date
    }

    struct ParsedStatus {
        var id: String
        var status: String
        var errorCode: String?
        var errorTitle: String?
        var timestamp: Date
    }

    struct ParsedChange {
        var phoneNumberId: String?
        var displayNumber: String?
        var profiles: [String: String] = [:]
        var messages: [ParsedMessage] = []
        var statuses: [ParsedStatus] = []
    }

    struct ParsedPayload {
        var object: String
        var changes: [ParsedChange]
    }

    static let statusNames: Set<String> = ["sent", "delivered", "read", "failed"]

    static func parse(_ body: [UInt8]) -> Result<ParsedPayload, MetaWebhookError> {
        WebhookScanner.scan(body)
    }

    /// PostgreSQL text and jsonb cannot hold U+0000: it becomes U+FFFD rather than failing the delivery forever.
    static func cleanText(_ text: String) -> String {
        text.utf8.contains(0) ? text.replacingOccurrences(of: "\u{0}", with: "\u{FFFD}") : text
    }

    static func cleanJSON(_ json: String) -> String {
        json.contains("\\u0000") ? json.replacingOccurrences(of: "\\u0000", with: "\\ufffd") : json
    }

    static func digits(_ text: String) -> String { text.filter(\.isASCIIDigit) }

    /// Meta's Unix timestamp; anything not a finite time between 1970 and 2100 (which the
    /// database could not even encode) reads as "now".
    static func timestamp(_ value: String?) -> Date {
        guard let seconds = value.flatMap(Double.init), seconds.isFinite, (0...4_102_444_800).contains(seconds) else { return Date() }
        return Date(timeIntervalSince1970: seconds)
    }

}

/// Which tenant and provider a WhatsApp number belongs to, cached in memory: webhooks arrive
/// thousands of times a second and the mapping changes rarely. Provider and tenant changes are
/// announced with NOTIFY (see `CredentialCache`); the listener clears this cache too.
public final class PhoneRoutes: Sendable {
    let db: DB
    let logger: Logger
    let secrets: SecretBox
    let ttl: Duration
    private let cache = Mutex<(entries: [String: (route: PhoneRoute?, expires: ContinuousClock.Instant)], generation: UInt64)>(([:], 0))

    public init(db: DB, logger: Logger, secrets: SecretBox, ttl: Duration) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.ttl = ttl
    }

    public func invalidateAll() {
        cache.withLock { $0 = ([:], $0.generation &+ 1) }
    }

    private let lastLogged = Mutex<[String: ContinuousClock.Instant]>([:])

    /// At most one log line a minute per kind: a misrouted number can send thousands a second.
    func shouldLog(_ kind: String) -> Bool {
        let now = ContinuousClock.now
        return lastLogged.withLock { last in
            if let previous = last[kind], now - previous < .seconds(60) { return false }
            last[kind] = now
            return true
        }
    }

    /// Routes keyed by phone number id, and by "display:<digits>" for display numbers.
    /// `cacheMisses`: remember numbers nobody claims (only for signed deliveries, so forged bodies
    /// cannot fill the cache).
    func lookup(phoneNumberIds: [String], displayNumbers: [String], cacheMisses: Bool = true) async throws -> [String: PhoneRoute] {
        let keys = Set(phoneNumberIds + displayNumbers.map { "display:" + $0 })
        let now = ContinuousClock.now
        var result: [String: PhoneRoute] = [:]
        var missing: [String] = []
        let generation = cache.withLock { state -> UInt64 in
            for key in keys {
                if let entry = state.entries[key], entry.expires > now {
                    if let route = entry.route { result[key] = route }
                } else {
                    missing.append(key)
                }
            }
            return state.generation
        }
        if missing.isEmpty { return result }
        let ids = missing.filter { !$0.hasPrefix("display:") }
        let displays = missing.filter { $0.hasPrefix("display:") }.map { String($0.dropFirst(8)) }
        // The number is all a delivery says: which tenant owns it is what this finds out.
        let rows = try await db.platform(.webhookRouting).query("""
            SELECT p.id, p.tenant_id, p.app_secret, p.config ->> 'phone_number_id',
                   regexp_replace(coalesce(p.config ->> 'display_phone_number', ''), '[^0-9]', '', 'g')
            FROM client_providers p JOIN clients c ON c.id = p.tenant_id AND c.status = 'active'
            WHERE p.provider_type = 'meta' AND p.active
              AND (p.config ->> 'phone_number_id' = ANY(\(ids))
                   OR regexp_replace(coalesce(p.config ->> 'display_phone_number', ''), '[^0-9]', '', 'g') = ANY(\(displays)))
            ORDER BY p.priority DESC, p.updated_at DESC
            """, logger: logger)
        var found: [String: PhoneRoute] = [:]
        for try await (id, tenant, sealedSecret, phoneNumberId, display) in rows.decode((UUID, UUID, String?, String, String).self) {
            let route = PhoneRoute(tenantId: tenant, providerId: id,
                                   appSecret: try sealedSecret.map { try secrets.open($0, context: ProviderService.appSecretContext(id)) })
            if found[phoneNumberId] == nil { found[phoneNumberId] = route }
            if !display.isEmpty, found["display:" + display] == nil { found["display:" + display] = route }
        }
        let expires = ContinuousClock.now + ttl
        cache.withLock { state in
            guard state.generation == generation, ttl > .zero else { return }
            if state.entries.count > 100_000 { state.entries.removeAll() }
            for key in missing where cacheMisses || found[key] != nil { state.entries[key] = (found[key], expires) }
        }
        for key in missing { if let route = found[key] { result[key] = route } }
        return result
    }
}

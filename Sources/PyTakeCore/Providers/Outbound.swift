import Foundation
import Logging
import PostgresNIO

/// The way out to WhatsApp for everything that sends: resolve credentials, build the sender.
public struct Outbound: Sendable {
    public let resolver: CredentialResolver
    public let senders: SenderFactory
    let providers: ProviderService
    let db: DB
    let logger: Logger

    public init(resolver: CredentialResolver, senders: SenderFactory, providers: ProviderService, db: DB, logger: Logger) {
        self.resolver = resolver
        self.senders = senders
        self.providers = providers
        self.db = db
        self.logger = logger
    }

    /// The sender a tenant uses for `type` right now (see `CredentialResolver` for the order).
    public func sender(tenantId: UUID, type: ProviderType, providerId: UUID? = nil,
                       includeInactive: Bool = false) async throws -> (credentials: ResolvedCredentials, sender: any MessageSender) {
        let credentials = try await resolver.resolve(tenantId: tenantId, type: type, providerId: providerId, includeInactive: includeInactive)
        guard credentials.tenantActive else {
            throw AppError(.conflict, code: "tenant_inactive", "The tenant is suspended or deleted; nothing is sent on its behalf.")
        }
        do {
            return (credentials, try senders.sender(for: credentials))
        } catch {
            throw error.appError
        }
    }

    /// The sender for a conversation: the instance the customer wrote to while it is still active,
    /// else the tenant's current Meta provider.
    public func sender(tenantId: UUID, preferring providerId: UUID?) async throws -> (credentials: ResolvedCredentials, sender: any MessageSender) {
        if let providerId {
            do {
                return try await sender(tenantId: tenantId, type: .meta, providerId: providerId)
            } catch let error as AppError where error.code == "not_found" {
                // That instance is gone or switched off: fall through to the tenant's current choice.
            }
        }
        return try await sender(tenantId: tenantId, type: .meta)
    }

    /// Normalises a recipient to digits in international format, or nil.
    public static func recipient(_ to: String) -> String? {
        let digits = to.hasPrefix("+") ? String(to.dropFirst()) : to
        guard (8...15).contains(digits.count), digits.allSatisfy(\.isASCIIDigit) else { return nil }
        return digits
    }

    /// Sends one text through a specific provider instance (active or not: admins test a provider
    /// before switching it on). The attempt and its outcome are audited, without the text.
    public func sendTestMessage(tenantId: UUID, providerId: UUID, to: String, text: String,
                                identity: Identity, actor: AuditActor) async throws -> (provider: Provider, receipt: SendReceipt) {
        try Access.require(identity, .administer, tenant: tenantId)
        var v = Validator()
        let recipient = Self.recipient(to)
        v.check(recipient != nil, "to", "must be a phone number in international format: 8 to 15 digits, optionally after +")
        v.check(!text.isBlank && text.unicodeScalars.count <= 4096 && !text.containsNUL,
                "text", "must be 1 to 4096 characters and not blank")
        try v.finish()
        let provider = try await providers.get(tenantId: tenantId, id: providerId, identity: identity)
        let (_, sender) = try await sender(tenantId: tenantId, type: provider.type, providerId: providerId, includeInactive: true)
        let outcome: Result<SendReceipt, SendError>
        do {
            outcome = .success(try await sender.sendText(to: recipient!, text: text))
        } catch {
            outcome = .failure(error)
        }
        var details = ["to": "…" + recipient!.suffix(4), "provider_type": provider.type.rawValue]
        switch outcome {
        case .success(let receipt): details["outcome"] = "sent"; details["provider_message_id"] = receipt.providerMessageId ?? ""
        case .failure(let error): details["outcome"] = error.kind.rawValue
        }
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "provider.test_message",
                                      targetType: "provider", targetId: providerId.uuidString.lowercased(), details: details)
        }
        switch outcome {
        case .success(let receipt): return (provider, receipt)
        case .failure(let error): throw error.appError
        }
    }
}

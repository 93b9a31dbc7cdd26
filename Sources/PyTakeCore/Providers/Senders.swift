import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import ServiceLifecycle

/// Builds the sender for resolved credentials. Holds the one outbound HTTP client and the circuit
/// breakers of this process.
public struct SenderFactory: Sendable {
    public let client: HTTPClient
    public let settings: OutboundSettings
    public let breakers: CircuitBreakers
    let logger: Logger

    public init(client: HTTPClient, settings: OutboundSettings, logger: Logger) {
        self.client = client
        self.settings = settings
        self.breakers = CircuitBreakers(threshold: settings.breakerThreshold, cooldown: .seconds(settings.breakerCooldownSeconds))
        self.logger = logger
    }

    /// An HTTP client for providers: no redirects (a redirect must never carry a token elsewhere),
    /// bounded connect time, pooled connections.
    public static func makeHTTPClient(settings: OutboundSettings) -> HTTPClient {
        var configuration = HTTPClient.Configuration(
            redirectConfiguration: .disallow,
            timeout: .init(connect: .seconds(Int64(min(settings.timeoutSeconds, 5))), read: .seconds(Int64(settings.timeoutSeconds)))
        )
        configuration.connectionPool.idleTimeout = .seconds(60)
        return HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
    }

    public func sender(for credentials: ResolvedCredentials) throws(SendError) -> any MessageSender {
        let type = credentials.providerType
        guard let token = credentials.token else {
            throw SendError(.incompleteCredentials, type, "The resolved credentials have no token.")
        }
        let http = ProviderHTTP(client: client, settings: settings, breakers: breakers, breakerKey: credentials.breakerKey,
                                providerType: type, logger: logger)
        switch type {
        case .meta:
            guard let phoneNumberId = credentials.config.phoneNumberId else {
                throw SendError(.incompleteCredentials, type, "Meta credentials need a phone_number_id.")
            }
            return MetaCloudSender(http: http, baseURL: Self.trimmed(credentials.apiURL ?? settings.metaGraphURL),
                                   version: settings.metaGraphVersion, phoneNumberId: phoneNumberId, token: token)
        case .uazapi:
            guard let url = credentials.apiURL else {
                throw SendError(.incompleteCredentials, type, "Uazapi credentials need the instance's server URL.")
            }
            return UazapiSender(http: http, baseURL: Self.trimmed(url), token: token)
        case .lancepilot:
            guard let workspace = credentials.config.workspaceId else {
                throw SendError(.incompleteCredentials, type, "LancePilot credentials need a workspace_id.")
            }
            return LancePilotSender(http: http, baseURL: Self.trimmed(credentials.apiURL ?? settings.lancePilotURL),
                                    workspaceId: workspace, token: token)
        }
    }

    public func breakerState(_ key: String) -> CircuitBreakers.Snapshot { breakers.snapshot(key) }

    static func trimmed(_ url: String) -> String {
        var url = url
        while url.hasSuffix("/") { url.removeLast() }
        return url
    }
}

/// Shuts the outbound HTTP client down with the process.
public struct HTTPClientService: Service {
    let client: HTTPClient
    public init(client: HTTPClient) { self.client = client }
    public func run() async throws {
        try? await gracefulShutdown()
        try await client.shutdown()
    }
}

func jsonBody(_ object: [String: Any]) -> Data {
    var out = ""
    FastJSON.write(any: object, into: &out)
    return Data(out.utf8)
}

func jsonObject(_ data: Data) -> [String: Any] {
    ((try? JSONSerialization.jsonObject(with: data)) as? [String: Any]) ?? [:]
}

/// A short, printable excerpt of a provider's answer for error messages (never the request).
func excerpt(_ data: Data) -> String {
    let text = String(decoding: data.prefix(300), as: UTF8.self).filter { !$0.isNewline }
    return text.isEmpty ? "(empty body)" : text
}

/// RFC 3986 unreserved characters stay; everything else in a path segment is percent-encoded.
func percentEncodedSegment(_ value: String) -> String {
    value.addingPercentEncoding(withAllowedCharacters: unreserved) ?? value
}

private let unreserved = CharacterSet(charactersIn: "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")

// MARK: Meta Cloud API

/// Meta WhatsApp Cloud API: `POST {graph}/{version}/{phone_number_id}/messages`, Bearer token.
struct MetaCloudSender: MessageSender {
    let http: ProviderHTTP
    let baseURL: String
    let version: String
    let phoneNumberId: String
    let token: String
    var providerType: ProviderType { .meta }

    var url: String { "\(baseURL)/\(version)/\(percentEncodedSegment(phoneNumberId))/messages" }

    func sendText(to: String, text: String) async throws(SendError) -> SendReceipt {
        try await send(operation: "send_text", [
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "text",
            "text": ["preview_url": false, "body": text],
        ])
    }

    func sendImage(to: String, link: String, caption: String?) async throws(SendError) -> SendReceipt {
        var image: [String: Any] = ["link": link]
        if let caption { image["caption"] = caption }
        return try await send(operation: "send_image", [
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "image", "image": image,
        ])
    }

    func sendTemplate(to: String, name: String, language: String, components: String?) async throws(SendError) -> SendReceipt {
        var template: [String: Any] = ["name": name, "language": ["code": language]]
        if let components {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(components.utf8)) as? [Any] else {
                throw SendError(.rejected, .meta, "Template components must be a JSON array.")
            }
            template["components"] = parsed
        }
        return try await send(operation: "send_template", [
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "template", "template": template,
        ])
    }

    /// Interactive reply buttons (up to 3 choices of up to 20 characters) or a list (up to 10 rows
    /// of up to 24 characters); otherwise, or for a body over 1024 characters, numbered text.
    func sendChoices(to: String, text: String, choices: [String]) async throws(SendError) -> SendReceipt {
        let interactive: [String: Any]
        if text.count > 1024 || choices.isEmpty || choices.count > 10 || choices.contains(where: { $0.count > 24 }) {
            return try await sendText(to: to, text: Self.numbered(text, choices))
        } else if choices.count <= 3 && choices.allSatisfy({ $0.count <= 20 }) {
            interactive = ["type": "button", "body": ["text": text], "action": ["buttons": choices.enumerated().map { index, title in
                ["type": "reply", "reply": ["id": "choice_\(index + 1)", "title": title]]
            }]]
        } else {
            interactive = ["type": "list", "body": ["text": text], "action": ["button": "Options", "sections": [[
                "title": "Options", "rows": choices.enumerated().map { index, title in ["id": "choice_\(index + 1)", "title": title] },
            ]]]]
        }
        return try await send(operation: "send_interactive", [
            "messaging_product": "whatsapp", "recipient_type": "individual", "to": to, "type": "interactive", "interactive": interactive,
        ])
    }

    func markRead(messageId: String) async throws(SendError) {
        _ = try await http.post(url, headers: headers, json: jsonBody([
            "messaging_product": "whatsapp", "status": "read", "message_id": messageId,
        ]), operation: "mark_read", classify: Self.classify)
    }

    var headers: [(String, String)] { [("Authorization", "Bearer \(token)")] }

    private func send(operation: String, _ body: [String: Any]) async throws(SendError) -> SendReceipt {
        let response = try await http.post(url, headers: headers, json: jsonBody(body), operation: operation, classify: Self.classify)
        let messages = jsonObject(response.body)["messages"] as? [[String: Any]]
        guard let id = messages?.first?["id"] as? String, !id.isEmpty else {
            throw SendError(.rejected, .meta, "Meta answered \(response.status) without a message id: \(excerpt(response.body))",
                            httpStatus: response.status)
        }
        return SendReceipt(providerMessageId: id, providerType: .meta)
    }

    /// Meta's error envelope: `{"error": {"message", "type", "code", "error_subcode", "error_data": {"details"}, "fbtrace_id"}}`.
    @Sendable static func classify(_ response: ProviderHTTP.Response) -> SendError {
        let error = jsonObject(response.body)["error"] as? [String: Any]
        let code = (error?["code"] as? Int) ?? (error?["code"] as? String).flatMap { Int($0) }
        var message = (error?["message"] as? String) ?? "Meta answered HTTP \(response.status): \(excerpt(response.body))"
        if let details = (error?["error_data"] as? [String: Any])?["details"] as? String, !details.isEmpty {
            message += " (\(details))"
        }
        let kind: SendError.Kind = switch code {
        case 190: .tokenExpired
        case 131047: .outsideWindow
        case 4, 80007, 130429, 131048, 131056: .rateLimited
        case 131026, 131030, 131021: .invalidRecipient
        case 1, 2, 131000, 133004: .unavailable
        default: response.status == 401 || response.status == 403 ? .unauthorized : (response.status >= 500 ? .unavailable : .rejected)
        }
        return SendError(kind, .meta, message, providerCode: code.map(String.init), httpStatus: response.status)
    }
}

// MARK: Uazapi

/// Uazapi (uazapiGO v2): `POST {server}/send/text` and `/send/media`, `POST /message/markread`;
/// the instance token goes in the `token` header.
struct UazapiSender: MessageSender {
    let http: ProviderHTTP
    let baseURL: String
    let token: String
    var providerType: ProviderType { .uazapi }

    var headers: [(String, String)] { [("token", token)] }

    func sendText(to: String, text: String) async throws(SendError) -> SendReceipt {
        try await send("/send/text", operation: "send_text", ["number": to, "text": text])
    }

    func sendImage(to: String, link: String, caption: String?) async throws(SendError) -> SendReceipt {
        var body: [String: Any] = ["number": to, "type": "image", "file": link]
        if let caption { body["text"] = caption }
        return try await send("/send/media", operation: "send_image", body)
    }

    func sendTemplate(to: String, name: String, language: String, components: String?) async throws(SendError) -> SendReceipt {
        throw SendError(.unsupported, .uazapi, "Uazapi has no message templates; send text instead.")
    }

    func markRead(messageId: String) async throws(SendError) {
        _ = try await http.post(baseURL + "/message/markread", headers: headers, json: jsonBody(["id": [messageId]]),
                                operation: "mark_read", classify: Self.classify)
    }

    private func send(_ path: String, operation: String, _ body: [String: Any]) async throws(SendError) -> SendReceipt {
        let response = try await http.post(baseURL + path, headers: headers, json: jsonBody(body), operation: operation, classify: Self.classify)
        let answer = jsonObject(response.body)
        let id = (answer["messageid"] as? String) ?? (answer["id"] as? String)
        return SendReceipt(providerMessageId: id, providerType: .uazapi)
    }

    @Sendable static func classify(_ response: ProviderHTTP.Response) -> SendError {
        let answer = jsonObject(response.body)
        let message = (answer["error"] as? String) ?? (answer["message"] as? String) ?? "Uazapi answered HTTP \(response.status): \(excerpt(response.body))"
        let kind: SendError.Kind = switch response.status {
        case 401, 403: .unauthorized
        case 404 where message.lowercased().contains("number"): .invalidRecipient
        case 500...: .unavailable
        default: .rejected
        }
        return SendError(kind, .uazapi, message, httpStatus: response.status)
    }
}

// MARK: LancePilot

/// LancePilot API v3: `POST {api}/workspaces/{workspace}/contacts/number/{number}/messages/text`
/// (and `/messages/image`, `/template-messages`), Bearer token.
struct LancePilotSender: MessageSender {
    let http: ProviderHTTP
    let baseURL: String
    let workspaceId: String
    let token: String
    var providerType: ProviderType { .lancepilot }

    var headers: [(String, String)] { [("Authorization", "Bearer \(token)")] }

    func contactURL(_ number: String) -> String {
        "\(baseURL)/workspaces/\(percentEncodedSegment(workspaceId))/contacts/number/\(percentEncodedSegment(number))"
    }

    func sendText(to: String, text: String) async throws(SendError) -> SendReceipt {
        try await send(contactURL(to) + "/messages/text", operation: "send_text", ["text": ["body": text]])
    }

    func sendImage(to: String, link: String, caption: String?) async throws(SendError) -> SendReceipt {
        var body: [String: Any] = ["file": link]
        if let caption { body["caption"] = caption }
        return try await send(contactURL(to) + "/messages/image", operation: "send_image", body)
    }

    func sendTemplate(to: String, name: String, language: String, components: String?) async throws(SendError) -> SendReceipt {
        guard let templateId = Int(name) else {
            throw SendError(.rejected, .lancepilot, "LancePilot templates are named by their numeric template id.")
        }
        var body: [String: Any] = ["template_id": templateId]
        if let components {
            guard let parsed = try? JSONSerialization.jsonObject(with: Data(components.utf8)) as? [String: Any] else {
                throw SendError(.rejected, .lancepilot, "LancePilot template data must be a JSON object.")
            }
            body["template_data"] = parsed
        }
        return try await send(contactURL(to) + "/template-messages", operation: "send_template", body)
    }

    func markRead(messageId: String) async throws(SendError) {
        throw SendError(.unsupported, .lancepilot, "LancePilot has no read-receipt operation.")
    }

    private func send(_ url: String, operation: String, _ body: [String: Any]) async throws(SendError) -> SendReceipt {
        let response = try await http.post(url, headers: headers, json: jsonBody(body), operation: operation, classify: Self.classify)
        let data = jsonObject(response.body)["data"] as? [String: Any]
        let id = (data?["id"] as? String) ?? (data?["id"] as? Int).map(String.init) ?? (data?["message_id"] as? String)
        return SendReceipt(providerMessageId: id, providerType: .lancepilot)
    }

    @Sendable static func classify(_ response: ProviderHTTP.Response) -> SendError {
        let answer = jsonObject(response.body)
        let message = (answer["message"] as? String) ?? "LancePilot answered HTTP \(response.status): \(excerpt(response.body))"
        let kind: SendError.Kind = switch response.status {
        case 401, 403: .unauthorized
        case 500...: .unavailable
        default: .rejected
        }
        return SendError(kind, .lancepilot, message, httpStatus: response.status)
    }
}

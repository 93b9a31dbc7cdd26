import AsyncHTTPClient
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import NIOPosix

/// What a provider accepted.
public struct SendReceipt: Sendable, Equatable {
    /// The provider's id for the message (Meta's `wamid…`), when it returns one.
    public var providerMessageId: String?
    public var providerType: ProviderType
}

/// A failed send, typed so callers can act on it (refresh a token, wait for the customer to write
/// first, retry later). A send that failed is never reported as sent.
public struct SendError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Kind: String, Sendable {
        /// Meta 190 or an equivalent: the access token expired or was revoked.
        case tokenExpired = "provider_token_expired"
        /// 401/403 for any other reason.
        case unauthorized = "provider_unauthorized"
        /// Meta 131047: more than 24 hours since the customer last wrote; only templates may be sent.
        case outsideWindow = "provider_outside_window"
        /// HTTP 429 or a provider's throttling code.
        case rateLimited = "provider_rate_limited"
        /// The recipient cannot receive the message (not on WhatsApp, invalid number).
        case invalidRecipient = "provider_invalid_recipient"
        /// Any other refusal (4xx): the request is wrong for this provider; retrying will not help.
        case rejected = "provider_rejected"
        /// 5xx or a connection failure, after retries.
        case unavailable = "provider_unavailable"
        /// No answer within PROVIDER_TIMEOUT_SECONDS, after retries.
        case timeout = "provider_timeout"
        /// The provider's circuit breaker is open.
        case circuitOpen = "circuit_open"
        /// The provider type has no such operation.
        case unsupported = "provider_unsupported"
        /// The resolved credentials lack something this send needs (URL, token, phone number id).
        case incompleteCredentials = "incomplete_credentials"
        /// The provider URL points at a private network and PROVIDER_ALLOW_PRIVATE_NETWORKS is off.
        case blockedAddress = "provider_address_blocked"
    }

    public var kind: Kind
    public var providerType: ProviderType
    public var message: String
    public var providerCode: String?
    public var httpStatus: Int?
    /// Seconds, for 429s and open breakers.
    public var retryAfter: Int?

    public init(_ kind: Kind, _ providerType: ProviderType, _ message: String, providerCode: String? = nil,
                httpStatus: Int? = nil, retryAfter: Int? = nil) {
        self.kind = kind
        self.providerType = providerType
        self.message = message
        self.providerCode = providerCode
        self.httpStatus = httpStatus
        self.retryAfter = retryAfter
    }

    /// Worth another attempt: the provider may answer differently in a moment. The same failures
    /// count against the provider's health (they open its breaker); other answers show it is up.
    /// As stored with a failed message: the kind, and the provider's own code when it gave one.
    public var code: String { kind.rawValue + (providerCode.map { ":" + $0 } ?? "") }

    public var isTransient: Bool { [.unavailable, .timeout].contains(kind) || (kind == .rateLimited && httpStatus == 429) }

    public var description: String {
        "\(kind.rawValue) (\(providerType.rawValue)\(providerCode.map { " code \($0)" } ?? "")\(httpStatus.map { " HTTP \($0)" } ?? "")): \(message)"
    }

    public var appError: AppError {
        let status: AppError.Kind = switch kind {
        case .timeout: .gatewayTimeout
        case .circuitOpen: .unavailable
        case .unsupported, .incompleteCredentials, .blockedAddress: .unprocessable
        default: .badGateway
        }
        var error = AppError(status, code: kind.rawValue, message, retryAfter: retryAfter)
        error.providerError = ProviderErrorInfo(providerType: providerType.rawValue, code: providerCode, message: message, httpStatus: httpStatus)
        return error
    }
}

/// Sends WhatsApp messages through one provider instance. One implementation per provider type.
public protocol MessageSender: Sendable {
    var providerType: ProviderType { get }
    /// `to`: the customer's number in international format, digits only (e.g. 5511912345678).
    func sendText(to: String, text: String) async throws(SendError) -> SendReceipt
    func sendImage(to: String, link: String, caption: String?) async throws(SendError) -> SendReceipt
    /// `components`: the template's parameters as the provider documents them (a JSON array for Meta).
    func sendTemplate(to: String, name: String, language: String, components: String?) async throws(SendError) -> SendReceipt
    /// Marks an inbound message as read (blue ticks).
    func markRead(messageId: String) async throws(SendError)
    /// A question with choices: WhatsApp reply buttons (up to 3) or a list (up to 10) where the
    /// provider has them, else the text followed by the numbered options.
    func sendChoices(to: String, text: String, choices: [String]) async throws(SendError) -> SendReceipt
}

extension MessageSender {
    public func sendChoices(to: String, text: String, choices: [String]) async throws(SendError) -> SendReceipt {
        try await sendText(to: to, text: Self.numbered(text, choices))
    }

    static func numbered(_ text: String, _ choices: [String]) -> String {
        ([text, ""] + choices.enumerated().map { "\($0.offset + 1). \($0.element)" }).joined(separator: "\n")
    }
}

/// The HTTP leg of every sender: address guard, circuit breaker, per-attempt timeout, retries with
/// exponential backoff and full jitter for transient failures only.
struct ProviderHTTP: Sendable {
    let client: HTTPClient
    let settings: OutboundSettings
    let breakers: CircuitBreakers
    let breakerKey: String
    let providerType: ProviderType
    let logger: Logger

    struct Response {
        var status: Int
        var body: Data
        var headers: HTTPHeaders
    }

    /// Sends `body` (JSON) and returns a 2xx response; anything else is a typed error from `classify`.
    func post(_ url: String, headers: [(String, String)], json body: Data, operation: String,
              classify: @Sendable (Response) -> SendError) async throws(SendError) -> Response {
        try await OutboundAddressGuard.check(url, allowPrivate: settings.allowPrivateNetworks, providerType: providerType)
        if let wait = breakers.acquire(breakerKey) {
            Telemetry.outboundSend(provider: providerType.rawValue, operation: operation, outcome: "circuit_open")
            throw SendError(.circuitOpen, providerType, "Sending through this provider is paused after repeated failures; next trial in \(wait) s.",
                            retryAfter: wait)
        }
        var attempt = 0
        while true {
            attempt += 1
            let outcome: Result<Response, SendError>
            do {
                outcome = .success(try await once(url, headers: headers, body: body))
            } catch let error as SendError {
                outcome = .failure(error)
            } catch is CancellationError {
                breakers.release(breakerKey)
                throw SendError(.unavailable, providerType, "The send was cancelled.")
            } catch {
                outcome = .failure(Self.transportError(error, providerType, timeoutSeconds: settings.timeoutSeconds))
            }
            var failure: SendError
            switch outcome {
            case .success(let response) where (200..<300).contains(response.status):
                if breakers.recordSuccess(breakerKey) { Telemetry.breakerClosed(provider: providerType.rawValue) }
                Telemetry.outboundSend(provider: providerType.rawValue, operation: operation, outcome: "sent")
                return response
            case .success(let response):
                failure = classify(response)
                if response.status == 429 || response.status >= 500 {
                    // Whatever the body says, these are the transient statuses.
                    if response.status >= 500 && failure.kind != .unavailable { failure.kind = .unavailable }
                    if response.status == 429 { failure.kind = .rateLimited }
                }
                failure.httpStatus = response.status
                if response.status == 429 {
                    failure.retryAfter = response.headers.first(name: "retry-after").flatMap { Int($0) }
                }
            case .failure(let error):
                failure = error
            }
            guard failure.isTransient, attempt < settings.retryAttempts else {
                if failure.isTransient {
                    if breakers.recordFailure(breakerKey) { Telemetry.breakerOpened(provider: providerType.rawValue) }
                } else if breakers.recordSuccess(breakerKey) {
                    Telemetry.breakerClosed(provider: providerType.rawValue)
                }
                Telemetry.outboundSend(provider: providerType.rawValue, operation: operation, outcome: failure.kind.rawValue)
                logger.warning("provider send failed", metadata: [
                    "provider_type": "\(providerType.rawValue)", "operation": "\(operation)", "attempts": "\(attempt)",
                    "error": "\(failure.kind.rawValue)", "provider_code": "\(failure.providerCode ?? "")",
                    "http_status": "\(failure.httpStatus.map(String.init) ?? "")",
                ])
                throw failure
            }
            let delay = backoff(attempt: attempt, retryAfter: failure.retryAfter)
            logger.info("provider send retrying", metadata: [
                "provider_type": "\(providerType.rawValue)", "operation": "\(operation)", "attempt": "\(attempt)",
                "error": "\(failure.kind.rawValue)", "delay_ms": "\(delay.components.seconds * 1000 + delay.components.attoseconds / 1_000_000_000_000_000)",
            ])
            do { try await Task.sleep(for: delay) } catch {
                breakers.release(breakerKey)
                throw SendError(.unavailable, providerType, "The send was cancelled.")
            }
        }
    }

    /// Full jitter: a random delay up to base·2^(attempt-1), never past 30 s; a 429's Retry-After
    /// (up to 30 s) wins when it is longer.
    func backoff(attempt: Int, retryAfter: Int?) -> Duration {
        let ceiling = min(30_000.0, Double(settings.retryBaseMilliseconds) * pow(2, Double(attempt - 1)))
        var ms = Double.random(in: (ceiling / 2)...ceiling)
        if let retryAfter { ms = max(ms, Double(min(retryAfter, 30)) * 1000) }
        return .milliseconds(Int(ms))
    }

    private func once(_ url: String, headers: [(String, String)], body: Data) async throws -> Response {
        var request = HTTPClientRequest(url: url)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/json")
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "PyTake")
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        request.body = .bytes(ByteBuffer(bytes: body))
        let response = try await client.execute(request, timeout: .seconds(Int64(settings.timeoutSeconds)))
        // Bodies of provider answers are small; more than 1 MiB is not an answer we can use.
        let collected = try await response.body.collect(upTo: 1 << 20)
        return Response(status: Int(response.status.code), body: Data(buffer: collected), headers: response.headers)
    }

    static func transportError(_ error: any Error, _ providerType: ProviderType, timeoutSeconds: Int) -> SendError {
        let type = providerType
        if let error = error as? HTTPClientError {
            if [.deadlineExceeded, .readTimeout, .connectTimeout, .writeTimeout].contains(error) {
                return SendError(.timeout, type, "The provider did not answer within \(timeoutSeconds) s.")
            }
            if error == .invalidURL || error == .emptyHost || error == .emptyScheme {
                return SendError(.incompleteCredentials, type, "The provider URL is not usable.")
            }
            if error == .bodyLengthMismatch {
                return SendError(.unavailable, type, "The provider's answer could not be read.")
            }
        }
        if error is NIOCore.ChannelError || error is NIOConnectionError || error is IOError {
            return SendError(.unavailable, type, "Cannot connect to the provider.")
        }
        return SendError(.unavailable, type, "The request to the provider failed: \(String(describing: Swift.type(of: error))).")
    }
}

/// Refuses provider URLs that resolve to loopback, private, link-local or otherwise internal
/// addresses (a tenant admin must not be able to make PyTake call its own network), unless the
/// operator allows it. Checked before each send, on every address the name resolves to.
public enum OutboundAddressGuard {
    static func check(_ url: String, allowPrivate: Bool, providerType: ProviderType) async throws(SendError) {
        if allowPrivate { return }
        guard let host = URL(string: url)?.host, !host.isEmpty else {
            throw SendError(.incompleteCredentials, providerType, "The provider URL has no host.")
        }
        let name = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        let addresses: [SocketAddress]
        do {
            addresses = try await NIOThreadPool.singleton.runIfActive { try Self.resolve(name) }
        } catch {
            throw SendError(.unavailable, providerType, "Cannot resolve the provider host \(host).")
        }
        if addresses.isEmpty || addresses.contains(where: isInternal) {
            throw SendError(.blockedAddress, providerType,
                            "The provider URL points at a private or local address; set PROVIDER_ALLOW_PRIVATE_NETWORKS=true to allow it.")
        }
    }

    static func resolve(_ host: String) throws -> [SocketAddress] {
        var hints = addrinfo()
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var list: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, nil, &hints, &list) == 0, let first = list else { return [] }
        defer { freeaddrinfo(list) }
        var result: [SocketAddress] = []
        var cursor: UnsafeMutablePointer<addrinfo>? = first
        while let info = cursor {
            if let address = info.pointee.ai_addr {
                switch Int32(address.pointee.sa_family) {
                case AF_INET:
                    let v4 = address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { $0.pointee }
                    result.append(SocketAddress(v4, host: host))
                case AF_INET6:
                    let v6 = address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { $0.pointee }
                    result.append(SocketAddress(v6, host: host))
                default: break
                }
            }
            cursor = info.pointee.ai_next
        }
        return result
    }

    public static func isInternal(_ address: SocketAddress) -> Bool {
        switch address {
        case .v4(let v4):
            let a = UInt32(bigEndian: v4.address.sin_addr.s_addr)
            func within(_ base: UInt32, _ bits: UInt32) -> Bool { a >> (32 - bits) == base >> (32 - bits) }
            return within(0x0000_0000, 8) || within(0x0A00_0000, 8) || within(0x7F00_0000, 8) || within(0xA9FE_0000, 16)
                || within(0xAC10_0000, 12) || within(0xC0A8_0000, 16) || within(0x6440_0000, 10) || within(0xC000_0000, 24)
                || within(0xC612_0000, 15) || a >= 0xE000_0000
        case .v6(let v6):
            let bytes = withUnsafeBytes(of: v6.address.sin6_addr) { Array($0) }
            if bytes[0..<12].allSatisfy({ $0 == 0 }) { return true }  // ::, ::1 and IPv4-compatible ::a.b.c.d
            if bytes[0..<12] == [0x00, 0x64, 0xFF, 0x9B, 0, 0, 0, 0, 0, 0, 0, 0] { return true }  // NAT64 64:ff9b::/96
            if bytes[0..<10].allSatisfy({ $0 == 0 }) && bytes[10] == 0xFF && bytes[11] == 0xFF {
                // IPv4-mapped: judge the IPv4 address.
                var v4 = sockaddr_in()
                v4.sin_family = sa_family_t(AF_INET)
                v4.sin_addr.s_addr = bytes[12..<16].withUnsafeBytes { $0.loadUnaligned(as: UInt32.self) }
                return isInternal(SocketAddress(v4, host: ""))
            }
            // fc00::/7 unique local, fe80::/10 link-local, fec0::/10 site-local (deprecated), ff00::/8 multicast.
            return (bytes[0] & 0xFE) == 0xFC || (bytes[0] == 0xFE && (bytes[1] & 0x80) == 0x80) || bytes[0] == 0xFF
        case .unixDomainSocket:
            return true
        }
    }
}

import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import OpenAPIRuntime
import PyTakeCore
import Synchronization

/// The outermost middleware: request id, body size limit, authentication, security headers, the
/// access log line, and the translation of every error into problem+json.
struct RequestMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext

    let tokens: TokenService
    let sessions: SessionRegistry
    let routes: RouteTable
    let maxBodyBytes: Int
    /// Meta's webhook may carry larger batches (3 MB by default).
    let webhookMaxBodyBytes: Int
    let timeout: Duration
    let logger: Logger
    /// Per client address and per signed-in user (nil: that limit is off).
    var ipLimiter: RateLimiter? = nil
    var userLimiter: RateLimiter? = nil
    var trustedProxies: Set<String> = []

    static let requestIDHeader = HTTPField.Name("X-Request-Id")!
    static let referrerPolicy = HTTPField.Name("Referrer-Policy")!
    static let forwardedProto = HTTPField.Name("X-Forwarded-Proto")!

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let started = ContinuousClock.now
        let requestId = Self.requestID(from: request.headers[Self.requestIDHeader])
        var response: Response
        var failure: AppError?
        var underlying: (any Error)?
        let clientIP = clientAddress(peer: context.clientIP, forwardedFor: request.headers[values: Self.forwardedFor], trustedProxies: trustedProxies)
        let limited = Self.isRateLimited(request.uri.path)
        var quota: RateLimiter.Decision?
        do {
            var request = request
            let isWebhook = request.uri.path == MetaRoutes.path
            if limited, let ipLimiter {
                let decision = ipLimiter.take(clientIP)
                quota = decision
                if !decision.allowed { throw Self.rateLimited(decision, scope: "ip") }
            }
            let ipQuota = quota
            let limit = isWebhook ? webhookMaxBodyBytes : maxBodyBytes
            if let length = request.headers[.contentLength].flatMap(Int.init), length > limit {
                throw Self.tooLarge(limit)
            }
            if [.post, .put, .patch].contains(request.method) {
                let body = try await request.collectBody(upTo: limit)
                if !isWebhook { try Self.refuseTopLevelNulls(body) }
                // A known length lets the API layer tell "no body" from "empty JSON".
                var head = request.head
                head.headerFields[.contentLength] = String(body.readableBytes)
                head.headerFields[.transferEncoding] = nil
                request = Request(head: head, body: .init(buffer: body))
            }
            let prepared = request
            response = try await withoutActuallyEscaping(next) { next in
                // The responder chain is made of Sendable parts; only the closure type is not marked so.
                nonisolated(unsafe) let next = next
                // Authentication is inside the deadline too: checking a session may need the database.
                return try await Self.withDeadline(timeout, on: context.eventLoop) {
                    let authentication = try await authenticate(prepared)
                    var userQuota: RateLimiter.Decision?
                    if limited, let userLimiter, case .valid(let identity) = authentication {
                        let decision = userLimiter.take(identity.userId.uuidString)
                        if !decision.allowed { throw Self.rateLimited(decision, scope: "user") }
                        if ipQuota == nil || decision.remaining < ipQuota!.remaining { userQuota = decision }
                    }
                    let scope = RequestScope(
                        requestId: requestId, clientIP: clientIP, authentication: authentication,
                        refreshCookie: MetaRoutes.cookie(RefreshCookie.name, in: prepared.headers[values: .cookie]),
                        bearerToken: prepared.uri.path == "/metrics" ? Self.bearer(prepared.headers[.authorization]) : nil,
                        secureTransport: prepared.uri.scheme == .https
                            || prepared.headers[Self.forwardedProto]?.lowercased().split(separator: ",").first?.trimmingCharacters(in: .whitespaces) == "https")
                    var response = try await RequestScope.$current.withValue(scope) { try await next(prepared, context) }
                    for (name, value) in scope.extraHeaders.all { response.headers.append(HTTPField(name: name, value: value)) }
                    if let userQuota { Self.addRateLimitHeaders(&response.headers, userQuota.limit, userQuota.remaining, userQuota.resetSeconds) }
                    return response
                }
            }
        } catch {
            var problem = Self.missingPrecondition(error, request.headers)
                ?? Self.problem(for: error, maxBodyBytes: request.uri.path == MetaRoutes.path ? webhookMaxBodyBytes : maxBodyBytes)
            if problem.kind == .notFound, context.endpointPath == "NotFound", let allow = routes.allowedMethods(for: request.uri.path) {
                problem = AppError(.methodNotAllowed, code: "method_not_allowed",
                                   "\(request.method.rawValue) is not supported here; use \(allow).", allow: allow)
            }
            failure = problem
            underlying = (error as? ServerError)?.underlyingError ?? error
            response = problem.response(requestId: requestId)
        }
        response.headers[Self.requestIDHeader] = requestId
        if let quota, response.headers[Self.rateLimitLimit] == nil {
            Self.addRateLimitHeaders(&response.headers, quota.limit, quota.remaining, quota.resetSeconds)
        }
        response.headers[.xContentTypeOptions] = "nosniff"
        response.headers[Self.referrerPolicy] = "no-referrer"
        // The admin page's files carry their own policy (`StaticFilesMiddleware`); everything else
        // is data, which no browser should run or frame.
        if response.headers[.contentSecurityPolicy] == nil {
            response.headers[.contentSecurityPolicy] = "default-src 'none'; frame-ancestors 'none'; base-uri 'none'"
        }

        let operation = Self.operationLabel(request.uri.path, context.endpointPath)
        Telemetry.request(operation: operation, method: request.method.rawValue, status: response.status.code,
                          duration: ContinuousClock.now - started)

        if let failure, failure.kind == .internal || failure.kind == .unavailable {
            var metadata = accessLogMetadata(request, context, response, requestId, started)
            metadata["code"] = "\(failure.code)"
            metadata["error"] = "\(underlying.map(Database.describe) ?? failure.detail)"
            logger.error("request failed", metadata: metadata)
        } else if logger.logLevel <= .info {
            var metadata = accessLogMetadata(request, context, response, requestId, started)
            if let failure { metadata["code"] = "\(failure.code)" }
            logger.info("request", metadata: metadata)
        }
        return response
    }

    private func accessLogMetadata(_ request: Request, _ context: Context, _ response: Response, _ requestId: String,
                                   _ started: ContinuousClock.Instant) -> Logger.Metadata {
        let elapsed = ContinuousClock.now - started
        var metadata: Logger.Metadata = [
            "request_id": "\(requestId)", "method": "\(request.method.rawValue)", "path": "\(request.uri.path)",
            "status": "\(response.status.code)",
            "ms": "\(Double(elapsed.components.attoseconds) / 1e15 + Double(elapsed.components.seconds) * 1000)",
        ]
        metadata["operation"] = "\(Self.operationLabel(request.uri.path, context.endpointPath))"
        if let tenant = Self.tenantInPath(request.uri.path) { metadata["tenant_id"] = "\(tenant)" }
        return metadata
    }

    static let forwardedFor = HTTPField.Name("X-Forwarded-For")!
    static let rateLimitLimit = HTTPField.Name("RateLimit-Limit")!
    static let rateLimitRemaining = HTTPField.Name("RateLimit-Remaining")!
    static let rateLimitReset = HTTPField.Name("RateLimit-Reset")!

    /// The API and the OAuth callback are limited; Meta's webhook (Meta's addresses, already
    /// authenticated by signature), health, metrics and the admin page's files are not.
    static func isRateLimited(_ path: String) -> Bool {
        path.hasPrefix("/api/") || path == MetaRoutes.callbackPath
    }

    static func addRateLimitHeaders(_ headers: inout HTTPFields, _ limit: Int, _ remaining: Int, _ reset: Int) {
        headers[rateLimitLimit] = String(limit)
        headers[rateLimitRemaining] = String(remaining)
        headers[rateLimitReset] = String(reset)
    }

    static func rateLimited(_ decision: RateLimiter.Decision, scope: String) -> AppError {
        Telemetry.rateLimited(scope: scope)
        var error = AppError(.tooManyRequests, code: "rate_limited",
                             "Too many requests \(scope == "ip" ? "from this address" : "for this user"); retry in \(decision.retryAfter) s.",
                             retryAfter: decision.retryAfter)
        error.rateLimit = .init(limit: decision.limit, remaining: decision.remaining, reset: decision.resetSeconds)
        return error
    }

    static func bearer(_ header: String?) -> String? {
        guard let header else { return nil }
        let parts = header.split(separator: " ", maxSplits: 1)
        return parts.count == 2 && parts[0].lowercased() == "bearer" ? String(parts[1]) : nil
    }

    /// The route template the request matched (bounded, unlike paths), for metrics and logs.
    static func operationLabel(_ path: String, _ endpoint: String?) -> String {
        if let endpoint { return endpoint }
        if path.hasPrefix("/api/") { return "unmatched" }
        return path == "/metrics" || path == "/healthz" || path == "/readyz" ? path : "static"
    }

    /// The `{tenantId}` of a tenant-scoped path, for the access log.
    static func tenantInPath(_ path: String) -> Substring? {
        let prefix = "/api/v1/tenants/"
        guard path.hasPrefix(prefix) else { return nil }
        let rest = path.dropFirst(prefix.count)
        let id = rest.prefix { $0 != "/" }
        return id.count == 36 ? id : nil
    }

    /// Runs `work`, cancelling it after `timeout`. Waiting for a database connection has no limit
    /// of its own in the pool, so without this a request would hang while the database is away.
    /// One child task and an event-loop timer: cheaper than racing a sleeping task on every request.
    /// It waits for `work` to end (it holds the responder chain, which must not outlive this call),
    /// so what `work` waits on must itself give up when cancelled or at its own deadline: the
    /// webhook's writer does (`withTimeout`).
    static func withDeadline(_ timeout: Duration, on eventLoop: any EventLoop,
                             _ work: @escaping @Sendable () async throws -> Response) async throws -> Response {
        let task = Task { try await work() }
        let timedOut = Flag()
        let timer = eventLoop.scheduleTask(in: .nanoseconds(Int64(timeout.components.seconds) * 1_000_000_000)) {
            timedOut.set()
            task.cancel()
        }
        defer { timer.cancel() }
        do {
            return try await withTaskCancellationHandler { try await task.value } onCancel: { task.cancel() }
        } catch where timedOut.isSet {
            throw AppError(.unavailable, code: "request_timeout", "The request took too long; the database may be unavailable. Try again shortly.")
        }
    }

    /// A valid signature is not enough: the token's session must still be alive (not signed out,
    /// not revoked by a password or role change, a deleted user or a suspended tenant).
    private func authenticate(_ request: Request) async throws -> RequestScope.Authentication {
        guard let header = request.headers[.authorization] else { return .none }
        let parts = header.split(separator: " ", maxSplits: 1)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return .invalid }
        guard let identity = await tokens.verifyAccess(String(parts[1])), let session = identity.sessionId,
              try await sessions.isActive(session)
        else { return .invalid }
        return .valid(identity)
    }

    static func requestID(from incoming: String?) -> String {
        if let incoming, (1...64).contains(incoming.count),
           incoming.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) }) {
            return incoming
        }
        let hex = String(UInt64.random(in: .min ... .max), radix: 16)
        return String(repeating: "0", count: 16 - hex.count) + hex
    }

    /// The generated decoders read `"field": null` as an absent field; the contract has no nullable
    /// request fields, so a null is refused instead of silently meaning "unchanged".
    static func refuseTopLevelNulls(_ body: ByteBuffer) throws(AppError) {
        guard body.readableBytes > 0, body.readableBytesView.contains(UInt8(ascii: "n")),
              let object = try? JSONSerialization.jsonObject(with: Data(body.readableBytesView)) as? [String: Any]
        else { return }
        if let field = object.first(where: { $0.value is NSNull })?.key {
            throw AppError(.badRequest, code: "invalid_request", "'\(field)' is null; omit a field to leave it unchanged.")
        }
    }

    /// Required headers that are preconditions (RFC 6585): without one the answer is 428, not the
    /// 400 the generated decoder's complaint would become.
    static let preconditionHeaders: [String: (name: HTTPField.Name, problem: AppError)] = [
        "saveFlowDraft": (.ifMatch, AppError(.preconditionRequired, code: "revision_required", "Send If-Match with the revision you loaded.")),
    ]

    static func missingPrecondition(_ error: any Error, _ headers: HTTPFields) -> AppError? {
        guard let error = error as? ServerError, error.operationInput == nil,
              let required = preconditionHeaders[error.operationID], headers[required.name] == nil
        else { return nil }
        return required.problem
    }

    static func tooLarge(_ limit: Int) -> AppError {
        AppError(.payloadTooLarge, code: "payload_too_large", "The request body exceeds \(limit) bytes.")
    }

    /// Maps anything thrown below to the problem the client sees.
    static func problem(for error: any Error, maxBodyBytes: Int) -> AppError {
        switch error {
        case let error as AppError:
            return error
        case let error as ServerError:
            if let appError = error.underlyingError as? AppError { return appError }
            if error.operationInput == nil {
                // The generated code could not turn the request into the operation's input.
                return AppError(.badRequest, code: "invalid_request", "The request does not match the operation: \(Self.describe(error.underlyingError))")
            }
            return AppError.from(error.underlyingError)
        case let error as HTTPError:
            switch error.status {
            case .notFound: return AppError(.notFound, code: "not_found", "No resource at this path.")
            case .contentTooLarge: return tooLarge(maxBodyBytes)
            default: return AppError(.badRequest, code: "invalid_request", error.body ?? error.status.reasonPhrase)
            }
        default:
            return AppError.from(error)
        }
    }

    /// A short, safe description of a decoding failure (no values echoed back).
    static func describe(_ error: any Error) -> String {
        switch error {
        case DecodingError.keyNotFound(let key, _): return "missing field '\(key.stringValue)'"
        case DecodingError.typeMismatch(_, let context), DecodingError.valueNotFound(_, let context):
            return "wrong type at '\(context.codingPath.map(\.stringValue).joined(separator: "."))'"
        case DecodingError.dataCorrupted(let context):
            let path = context.codingPath.map(\.stringValue).joined(separator: ".")
            return path.isEmpty ? "malformed JSON" : "invalid value at '\(path)'"
        default:
            let text = String(describing: error)
            return text.count > 200 ? String(text.prefix(200)) + "…" : text
        }
    }
}

/// A one-way switch that can be shared between tasks.
final class Flag: Sendable {
    private let value = Mutex(false)
    func set() { value.withLock { $0 = true } }
    var isSet: Bool { value.withLock { $0 } }
}

/// Serves `public/` (the web admin) for paths the API does not own.
struct StaticFilesMiddleware: RouterMiddleware {
    typealias Context = AppRequestContext
    let files: FileMiddleware<AppRequestContext, LocalFileSystem>
    /// Sent with every file of the admin page (see `securityHeaders(sdkURL:)`).
    let headers: HTTPFields

    init(directory: String, sdkURL: String, logger: Logger) {
        files = FileMiddleware(directory, cacheControl: .init([(.text, [.noCache])]), searchForIndexHtml: true, logger: logger)
        headers = Self.securityHeaders(sdkURL: sdkURL)
    }

    /// The admin page renders attacker-controlled text (customer messages), so it runs under a
    /// strict policy: scripts and styles only from this origin (no inline code, no eval), no
    /// plugins, no framing, no `<base>`, and requests only to this origin. The one exception is
    /// Meta's SDK for Embedded Signup: its origin (`META_SDK_URL`) may serve scripts and frames,
    /// and facebook.com may be framed (the SDK's login dialog helpers).
    static func securityHeaders(sdkURL: String) -> HTTPFields {
        var sdkOrigin = ""
        if let url = URL(string: sdkURL), let scheme = url.scheme, let host = url.host {
            sdkOrigin = " \(scheme)://\(host)" + (url.port.map { ":\($0)" } ?? "")
        }
        let policy = [
            "default-src 'self'",
            "script-src 'self'\(sdkOrigin)",
            "style-src 'self'",
            "img-src 'self' data:",
            "connect-src 'self'\(sdkOrigin)",
            "frame-src\(sdkOrigin) https://www.facebook.com https://web.facebook.com",
            "object-src 'none'",
            "base-uri 'none'",
            "form-action 'self'",
            "frame-ancestors 'none'",
        ].joined(separator: "; ")
        var fields = HTTPFields()
        fields[.contentSecurityPolicy] = policy
        fields[HTTPField.Name("X-Frame-Options")!] = "DENY"
        // Embedded Signup opens Meta's dialog as a popup that reports back to this window.
        fields[HTTPField.Name("Cross-Origin-Opener-Policy")!] = "same-origin-allow-popups"
        return fields
    }

    func handle(_ request: Request, context: Context, next: (Request, Context) async throws -> Response) async throws -> Response {
        let path = request.uri.path
        if path.hasPrefix("/api/") || path.hasPrefix("/meta/") || path == "/healthz" || path == "/readyz" || path == "/metrics" {
            return try await next(request, context)
        }
        var response = try await files.handle(request, context: context, next: next)
        for field in headers { response.headers[field.name] = field.value }
        return response
    }
}

import Foundation
import Hummingbird
import NIOCore
import PyTakeCore
import Synchronization
import HTTPTypes

/// What the generated handlers need to know about the request they serve but cannot receive as
/// parameters: set by `RequestMiddleware` for the duration of one request.
struct RequestScope: Sendable {
    @TaskLocal static var current = RequestScope(requestId: "none", clientIP: "unknown", authentication: .none)

    enum Authentication: Sendable {
        case none
        case invalid
        case valid(Identity)
    }

    var requestId: String
    var clientIP: String
    var authentication: Authentication
    /// The `pytake_refresh` cookie of a browser session, if sent.
    var refreshCookie: String? = nil
    /// The raw bearer token, for endpoints with their own static token (`/metrics`).
    var bearerToken: String? = nil
    /// Whether the client reached us over HTTPS (directly or, per `X-Forwarded-Proto`, through a proxy).
    var secureTransport = false
    /// Headers a handler adds to its response beyond what the contract's types carry (cookies).
    var extraHeaders = ResponseHeaders()

    /// The caller, or 401 (`unauthorized` with no token, `invalid_token` with a bad one).
    func identity() throws(AppError) -> Identity {
        switch authentication {
        case .valid(let identity): identity
        case .invalid: throw AppError.invalidToken
        case .none: throw AppError.unauthenticated
        }
    }

    func actor() throws(AppError) -> AuditActor {
        AuditActor(try identity(), requestId: requestId)
    }
}

/// Response headers collected while a request is handled (the generated layer would percent-encode
/// a `Set-Cookie` it declares).
final class ResponseHeaders: Sendable {
    private let fields = Mutex<[(HTTPField.Name, String)]>([])
    func add(_ name: HTTPField.Name, _ value: String) { fields.withLock { $0.append((name, value)) } }
    var all: [(HTTPField.Name, String)] { fields.withLock { $0 } }
}

/// Request context carrying the peer address (for sign-in throttling).
public struct AppRequestContext: RequestContext {
    public var coreContext: CoreRequestContextStorage
    public let clientIP: String
    /// The connection's event loop, for timers.
    public let eventLoop: any EventLoop

    public init(source: ApplicationRequestContextSource) {
        coreContext = .init(source: source)
        clientIP = source.channel.remoteAddress?.ipAddress ?? "unknown"
        eventLoop = source.channel.eventLoop
    }
}

/// The browser session's refresh token: HttpOnly (page scripts cannot read it), SameSite=Strict,
/// sent only to `/api/v1/auth`, Secure when the client came over HTTPS.
enum RefreshCookie {
    static let name = "pytake_refresh"
    static let path = "/api/v1/auth"

    static func set(_ token: String, scope: RequestScope, maxAge: Int) {
        scope.extraHeaders.add(.setCookie, "\(name)=\(token); Path=\(path); Max-Age=\(maxAge); HttpOnly; SameSite=Strict\(scope.secureTransport ? "; Secure" : "")")
    }

    static func clear(scope: RequestScope) {
        scope.extraHeaders.add(.setCookie, "\(name)=; Path=\(path); Max-Age=0; HttpOnly; SameSite=Strict\(scope.secureTransport ? "; Secure" : "")")
    }
}

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

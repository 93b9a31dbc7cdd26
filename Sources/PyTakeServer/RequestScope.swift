import Foundation
import Hummingbird
import NIOCore
import PyTakeCore

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

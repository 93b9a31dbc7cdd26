/// The one domain error type. Every failure a caller can act on is one of these; the HTTP layer
/// turns it into `application/problem+json` with `code` as the stable identifier.
public struct AppError: Error, Sendable, Equatable {
    public enum Kind: Sendable, Equatable {
        case badRequest, unauthorized, forbidden, notFound, methodNotAllowed, conflict, payloadTooLarge
        case unprocessable, tooManyRequests, unavailable, `internal`, badGateway, gatewayTimeout, preconditionRequired

        public var status: Int {
            switch self {
            case .badRequest: 400
            case .unauthorized: 401
            case .forbidden: 403
            case .notFound: 404
            case .methodNotAllowed: 405
            case .conflict: 409
            case .payloadTooLarge: 413
            case .unprocessable: 422
            case .tooManyRequests: 429
            case .unavailable: 503
            case .internal: 500
            case .badGateway: 502
            case .gatewayTimeout: 504
            case .preconditionRequired: 428
            }
        }

        public var title: String {
            switch self {
            case .badRequest: "Bad Request"
            case .unauthorized: "Unauthorized"
            case .forbidden: "Forbidden"
            case .notFound: "Not Found"
            case .methodNotAllowed: "Method Not Allowed"
            case .conflict: "Conflict"
            case .payloadTooLarge: "Content Too Large"
            case .unprocessable: "Unprocessable Content"
            case .tooManyRequests: "Too Many Requests"
            case .unavailable: "Service Unavailable"
            case .internal: "Internal Server Error"
            case .badGateway: "Bad Gateway"
            case .gatewayTimeout: "Gateway Timeout"
            case .preconditionRequired: "Precondition Required"
            }
        }
    }

    public struct FieldError: Sendable, Equatable, Codable {
        public var field: String
        public var message: String
        public init(field: String, message: String) {
            self.field = field
            self.message = message
        }
    }

    public var kind: Kind
    public var code: String
    public var detail: String
    public var fieldErrors: [FieldError]
    /// Seconds, for `Retry-After`.
    public var retryAfter: Int?
    /// `RateLimit-Limit`, `-Remaining`, `-Reset` of a refused request.
    public var rateLimit: RateLimitState?

    public struct RateLimitState: Sendable, Equatable {
        public var limit: Int
        public var remaining: Int
        public var reset: Int
        public init(limit: Int, remaining: Int, reset: Int) {
            self.limit = limit
            self.remaining = remaining
            self.reset = reset
        }
    }
    /// Methods the path supports, for `Allow` on 405.
    public var allow: String?
    /// What an outside provider answered, when the failure is theirs.
    public var providerError: ProviderErrorInfo?
    /// Flow validation findings (publishing an invalid draft).
    public var flowProblems: [FlowProblem] = []

    public init(_ kind: Kind, code: String, _ detail: String, fieldErrors: [FieldError] = [], retryAfter: Int? = nil, allow: String? = nil) {
        self.kind = kind
        self.code = code
        self.detail = detail
        self.fieldErrors = fieldErrors
        self.retryAfter = retryAfter
        self.allow = allow
    }

    public static func notFound(_ what: String) -> AppError {
        AppError(.notFound, code: "not_found", "\(what) not found.")
    }
    public static let forbidden = AppError(.forbidden, code: "forbidden", "Your role does not allow this action.")
    public static let unauthenticated = AppError(.unauthorized, code: "unauthorized", "Sign in first: send an access token as 'Authorization: Bearer <token>'.")
    public static let invalidToken = AppError(.unauthorized, code: "invalid_token", "The access token is invalid or expired.")
    public static let databaseUnavailable = AppError(.unavailable, code: "database_unavailable", "The database is not reachable.")
    public static func invalidParameter(_ name: String, _ message: String) -> AppError {
        AppError(.badRequest, code: "invalid_parameter", "Parameter '\(name)' \(message).")
    }
    public static func validation(_ errors: [FieldError]) -> AppError {
        AppError(.unprocessable, code: "validation_failed", "One or more fields are invalid.", fieldErrors: errors)
    }
}

/// A WhatsApp provider's own error, as reported back to API callers (never with secrets).
public struct ProviderErrorInfo: Sendable, Equatable, Codable {
    public var providerType: String
    /// The provider's error code (Meta's `error.code`, e.g. "190"), when it gave one.
    public var code: String?
    public var message: String?
    /// The HTTP status the provider answered, when it answered.
    public var httpStatus: Int?
    /// Embedded Signup: the step that failed.
    public var step: String?

    public init(providerType: String, code: String?, message: String?, httpStatus: Int?, step: String? = nil) {
        self.providerType = providerType
        self.code = code
        self.message = message
        self.httpStatus = httpStatus
        self.step = step
    }

    enum CodingKeys: String, CodingKey {
        case providerType = "provider_type", code, message, httpStatus = "http_status", step
    }
}

/// Collects field problems so a request reports all of them at once.
public struct Validator {
    public private(set) var errors: [AppError.FieldError] = []
    public init() {}

    public mutating func check(_ condition: Bool, _ field: String, _ message: @autoclosure () -> String) {
        if !condition { errors.append(.init(field: field, message: message())) }
    }

    public func finish() throws(AppError) {
        if !errors.isEmpty { throw AppError.validation(errors) }
    }
}

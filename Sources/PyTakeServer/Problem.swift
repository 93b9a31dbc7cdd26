import Foundation
import HTTPTypes
import Hummingbird
import PyTakeCore

/// RFC 9457 problem details, as every error leaves the server.
struct ProblemBody: Encodable {
    var type: String
    var title: String
    var status: Int
    var code: String
    var detail: String
    var requestId: String
    var errors: [AppError.FieldError]?
    var providerError: ProviderErrorInfo?
    var problems: [FlowProblem]?

    enum CodingKeys: String, CodingKey {
        case type, title, status, code, detail, errors
        case requestId = "request_id"
        case providerError = "provider_error"
        case problems
    }
}

extension AppError {
    func response(requestId: String) -> Response {
        let status = HTTPResponse.Status(code: kind.status)
        let body = ProblemBody(
            type: "https://pytake.dev/problems/\(code)", title: kind.title, status: kind.status,
            code: code, detail: detail, requestId: requestId, errors: fieldErrors.isEmpty ? nil : fieldErrors,
            providerError: providerError, problems: flowProblems.isEmpty ? nil : flowProblems
        )
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        let data = (try? encoder.encode(body)) ?? Data("{}".utf8)
        var headers: HTTPFields = [.contentType: "application/problem+json"]
        if let retryAfter { headers[.retryAfter] = String(retryAfter) }
        if let allow { headers[.allow] = allow }
        if let rateLimit { RequestMiddleware.addRateLimitHeaders(&headers, rateLimit.limit, rateLimit.remaining, rateLimit.reset) }
        return Response(status: status, headers: headers, body: .init(byteBuffer: ByteBuffer(bytes: data)))
    }
}

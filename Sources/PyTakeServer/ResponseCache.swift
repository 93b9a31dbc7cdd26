import Foundation
import HTTPTypes
import NIOCore
import OpenAPIRuntime
import PyTakeCore
import Synchronization

/// Encoded responses of a read that may be reused for a few seconds: the daily metrics, which the
/// scheduler refreshes every few minutes and dashboards poll. Keyed by the exact path and query;
/// served only to a caller who may see the tenant in the path, the same check the handler makes.
/// Encoding the report is most of the request's cost, so the bytes are kept, not the report.
final class ResponseCache: Sendable {
    struct Entry: Sendable {
        var response: HTTPResponse
        var body: [UInt8]
        var expires: ContinuousClock.Instant
    }

    static let maxEntries = 10_000
    static let maxBodyBytes = 256 * 1024
    let ttl: Duration
    private let entries = Mutex<[String: Entry]>([:])

    init(ttl: Duration) {
        self.ttl = ttl
    }

    var enabled: Bool { ttl > .zero }

    /// Wraps a generated operation handler whose path has a `{tenantId}`.
    func wrap(
        _ handler: @escaping @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?)
    ) -> @Sendable (HTTPRequest, HTTPBody?, ServerRequestMetadata) async throws -> (HTTPResponse, HTTPBody?) {
        { [self] request, body, metadata in
            guard case .valid(let identity) = RequestScope.current.authentication,
                  let tenant = metadata.pathParameters["tenantId"].flatMap({ UUID(uuidString: String($0)) }),
                  Access.canSee(identity, tenant: tenant), let key = request.path
            else { return try await handler(request, body, metadata) }
            let now = ContinuousClock.now
            if let hit = entries.withLock({ $0[key] }), hit.expires > now {
                return (hit.response, HTTPBody(hit.body))
            }
            let (response, responseBody) = try await handler(request, body, metadata)
            guard response.status == .ok, let responseBody else { return (response, responseBody) }
            let bytes = try await [UInt8](collecting: responseBody, upTo: Self.maxBodyBytes)
            // Spread over the last fifth of the TTL, so entries filled together do not all expire together.
            put(key, Entry(response: response, body: bytes, expires: now + ttl * Double.random(in: 0.8...1.0)))
            return (response, HTTPBody(bytes))
        }
    }

    private func put(_ key: String, _ entry: Entry) {
        entries.withLock { entries in
            // Bounded: past the limit, expired entries go, and if that is not enough, all of them.
            if entries.count >= Self.maxEntries {
                let now = ContinuousClock.now
                entries = entries.filter { $0.value.expires > now }
                if entries.count >= Self.maxEntries { entries.removeAll(keepingCapacity: true) }
            }
            entries[key] = entry
        }
    }
}

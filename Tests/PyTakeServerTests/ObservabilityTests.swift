import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// `GET /metrics`, the API rate limits and client addresses behind trusted proxies.
@Suite struct ObservabilityTests {
    /// The value of one series in a Prometheus text export (0 when absent).
    static func value(_ export: String, _ series: String) -> Double {
        for line in export.split(separator: "\n") where line.hasPrefix(series + " ") {
            return Double(line.dropFirst(series.count + 1)) ?? .nan
        }
        return 0
    }

    static func metrics(_ client: some TestClientProtocol, token: String? = nil) async throws -> String {
        var headers: HTTPFields = [:]
        if let token { headers[.authorization] = "Bearer \(token)" }
        let response = try await client.call(.get, "/metrics", headers: headers)
        #expect(response.status == .ok, "\(response.text)")
        #expect(response.headers[.contentType]?.hasPrefix("text/plain") == true)
        return response.text
    }

    @Test func metricsCountRequestsWebhooksAndThePool() async throws {
        try await TestApp.run(overrides: MetaWebhookTests.overrides) { _, client in
            let before = try await Self.metrics(client)
            let ok = #"pytake_http_requests_total{operation="/healthz",method="GET",status="200"}"#
            let unauthorized = #"pytake_http_requests_total{operation="/api/v1/me",method="GET",status="401"}"#
            for _ in 0..<3 { _ = try await client.call(.get, "/healthz") }
            #expect(try await client.call(.get, "/api/v1/me").status == .unauthorized)
            // Readiness asks the database (how fast it answers on a loaded machine is not the point).
            _ = try await client.call(.get, "/readyz")
            // A webhook for a number no provider has, one with a bad signature.
            let payload = MetaWebhookTests.payload([.init(phoneNumberId: "999000111", messages: [MetaWebhookTests.text("wamid.obs-1")],
                                                          contacts: [MetaWebhookTests.contact()])])
            #expect(try await MetaWebhookTests.post(client, payload).status == .ok)
            #expect(try await MetaWebhookTests.post(client, payload, secret: "wrong").status == .unauthorized)

            let after = try await Self.metrics(client)
            // Other tests run in this process at the same time: counters only grow.
            #expect(Self.value(after, ok) >= Self.value(before, ok) + 3, "\(after)")
            #expect(Self.value(after, unauthorized) >= Self.value(before, unauthorized) + 1)
            let unroutable = #"pytake_webhook_messages_total{outcome="unroutable"}"#
            #expect(Self.value(after, unroutable) >= Self.value(before, unroutable) + 1)
            let rejected = #"pytake_webhook_rejected_deliveries_total{reason="signature_invalid"}"#
            #expect(Self.value(after, rejected) >= Self.value(before, rejected) + 1)
            #expect(after.contains("# HELP pytake_http_requests_total "))
            #expect(after.contains(#"pytake_http_request_duration_seconds_bucket{operation="/healthz",le="#))
            #expect(Self.value(after, "pytake_db_pool_max_connections") >= 1)
            // The pool's own events drive the connection gauge (see PoolObservingLogHandler).
            #expect(Self.value(after, "pytake_db_pool_connections") >= 1, "\(after)")
            #expect(!after.contains("tenant_id"), "no per-tenant series")
        }
    }

    @Test func metricsTokenIsRequiredWhenSet() async throws {
        try await TestApp.run(overrides: ["METRICS_TOKEN": "scrape-me-0123456789"]) { _, client in
            #expect(try await client.call(.get, "/metrics").status == .unauthorized)
            #expect(try await client.call(.get, "/metrics", headers: [.authorization: "Bearer nope"]).status == .unauthorized)
            _ = try await Self.metrics(client, token: "scrape-me-0123456789")
        }
    }

    @Test func perAddressLimitAnswers429WithHeadersButSparesTheWebhook() async throws {
        // One token a minute: nothing refills while the test runs, however slow the machine.
        try await TestApp.run(.live, overrides: ["RATE_LIMIT_IP_PER_MINUTE": "1", "RATE_LIMIT_IP_BURST": "3"]) { _, client in
            var statuses: [HTTPResponse.Status] = []
            var last: APIResponse?
            for _ in 0..<4 {
                let response = try await client.call(.get, "/api/v1/me")
                statuses.append(response.status)
                last = response
            }
            #expect(statuses == [.unauthorized, .unauthorized, .unauthorized, .tooManyRequests])
            let refused = try #require(last)
            #expect(refused.code == "rate_limited")
            #expect((1...60).contains(Int(refused.headers[.retryAfter] ?? "") ?? 0))
            #expect(refused.headers[HTTPField.Name("RateLimit-Limit")!] == "3")
            #expect(refused.headers[HTTPField.Name("RateLimit-Remaining")!] == "0")
            #expect(Int(refused.headers[HTTPField.Name("RateLimit-Reset")!] ?? "") ?? 0 >= 3)
            // Meta's webhook, health and the page are not limited.
            for _ in 0..<5 {
                #expect(try await client.call(.post, "/meta/webhook", json: "{}").status != .tooManyRequests)
                #expect(try await client.call(.get, "/healthz").status == .ok)
            }
            // Refilling is `tokenBucketsRefillAndForgetIdleKeys`'s, on a clock the test controls.
        }
    }

    @Test func perUserLimitIsSeparateFromTheAddress() async throws {
        try await TestApp.run(.live, overrides: ["RATE_LIMIT_USER_PER_MINUTE": "1", "RATE_LIMIT_USER_BURST": "2"]) { app, client in
            let f = try await Fixture.make(app)
            let a = f.token(.adminA), b = f.token(.adminB)
            #expect(try await client.call(.get, "/api/v1/me", token: a).status == .ok)
            let second = try await client.call(.get, "/api/v1/me", token: a)
            #expect(second.status == .ok)
            #expect(second.headers[HTTPField.Name("RateLimit-Remaining")!] == "0")
            let third = try await client.call(.get, "/api/v1/me", token: a)
            #expect(third.status == .tooManyRequests)
            // One token a minute: the wait is a minute less the time since the last one.
            #expect((third.json["detail"] as? String)?.hasPrefix("Too many requests for this user; retry in ") == true, "\(third.text)")
            #expect((1...60).contains(Int(third.headers[.retryAfter] ?? "") ?? 0))
            #expect(try await client.call(.get, "/api/v1/me", token: b).status == .ok, "another user of the same address")
        }
    }

    @Test func forwardedForIsBelievedOnlyFromTrustedProxies() async throws {
        let trusted: Set = ["10.0.0.2", "10.0.0.3"]
        #expect(clientAddress(peer: "10.0.0.2", forwardedFor: ["203.0.113.7"], trustedProxies: trusted) == "203.0.113.7")
        // The client's own claim (leftmost) is skipped in favour of what our proxies saw.
        #expect(clientAddress(peer: "10.0.0.2", forwardedFor: ["6.6.6.6, 203.0.113.7, 10.0.0.3"], trustedProxies: trusted) == "203.0.113.7")
        #expect(clientAddress(peer: "198.51.100.1", forwardedFor: ["203.0.113.7"], trustedProxies: trusted) == "198.51.100.1")
        #expect(clientAddress(peer: "10.0.0.2", forwardedFor: [], trustedProxies: trusted) == "10.0.0.2")

        try await TestApp.run(.live, overrides: ["RATE_LIMIT_IP_PER_MINUTE": "1", "RATE_LIMIT_IP_BURST": "1", "TRUSTED_PROXIES": "127.0.0.1"]) { _, client in
            let forwarded = HTTPField.Name("X-Forwarded-For")!
            let first = try await client.call(.get, "/api/v1/me", headers: [forwarded: "203.0.113.7"])
            let second = try await client.call(.get, "/api/v1/me", headers: [forwarded: "203.0.113.7"])
            let other = try await client.call(.get, "/api/v1/me", headers: [forwarded: "203.0.113.8"])
            #expect(first.status == .unauthorized)
            #expect(second.status == .tooManyRequests)
            #expect(other.status == .unauthorized, "another client behind the same proxy has its own bucket")
        }
    }

    @Test func tokenBucketsRefillAndForgetIdleKeys() {
        let limiter = RateLimiter(perMinute: 120, burst: 2, shards: 1, sweepAbove: 4)
        let start = ContinuousClock.now
        #expect(limiter.take("a", now: start).allowed)
        #expect(limiter.take("a", now: start).allowed)
        let refused = limiter.take("a", now: start)
        #expect(!refused.allowed && refused.retryAfter == 1)
        #expect(limiter.take("a", now: start + .milliseconds(600)).allowed, "2 per second refill")
        for key in ["b", "c", "d", "e", "f"] { _ = limiter.take(key, now: start) }
        // Much later every bucket is full again; growing past the threshold sweeps them.
        for key in ["g", "h", "i", "j", "k"] { _ = limiter.take(key, now: start + .seconds(10)) }
        #expect(limiter.keyCount < 10)
    }
}

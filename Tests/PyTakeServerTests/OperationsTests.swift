import Foundation
import HTTPTypes
import Hummingbird
import HummingbirdTesting
import Logging
import PyTakeCore
import PyTakeServer
import PyTakeTestSupport
import Testing

@Suite struct OperationsTests {
    @Test func probesRoutingErrorsAndHeaders() async throws {
        try await TestApp.run(overrides: ["MAX_BODY_BYTES": "2048"]) { app, client in
            let f = try await Fixture.make(app)
            let health = try await client.call(.get, "/healthz")
            #expect(health.status == .ok)
            #expect(health.json["status"] as? String == "ok")
            #expect(try await client.call(.get, "/readyz").status == .ok)

            let unknown = try await client.call(.get, "/api/v1/nothing-here")
            #expect(unknown.status == .notFound)
            #expect(unknown.headers[.contentType] == "application/problem+json")
            #expect(unknown.code == "not_found")

            let wrongMethod = try await client.call(.put, "/api/v1/tenants/\(f.a)", token: f.token(.platformAdmin), json: ["name": "x"])
            #expect(wrongMethod.status == .methodNotAllowed)
            #expect(wrongMethod.code == "method_not_allowed")
            #expect(wrongMethod.headers[.allow] == "DELETE, GET, PATCH")
            #expect(try await client.call(.delete, "/api/v1/me").status == .methodNotAllowed)
            let exotic = try await client.call(HTTPRequest.Method("QUERY")!, "/api/v1/tenants/\(f.a)/users")
            #expect(exotic.status == .methodNotAllowed)
            #expect(exotic.headers[.allow] == "GET, POST")
            #expect(try await client.call(.trace, "/healthz").status == .methodNotAllowed)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/nothing").status == .notFound)

            let big = String(repeating: "x", count: 4096)
            let tooLarge = try await client.call(.post, "/api/v1/tenants", token: f.token(.platformAdmin), json: ["name": big, "slug": "big"])
            #expect(tooLarge.status == .contentTooLarge)
            #expect(tooLarge.code == "payload_too_large")
            #expect(try await app.count("clients WHERE slug = 'big'") == 0)

            let echoed = try await client.call(.get, "/healthz", headers: [HTTPField.Name("X-Request-Id")!: "trace-abc.123"])
            #expect(echoed.headers[HTTPField.Name("X-Request-Id")!] == "trace-abc.123")
            let hostile = try await client.call(.get, "/healthz", headers: [HTTPField.Name("X-Request-Id")!: "<script>\n"])
            let generated = try #require(hostile.headers[HTTPField.Name("X-Request-Id")!])
            #expect(generated != "<script>\n" && generated.count == 16)
            #expect(unknown.json["request_id"] as? String == unknown.headers[HTTPField.Name("X-Request-Id")!])
        }
    }

    @Test func servesTheSignInPageWithAStrictContentSecurityPolicy() async throws {
        try await TestApp.run { _, client in
            let page = try await client.call(.get, "/")
            #expect(page.status == .ok)
            #expect(page.headers[.contentType]?.hasPrefix("text/html") == true)
            #expect(page.text.contains("/app.js"))
            #expect(!page.text.contains("<script>"), "no inline script")
            let csp = try #require(page.headers[.contentSecurityPolicy])
            #expect(csp.contains("script-src 'self'") && !csp.contains("unsafe-inline"))
            #expect(page.headers[.xContentTypeOptions] == "nosniff")
            #expect(try await client.call(.get, "/app.js").status == .ok)
            // API answers are data: no browser may run or frame them.
            let api = try await client.call(.get, "/healthz")
            #expect(api.headers[.contentSecurityPolicy] == "default-src 'none'; frame-ancestors 'none'; base-uri 'none'")
        }
    }

    @Test func readinessFailsWhenTheDatabaseIsAway() async throws {
        // A pool pointed at a port where nothing listens.
        let settings = try TestApp.settings(databaseURL: DatabaseURL(host: "127.0.0.1", port: 9, username: "x", password: nil, database: "x"),
                                            overrides: ["REQUEST_TIMEOUT_SECONDS": "3"])
        var logger = Logger(label: "readiness-test")
        logger.logLevel = .critical
        let db = Database.makeClient(url: try DatabaseURL(parsing: settings.databaseURL!), poolSize: 1, logger: logger)
        let services = await AppServices(settings: settings, db: db, jwtSecret: Array(TestApp.jwtSecret.utf8),
                                         secrets: try Bootstrap.secretBox(settings: settings), logger: logger)
        var app = Application(router: try buildRouter(services), configuration: .init(address: .hostname("127.0.0.1", port: 0)), logger: logger)
        app.addServices(db)
        app.addServices(services.backgroundServices)
        // Live: the deadline runs on the connection's event loop.
        try await app.test(.live) { client in
            #expect(try await client.call(.get, "/healthz").status == .ok)
            let ready = try await client.call(.get, "/readyz")
            #expect(ready.status == .serviceUnavailable)
            #expect(ready.code == "database_unavailable")
            let login = try await client.call(.post, "/api/v1/auth/login", json: ["email": "a@b.test", "password": "whatever it is"])
            #expect(login.status == .serviceUnavailable)
            #expect(login.code == "request_timeout", "answered by the request deadline, not after the pool gave up")
            // A signed-in caller too: checking the session needs the database, under the same deadline.
            let token = try await services.tokens.accessToken(for: Identity(userId: UUID(), email: "a@b.test", role: .platformAdmin,
                                                                             tenantId: nil, sessionId: UUID()))
            let tenants = try await client.call(.get, "/api/v1/tenants", token: token)
            #expect(tenants.code == "request_timeout")
            #expect(login.headers[.contentType] == "application/problem+json")
        }
    }
}

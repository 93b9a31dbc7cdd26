import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Every write endpoint refuses malformed and invalid input with problem+json and changes nothing.
@Suite struct BadInputTests {
    struct Attempt: Sendable {
        var method: HTTPRequest.Method
        var path: @Sendable (Fixture) -> String
        var body: String
        var contentType: String = "application/json"
    }

    static let attempts: [Attempt] = {
        let tenants: @Sendable (Fixture) -> String = { _ in "/api/v1/tenants" }
        let tenantA: @Sendable (Fixture) -> String = { f in "/api/v1/tenants/\(f.a)" }
        let usersA: @Sendable (Fixture) -> String = { f in "/api/v1/tenants/\(f.a)/users" }
        let agentA: @Sendable (Fixture) -> String = { f in "/api/v1/tenants/\(f.a)/users/\(f.id(.agentA))" }
        var list: [Attempt] = []
        for body in [
            "{bad json", "", "[]", "{}", #"{"name":"x"}"#, #"{"name":5,"slug":"okay"}"#,
            #"{"name":"A","slug":"Bad Slug"}"#, #"{"name":"A","slug":"-edge"}"#, #"{"name":"A","slug":"x"}"#,
            #"{"name":"A","slug":"okay","timezone":"Mars/Olympus"}"#, #"{"name":"A","slug":"okay","timezone":"EST5"}"#,
            #"{"name":"   ","slug":"okay"}"#, #"{"name":"A","slug":"okay","surprise":1}"#,
            #"{"name":"A","slug":"okay","tools_config":[1]}"#, #"{"name":"A","slug":"okay","api_url":"ftp://x.example"}"#,
            #"{"name":"A","slug":"okay","api_url":"not a url"}"#, #"{"name":"A","slug":"okay","whatsapp_provider":"telegram"}"#,
            #"{"name":"A","slug":"okay","status":"deleted"}"#, #"{"name":"A","slug":"tenant-a"}"#,
            #"{"name":"nul\u0000name","slug":"okay"}"#, #"{"name":"A","slug":"okay","tools_config":{"k":"\u0000"}}"#,
            #"{"name":"\#(String(repeating: "😀", count: 201))","slug":"okay"}"#,
            #"{"name":"A","slug":"okay","token":"\#(String(repeating: "t", count: 4097))"}"#,
        ] {
            list.append(Attempt(method: .post, path: tenants, body: body))
        }
        list.append(Attempt(method: .post, path: tenants, body: #"{"name":"A","slug":"okay"}"#, contentType: "text/plain"))
        for body in [
            "{bad", "", "[]", #"{"timezone":"Nope/Nowhere"}"#, #"{"slug":"-x"}"#, #"{"slug":"tenant-b"}"#, #"{"name":""}"#,
            #"{"status":"gone"}"#, #"{"clear":["token"],"token":"abcdefghijklmnop"}"#, #"{"clear":["everything"]}"#,
            #"{"tools_config":"text"}"#, #"{"api_url":"javascript:alert(1)"}"#,
        ] {
            list.append(Attempt(method: .patch, path: tenantA, body: body))
        }
        for body in [
            "{bad", "", "{}", #"{"email":"not-an-email","password":"long enough pass","role":"agent"}"#,
            #"{"email":"new@a.test","password":"short","role":"agent"}"#,
            #"{"email":"new@a.test","password":"\#(String(repeating: "x", count: 129))","role":"agent"}"#,
            #"{"email":"new@a.test","password":"long enough pass","role":"platform_admin"}"#,
            #"{"email":"new@a.test","password":"long enough pass","role":"owner"}"#,
            #"{"email":"agent@a.test","password":"long enough pass","role":"agent"}"#,
            #"{"email":"ROOT@pytake.test","password":"long enough pass","role":"agent"}"#,
            #"{"email":"new@a.test","password":"long enough pass","role":"agent","tenant_id":"x"}"#,
        ] {
            list.append(Attempt(method: .post, path: usersA, body: body))
        }
        for body in ["{bad", "", #"{"password":"short"}"#, #"{"email":"x"}"#, #"{"role":"platform_admin"}"#, #"{"email":"viewer@a.test"}"#,
                     #"{"email":null,"role":"viewer"}"#] {
            list.append(Attempt(method: .patch, path: agentA, body: body))
        }
        for body in ["{bad", "", "{}", #"{"email":"a@b.test"}"#, #"{"email":1,"password":2}"#,
                     #"{"email":"a\u0000@b.test","password":"whatever it is"}"#] {
            list.append(Attempt(method: .post, path: { _ in "/api/v1/auth/login" }, body: body))
        }
        for body in ["{bad", "", "{}", #"{"refresh_token":5}"#] {
            list.append(Attempt(method: .post, path: { _ in "/api/v1/auth/refresh" }, body: body))
        }
        list.append(Attempt(method: .post, path: { _ in "/api/v1/auth/logout" }, body: "{bad"))
        list.append(Attempt(method: .post, path: { _ in "/api/v1/auth/logout" }, body: #"{"refresh_token":"forged"}"#))
        return list
    }()

    /// Everything a write could change, as text.
    static func snapshot(_ app: TestApp) async throws -> String {
        let rows = try await app.db.query("""
            SELECT (SELECT json_agg(c ORDER BY id)::text FROM clients c) || (SELECT json_agg(u ORDER BY id)::text FROM users u)
                || (SELECT count(*) FROM audit_logs)::text || coalesce((SELECT count(*) FROM refresh_tokens WHERE revoked_at IS NULL)::text, '')
            """, logger: app.services.logger)
        return try await rows.decode(String.self).first(where: { _ in true }) ?? ""
    }

    @Test func everyWriteEndpointRejectsBadInputAndChangesNothing() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let token = f.token(.platformAdmin)
            // A live session, to see that a bad logout does not end it.
            _ = try await client.call(.post, "/api/v1/auth/login", json: ["email": "agent@a.test", "password": TestApp.password])
            let before = try await Self.snapshot(app)
            for attempt in Self.attempts {
                let path = attempt.path(f)
                let response = try await client.call(attempt.method, path, token: token, json: attempt.body,
                                                      headers: [.contentType: attempt.contentType])
                let label = "\(attempt.method) \(path) \(attempt.body.prefix(80))"
                let expected: Set<Int> = path.hasSuffix("/auth/login") || path.hasSuffix("/auth/refresh") || path.hasSuffix("/auth/logout")
                    ? [400, 401, 409, 422] : [400, 409, 422]
                #expect(expected.contains(response.status.code), "\(label) → \(response.status) \(response.text)")
                #expect(response.headers[.contentType] == "application/problem+json", "\(label)")
                #expect(response.code != nil && response.json["request_id"] != nil, "\(label)")
            }
            // Failed sign-ins count toward throttling; nothing else may have moved.
            #expect(try await Self.snapshot(app) == before)
        }
    }

    @Test func validationListsEveryBadField() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let response = try await client.call(.post, "/api/v1/tenants", token: f.token(.platformAdmin),
                                                 json: ["name": " ", "slug": "NO", "api_url": "ftp://x", "token": ""])
            #expect(response.status == .unprocessableContent)
            #expect(response.code == "validation_failed")
            let fields = Set(((response.json["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String })
            #expect(fields == ["name", "slug", "api_url", "token"])
            // The time zone is one of the contract's names: another is refused before validation.
            let zone = try await client.call(.post, "/api/v1/tenants", token: f.token(.platformAdmin),
                                             json: ["name": "Z", "slug": "zone", "timezone": "Atlantis/Capital"])
            #expect(zone.status == .badRequest && zone.code == "invalid_request", "\(zone.text)")
        }
    }

    @Test func badParametersAreRejected() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let token = f.token(.platformAdmin)
            for uri in [
                "/api/v1/tenants/not-a-uuid", "/api/v1/tenants?limit=0", "/api/v1/tenants?limit=201", "/api/v1/tenants?limit=ten",
                "/api/v1/tenants?cursor=%%%", "/api/v1/tenants?cursor=bm90LWEtY3Vyc29y", "/api/v1/tenants?status=archived",
                "/api/v1/tenants/\(f.a)/users/42", "/api/v1/tenants/\(f.a)/audit-log?cursor=eA",
                "/api/v1/tenants?cursor=" + Data("1|\(UUID().uuidString)".utf8).base64EncodedString().replacingOccurrences(of: "=", with: ""),
                "/api/v1/tenants?q=" + String(repeating: "q", count: 101),
            ] {
                let response = try await client.call(.get, uri, token: token)
                #expect(response.status == .badRequest, "\(uri): \(response.text)")
            }
        }
    }
}

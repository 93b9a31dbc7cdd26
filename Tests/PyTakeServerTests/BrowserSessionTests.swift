import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Browser sessions: the refresh token lives in an HttpOnly cookie page scripts cannot read, and a
/// refresh from the cookie needs a header another site's page cannot send.
@Suite struct BrowserSessionTests {
    static let csrf = HTTPField.Name("X-PyTake-CSRF")!

    /// The `pytake_refresh` cookie a response sets: its value and attributes.
    static func refreshCookie(_ response: APIResponse) -> (value: String, attributes: [String])? {
        for header in response.headers[values: .setCookie] where header.hasPrefix("pytake_refresh=") {
            let parts = header.split(separator: ";").map { $0.trimmingCharacters(in: .whitespaces) }
            return (String(parts[0].dropFirst("pytake_refresh=".count)), Array(parts.dropFirst()))
        }
        return nil
    }

    @Test func cookieSessionSignsInRefreshesAndSignsOut() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            let login = try await client.call(.post, "/api/v1/auth/login",
                                              json: ["email": "agent@acme.test", "password": TestApp.password, "refresh_in_cookie": true])
            #expect(login.status == .ok, "\(login.text)")
            #expect(login.json["refresh_token"] == nil && login.json["access_token"] is String, "the body carries no refresh token")
            let first = try #require(Self.refreshCookie(login))
            #expect(first.value.split(separator: ".").count == 3)
            #expect(Set(first.attributes).isSuperset(of: ["Path=/api/v1/auth", "HttpOnly", "SameSite=Strict"]), "\(first.attributes)")
            #expect(!first.attributes.contains("Secure"), "plain HTTP: no Secure attribute")

            // From the cookie, without the header: refused (another site could make the browser send the cookie).
            let cookie: HTTPFields = [.cookie: "pytake_refresh=\(first.value)"]
            let forged = try await client.call(.post, "/api/v1/auth/refresh", headers: cookie)
            #expect(forged.status == .forbidden && forged.code == "csrf_header_missing", "\(forged.text)")
            // Neither a body token nor a cookie: no credential, like a request without an access token.
            let nothing = try await client.call(.post, "/api/v1/auth/refresh", headers: [Self.csrf: "1"])
            #expect(nothing.status == .unauthorized && nothing.code == "refresh_token_missing", "\(nothing.text)")

            var withHeader = cookie
            withHeader[Self.csrf] = "1"
            let refreshed = try await client.call(.post, "/api/v1/auth/refresh", headers: withHeader)
            #expect(refreshed.status == .ok, "\(refreshed.text)")
            #expect(refreshed.json["refresh_token"] == nil && refreshed.json["access_token"] is String)
            let second = try #require(Self.refreshCookie(refreshed))
            #expect(second.value != first.value, "the cookie rotates")

            // The old cookie again: reuse, which revokes the whole family (the new cookie too).
            let reused = try await client.call(.post, "/api/v1/auth/refresh", headers: withHeader)
            #expect(reused.status == .unauthorized, "\(reused.text)")
            let afterReuse = try await client.call(.post, "/api/v1/auth/refresh",
                                                   headers: [.cookie: "pytake_refresh=\(second.value)", Self.csrf: "1"])
            #expect(afterReuse.status == .unauthorized, "\(afterReuse.text)")

            // Sign in again; signing out revokes the cookie's family and clears the cookie.
            let again = try await client.call(.post, "/api/v1/auth/login",
                                              json: ["email": "agent@acme.test", "password": TestApp.password, "refresh_in_cookie": true],
                                              headers: [HTTPField.Name("X-Forwarded-Proto")!: "https"])
            let third = try #require(Self.refreshCookie(again))
            #expect(third.attributes.contains("Secure"), "behind a TLS proxy the cookie is Secure")
            let token = try #require(again.json["access_token"] as? String)
            let logout = try await client.call(.post, "/api/v1/auth/logout", token: token, headers: [.cookie: "pytake_refresh=\(third.value)"])
            #expect(logout.status == .noContent, "\(logout.text)")
            let cleared = try #require(Self.refreshCookie(logout))
            #expect(cleared.value.isEmpty && cleared.attributes.contains("Max-Age=0"))
            let afterLogout = try await client.call(.post, "/api/v1/auth/refresh",
                                                    headers: [.cookie: "pytake_refresh=\(third.value)", Self.csrf: "1"])
            #expect(afterLogout.status == .unauthorized, "\(afterLogout.text)")
        }
    }

    @Test func bodyTokensWorkAsBeforeAndWinOverTheCookie() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("viewer@acme.test", role: .viewer, tenant: tenant.id)
            let login = try await client.call(.post, "/api/v1/auth/login", json: ["email": "viewer@acme.test", "password": TestApp.password])
            let token = try #require(login.json["refresh_token"] as? String)
            #expect(Self.refreshCookie(login) == nil, "API clients get no cookie")
            // A body token needs no CSRF header (no browser attaches it on its own) and sets no cookie.
            let refreshed = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": token],
                                                  headers: [.cookie: "pytake_refresh=garbage"])
            #expect(refreshed.status == .ok && refreshed.json["refresh_token"] is String, "\(refreshed.text)")
            #expect(Self.refreshCookie(refreshed) == nil)
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Embedded Signup end to end against a fake Graph API on loopback.
@Suite struct EmbeddedSignupTests {
    static let waba = "102290129340398"
    static let number = "106540352242922"
    static let token = "EAAG-signup-system-user-token"
    static let paths = (
        exchange: "/v22.0/oauth/access_token", debug: "/v22.0/debug_token", numbers: "/v22.0/\(waba)/phone_numbers",
        register: "/v22.0/\(number)/register", subscribe: "/v22.0/\(waba)/subscribed_apps"
    )

    static func script(_ fake: FakeProviderServer, verified: Bool = false, wabaInScope: String = waba) {
        fake.setDefault(paths.exchange, .json(200, #"{"access_token":"\#(token)","token_type":"bearer"}"#))
        fake.setDefault(paths.debug, .json(200, #"{"data":{"app_id":"1234567890","is_valid":true,"scopes":["whatsapp_business_management","whatsapp_business_messaging"],"granular_scopes":[{"scope":"whatsapp_business_management","target_ids":["\#(wabaInScope)"]},{"scope":"whatsapp_business_messaging","target_ids":["\#(wabaInScope)"]}]}}"#))
        fake.setDefault(paths.numbers, .json(200, #"{"data":[{"id":"\#(number)","display_phone_number":"+1 555-000-1111","verified_name":"Acme Foods","code_verification_status":"\#(verified ? "VERIFIED" : "NOT_VERIFIED")","quality_rating":"GREEN"}]}"#))
        fake.setDefault(paths.register, .json(200, #"{"success":true}"#))
        fake.setDefault(paths.subscribe, .json(200, #"{"success":true}"#))
    }

    static func withSignup(_ extra: [String: String] = [:],
                           _ body: @Sendable (FakeProviderServer, TestApp, any TestClientProtocol, Fixture) async throws -> Void) async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let overrides = ProviderSendTests.overrides(fake, [
            "META_APP_ID": "1234567890", "META_APP_SECRET": "meta-app-secret", "META_CONFIG_ID": "987654321",
            "PYTAKE_ADMIN_URL": "/admin/", "META_OAUTH_REDIRECT_URL": "https://pytake.example/meta/oauth/callback",
        ].merging(extra) { _, new in new })
        try await TestApp.run(overrides: overrides) { app, client in
            try await body(fake, app, client, try await Fixture.make(app))
        }
    }

    static func session(_ client: some TestClientProtocol, _ f: Fixture, as who: Fixture.Who = .adminA, tenant: String? = nil) async throws -> String {
        let response = try await client.call(.post, "/api/v1/tenants/\(tenant ?? f.a)/meta/signup-sessions", token: f.token(who))
        #expect(response.status == .created, "\(response.text)")
        return response.json["state"] as? String ?? ""
    }

    static func complete(_ client: some TestClientProtocol, _ f: Fixture, state: String, as who: Fixture.Who = .adminA,
                         tenant: String? = nil) async throws -> APIResponse {
        try await client.call(.post, "/api/v1/tenants/\(tenant ?? f.a)/meta/embedded-signup", token: f.token(who),
                              json: ["code": "AQBx-code-123", "state": state, "waba_id": waba, "phone_number_id": number, "business_id": "555"])
    }

    @Test func completesEveryStepAndStoresOneProvider() async throws {
        try await Self.withSignup { fake, app, client, f in
            Self.script(fake)
            let session = try await client.call(.post, "/api/v1/tenants/\(f.a)/meta/signup-sessions", token: f.token(.adminA))
            #expect(session.json["app_id"] as? String == "1234567890" && session.json["config_id"] as? String == "987654321")
            #expect(session.json["graph_version"] as? String == "v22.0" && session.json["expires_at"] is String)
            let state = try #require(session.json["state"] as? String)

            let done = try await Self.complete(client, f, state: state)
            #expect(done.status == .ok, "\(done.text)")
            #expect(done.json["provider_type"] as? String == "meta" && done.json["token_masked"] as? String == "••••oken")
            let config = done.json["config"] as? [String: Any]
            #expect(config?["phone_number_id"] as? String == Self.number && config?["waba_id"] as? String == Self.waba)
            #expect(config?["business_id"] as? String == "555" && config?["display_phone_number"] as? String == "+1 555-000-1111")

            let exchange = try #require(fake.requests(to: Self.paths.exchange).first)
            #expect(exchange.method == "GET" && exchange.query["client_id"] == "1234567890")
            #expect(exchange.query["client_secret"] == "meta-app-secret" && exchange.query["code"] == "AQBx-code-123")
            #expect(exchange.query["redirect_uri"] == nil, "the JS SDK flow has no redirect")
            let debug = try #require(fake.requests(to: Self.paths.debug).first)
            #expect(debug.query["input_token"] == Self.token && debug.query["access_token"] == "1234567890|meta-app-secret")
            #expect(fake.requests(to: Self.paths.numbers).first?.headers["authorization"] == "Bearer \(Self.token)")
            let register = try #require(fake.requests(to: Self.paths.register).first)
            #expect(register.json["messaging_product"] as? String == "whatsapp")
            let pin = try #require(register.json["pin"] as? String)
            #expect(pin.count == 6 && pin.allSatisfy(\.isNumber))
            #expect(fake.requests(to: Self.paths.subscribe).first?.method == "POST")

            // The PIN is kept, sealed; the token too.
            let raw = try await app.db.query("SELECT registration_pin, token FROM client_providers", logger: app.services.logger)
                .decode((String, String).self).first(where: { _ in true })
            #expect(raw?.0.hasPrefix("v1:") == true && raw?.0.contains(pin) == false && raw?.1.contains(Self.token) == false)
            #expect(try await app.count("client_providers") == 1)
            #expect(try await app.count("audit_logs WHERE action = 'provider.create' AND details ->> 'via' = 'embedded_signup'") == 1)

            // The state works once.
            let replay = try await Self.complete(client, f, state: state)
            #expect(replay.status == .forbidden && replay.code == "signup_state_invalid")

            // Running it again for the same number updates that provider (new token), registering nothing twice.
            Self.script(fake, verified: true)
            fake.setDefault(Self.paths.exchange, .json(200, #"{"access_token":"EAAG-second-token-9999"}"#))
            let again = try await Self.complete(client, f, state: try await Self.session(client, f))
            #expect(again.status == .ok && again.json["id"] as? String == done.json["id"] as? String, "\(again.text)")
            #expect(again.json["token_masked"] as? String == "••••9999")
            #expect(fake.requests(to: Self.paths.register).count == 1)
            #expect(try await app.count("client_providers") == 1)
        }
    }

    @Test func eachFailingStepIsNamedAndStoresNothing() async throws {
        try await Self.withSignup { fake, app, client, f in
            let failures: [(step: String, path: String, reply: FakeProviderServer.Reply)] = [
                ("exchange_code", Self.paths.exchange, .json(400, #"{"error":{"message":"Invalid verification code format.","type":"OAuthException","code":100}}"#)),
                ("debug_token", Self.paths.debug, .json(200, #"{"data":{"is_valid":true,"granular_scopes":[{"scope":"whatsapp_business_management","target_ids":["1"]}]}}"#)),
                ("phone_numbers", Self.paths.numbers, .json(200, #"{"data":[]}"#)),
                ("register", Self.paths.register, .json(400, #"{"error":{"message":"Two step verification PIN mismatch","code":133005}}"#)),
                ("subscribe", Self.paths.subscribe, .json(403, #"{"error":{"message":"Permissions error","code":200}}"#)),
            ]
            for failure in failures {
                fake.reset()
                Self.script(fake)
                fake.setDefault(failure.path, failure.reply)
                let response = try await Self.complete(client, f, state: try await Self.session(client, f))
                #expect(response.status == .badGateway && response.code == "signup_step_failed", "\(failure.step): \(response.text)")
                let providerError = response.json["provider_error"] as? [String: Any]
                #expect(providerError?["step"] as? String == failure.step, "\(response.text)")
                #expect(try await app.count("client_providers") == 0, "\(failure.step) left a provider")
            }
            // Meta's code is carried through.
            fake.reset()
            Self.script(fake)
            fake.setDefault(Self.paths.register, failures[3].reply)
            let register = try await Self.complete(client, f, state: try await Self.session(client, f))
            #expect((register.json["provider_error"] as? [String: Any])?["code"] as? String == "133005")
        }
    }

    @Test func statesAreBoundToTenantAndUserAndRolesAreChecked() async throws {
        try await Self.withSignup { fake, app, client, f in
            Self.script(fake)
            let stateA = try await Self.session(client, f)
            // Another tenant's path, another user, a tampered state: refused, nothing called.
            let foreign = try await Self.complete(client, f, state: stateA, as: .platformAdmin, tenant: f.b)
            #expect(foreign.status == .forbidden && foreign.code == "signup_state_invalid")
            let otherUser = try await Self.complete(client, f, state: stateA, as: .platformAdmin)
            #expect(otherUser.status == .forbidden && otherUser.code == "signup_state_invalid")
            var tampered = Array(stateA)
            tampered[tampered.count - 1] = tampered.last == "0" ? "1" : "0"
            #expect(try await Self.complete(client, f, state: String(tampered)).code == "signup_state_invalid")
            #expect(fake.requests.isEmpty)
            // The untouched state still works for its own user.
            #expect(try await Self.complete(client, f, state: stateA).status == .ok)

            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/meta/signup-sessions", token: f.token(.agentA)).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/meta/signup-sessions", token: f.token(.adminB)).status == .notFound)

            // A number already connected to another tenant stays there.
            let stateB = try await Self.session(client, f, as: .adminB, tenant: f.b)
            let taken = try await Self.complete(client, f, state: stateB, as: .adminB, tenant: f.b)
            #expect(taken.status == .conflict && taken.code == "phone_number_taken", "\(taken.text)")
        }
    }

    @Test func redirectFlowFindsTheWABAAndReturnsToTheAdminPage() async throws {
        try await Self.withSignup { fake, app, client, f in
            Self.script(fake)
            let session = try await client.call(.post, "/api/v1/tenants/\(f.a)/meta/signup-sessions", token: f.token(.adminA))
            let setCookie = try #require(session.headers[.setCookie])
            #expect(setCookie.contains("HttpOnly") && setCookie.contains("SameSite=Lax") && setCookie.contains("Path=/meta/oauth/callback"))
            let cookie: HTTPFields = [.cookie: String(setCookie.split(separator: ";")[0])]
            let state = try #require(session.json["state"] as? String)
            let encoded = state.addingPercentEncoding(withAllowedCharacters: .alphanumerics)!
            // A leaked state used in another browser (no cookie, or another one) does nothing.
            let elsewhere = try await client.call(.get, "/meta/oauth/callback?code=AQBx-code-123&state=\(encoded)")
            #expect(elsewhere.headers[.location]?.contains("signup=failed&step=state&code=signup_state_invalid") == true)
            let otherCookie = try await client.call(.get, "/meta/oauth/callback?code=AQBx-code-123&state=\(encoded)",
                                                    headers: [.cookie: "pytake_signup=someone-elses"])
            #expect(otherCookie.headers[.location]?.contains("signup=failed") == true)
            #expect(fake.requests.isEmpty)
            let done = try await client.call(.get, "/meta/oauth/callback?code=AQBx-code-123&state=\(encoded)", headers: cookie)
            #expect(done.status == .found, "\(done.text)")
            let location = try #require(done.headers[.location])
            #expect(location.hasPrefix("/admin/#/tenants/\(f.a)/providers?signup=ok&provider="), "\(location)")
            #expect(fake.requests(to: Self.paths.exchange).first?.query["redirect_uri"] == "https://pytake.example/meta/oauth/callback")
            #expect(try await app.count("client_providers WHERE config ->> 'waba_id' = '\(Self.waba)'") == 1)

            let replay = try await client.call(.get, "/meta/oauth/callback?code=AQBx-code-123&state=\(encoded)", headers: cookie)
            #expect(replay.headers[.location]?.contains("signup=failed&step=state&code=signup_state_invalid") == true, "\(replay.headers)")
            let denied = try await client.call(.get, "/meta/oauth/callback?error=access_denied&error_description=User%20cancelled")
            #expect(denied.status == .found && denied.headers[.location] == "/admin/#/?signup=failed&step=authorize&code=access_denied")
        }
    }

    @Test func withoutMetaConfigurationSignupSaysSo() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let response = try await client.call(.post, "/api/v1/tenants/\(f.a)/meta/signup-sessions", token: f.token(.adminA))
            #expect(response.status == .serviceUnavailable && response.code == "meta_not_configured")
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

@Suite struct AuthTests {
    func login(_ client: some TestClientProtocol, _ email: String, _ password: String = TestApp.password) async throws -> APIResponse {
        try await client.call(.post, "/api/v1/auth/login", json: ["email": email, "password": password])
    }

    @Test func signInRefreshRotationAndReuseRevokesTheFamily() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("Agent@Acme.test", role: .agent, tenant: tenant.id)

            let first = try await login(client, "  agent@ACME.test ")
            #expect(first.status == .ok)
            #expect(first.json["token_type"] as? String == "Bearer")
            #expect(first.json["expires_in"] as? Int == 900)
            let access = try #require(first.json["access_token"] as? String)
            let refresh1 = try #require(first.json["refresh_token"] as? String)

            let me = try await client.call(.get, "/api/v1/me", token: access)
            #expect(me.json["email"] as? String == "agent@acme.test")
            #expect(me.json["role"] as? String == "agent")
            #expect(me.json["tenant_id"] as? String == tenant.id.uuidString.lowercased())

            let second = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh1])
            #expect(second.status == .ok)
            let refresh2 = try #require(second.json["refresh_token"] as? String)
            #expect(refresh2 != refresh1)

            // The old token is spent; presenting it again revokes every token of the family...
            let reuse = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh1])
            #expect(reuse.status == .unauthorized)
            #expect(reuse.code == "refresh_token_reused")
            // ...including the one issued by the legitimate rotation.
            let afterReuse = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh2])
            #expect(afterReuse.status == .unauthorized)
            #expect(afterReuse.code == "refresh_token_invalid")

            // A separate sign-in is a separate family and still works.
            let other = try await login(client, "agent@acme.test")
            let otherRefresh = try #require(other.json["refresh_token"] as? String)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": otherRefresh]).status == .ok)
            #expect(try await app.count("audit_logs WHERE action = 'auth.login'") == 2)
            #expect(try await app.count("audit_logs WHERE action = 'auth.refresh'") == 2, "one per successful rotation")
        }
    }

    @Test func concurrentRefreshesWithOneTokenLetAtMostOneThroughAndRevokeTheFamily() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            for _ in 0..<5 {
                try await raceTwoRefreshes(app, client)
            }
        }
    }

    func raceTwoRefreshes(_ app: TestApp, _ client: some TestClientProtocol) async throws {
            let refresh = try #require(try await login(client, "agent@acme.test").json["refresh_token"] as? String)
            let responses = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<2 {
                    group.addTask { try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh]) }
                }
                return try await group.reduce(into: [APIResponse]()) { $0.append($1) }
            }
            let winners = responses.filter { $0.status == .ok }
            #expect(winners.count <= 1)
            #expect(responses.contains { $0.code == "refresh_token_reused" })
            for winner in winners {
                let next = try #require(winner.json["refresh_token"] as? String)
                #expect(try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": next]).status == .unauthorized)
            }
            #expect(try await app.count("refresh_tokens WHERE revoked_at IS NULL") == 0)
    }

    @Test func tokensCannotBeSwapped() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            let pair = try await login(client, "agent@acme.test").json
            let access = try #require(pair["access_token"] as? String)
            let refresh = try #require(pair["refresh_token"] as? String)

            let refreshAsBearer = try await client.call(.get, "/api/v1/me", token: refresh)
            #expect(refreshAsBearer.status == .unauthorized)
            #expect(refreshAsBearer.code == "invalid_token")
            let accessAsRefresh = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": access])
            #expect(accessAsRefresh.status == .unauthorized)
            #expect(accessAsRefresh.code == "refresh_token_invalid")
            let garbage = try await client.call(.get, "/api/v1/me", token: "not.a.jwt")
            #expect(garbage.code == "invalid_token")
            let basic = try await client.call(.get, "/api/v1/me", headers: [.authorization: "Basic YTpi"])
            #expect(basic.code == "invalid_token")
        }
    }

    @Test func wrongPasswordAndUnknownEmailLookTheSame() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            let wrong = try await login(client, "agent@acme.test", "not the password at all")
            let unknown = try await login(client, "nobody@acme.test", "not the password at all")
            #expect(wrong.status == .unauthorized)
            #expect(unknown.status == .unauthorized)
            #expect(wrong.code == "invalid_credentials")
            #expect(unknown.code == "invalid_credentials")
            #expect(wrong.json["detail"] as? String == unknown.json["detail"] as? String)
        }
    }

    @Test func suspendedAndDeletedTenantsCannotSignInOrRefresh() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let refresh = try #require(try await login(client, "agent@a.test").json["refresh_token"] as? String)
            let suspend = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: f.token(.platformAdmin), json: ["status": "suspended"])
            #expect(suspend.status == .ok)

            let signIn = try await login(client, "agent@a.test")
            #expect(signIn.status == .unauthorized)
            #expect(signIn.code == "tenant_inactive")
            let refreshed = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh])
            #expect(refreshed.status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/me", token: f.token(.viewerA)).status == .unauthorized, "signed out on suspension")

            #expect(try await client.call(.delete, "/api/v1/tenants/\(f.b)", token: f.token(.platformAdmin)).status == .noContent)
            #expect(try await login(client, "admin@b.test").code == "tenant_inactive")
            // The platform admin is in no tenant and is unaffected.
            #expect(try await login(client, "root@pytake.test").status == .ok)
        }
    }

    @Test func logoutRevokesTheSessionOrAllSessions() async throws {
        try await TestApp.run { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            let one = try await login(client, "agent@acme.test").json
            let two = try await login(client, "agent@acme.test").json
            let access = try #require(one["access_token"] as? String)

            let single = try await client.call(.post, "/api/v1/auth/logout", token: access, json: ["refresh_token": one["refresh_token"]!])
            #expect(single.status == .noContent)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": one["refresh_token"]!]).status == .unauthorized)
            let twoRefreshed = try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": two["refresh_token"]!])
            #expect(twoRefreshed.status == .ok)

            // Ending a session ends its access token too, before it expires.
            let ended = try await client.call(.get, "/api/v1/me", token: access)
            #expect(ended.status == .unauthorized)
            #expect(ended.code == "invalid_token")

            let twoAccess = try #require(twoRefreshed.json["access_token"] as? String)
            #expect(try await client.call(.post, "/api/v1/auth/logout", token: twoAccess).status == .noContent)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": twoRefreshed.json["refresh_token"]!]).status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/me", token: twoAccess).status == .unauthorized)
            #expect(try await client.call(.post, "/api/v1/auth/logout").status == .unauthorized)
        }
    }

    @Test func passwordOrRoleChangeSignsTheUserOutEverywhere() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let refresh = try #require(try await login(client, "agent@a.test").json["refresh_token"] as? String)
            let change = try await client.call(.patch, "/api/v1/tenants/\(f.a)/users/\(f.id(.agentA))", token: f.token(.adminA),
                                               json: ["password": "a brand new passphrase"])
            #expect(change.status == .ok)
            #expect(try await client.call(.post, "/api/v1/auth/refresh", json: ["refresh_token": refresh]).status == .unauthorized)
            #expect(try await client.call(.get, "/api/v1/me", token: f.token(.agentA)).status == .unauthorized, "access token ended at once")
            let promoted = try await client.call(.patch, "/api/v1/tenants/\(f.a)/users/\(f.id(.viewerA))", token: f.token(.adminA),
                                                 json: ["role": "agent"])
            #expect(promoted.json["role"] as? String == "agent")
            #expect(try await client.call(.get, "/api/v1/me", token: f.token(.viewerA)).status == .unauthorized, "old role's token ended")
            #expect(try await login(client, "agent@a.test").status == .unauthorized)
            #expect(try await login(client, "agent@a.test", "a brand new passphrase").status == .ok)
        }
    }

    @Test func failedSignInsAreThrottledPerAccount() async throws {
        try await TestApp.run(overrides: ["LOGIN_MAX_FAILURES_PER_ACCOUNT": "3", "LOGIN_THROTTLE_WINDOW_SECONDS": "600"]) { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            try await app.createUser("other@acme.test", role: .agent, tenant: tenant.id)
            for _ in 0..<3 {
                #expect(try await login(client, "agent@acme.test", "wrong password guess").status == .unauthorized)
            }
            // Locked now, even with the right password.
            let locked = try await login(client, "agent@acme.test")
            #expect(locked.status == .tooManyRequests)
            #expect(locked.code == "login_throttled")
            let retryAfter = try #require(locked.headers[.retryAfter].flatMap(Int.init))
            #expect((1...600).contains(retryAfter))
            // Another account from the same address is not locked by this one's failures.
            #expect(try await login(client, "other@acme.test").status == .ok)
        }
    }

    @Test func parallelGuessesCannotSlipUnderTheLimit() async throws {
        try await TestApp.run(overrides: ["LOGIN_MAX_FAILURES_PER_ACCOUNT": "3"]) { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            let statuses = try await withThrowingTaskGroup(of: Int.self) { group in
                for i in 0..<12 {
                    group.addTask { try await login(client, "agent@acme.test", "wrong guess number \(i)").status.code }
                }
                return try await group.reduce(into: [Int]()) { $0.append($1) }
            }
            #expect(statuses.filter { $0 == 401 }.count <= 3, "\(statuses)")
            #expect(statuses.filter { $0 == 429 }.count >= 9)
        }
    }

    @Test func failedSignInsAreThrottledPerAddress() async throws {
        // Live, so the address is the real peer address of the connection.
        try await TestApp.run(.live, overrides: ["LOGIN_MAX_FAILURES_PER_IP": "4"]) { app, client in
            let tenant = try await app.createTenant(slug: "acme")
            try await app.createUser("agent@acme.test", role: .agent, tenant: tenant.id)
            for i in 0..<4 {
                #expect(try await login(client, "guess\(i)@acme.test", "wrong password guess").status == .unauthorized)
            }
            let blocked = try await login(client, "agent@acme.test")
            #expect(blocked.status == .tooManyRequests)
            #expect(blocked.headers[.retryAfter] != nil)
            #expect(try await app.count("login_throttle WHERE key = 'ip:127.0.0.1'") == 1)
        }
    }
}

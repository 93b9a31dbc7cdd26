import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Every endpoint, every role, own tenant and the other tenant: the status each must get.
@Suite struct RBACTests {
    struct Case: Sendable {
        var name: String
        var method: HTTPRequest.Method
        /// Builds the path (and any target it needs) for one attempt.
        var path: @Sendable (Fixture) async throws -> String
        var body: (@Sendable () -> [String: Any])?
        var expect: [Fixture.Who: HTTPResponse.Status]
    }

    static func freshUser(_ f: Fixture) async throws -> String {
        try await f.app.createUser(uniqueEmail("target"), role: .agent, tenant: f.tenantA.id).id.uuidString.lowercased()
    }

    static func freshProvider(_ f: Fixture) async throws -> String {
        try await f.app.services.providers.create(
            tenantId: f.tenantA.id,
            ProviderInput(type: .uazapi, name: "p-\(UUID().uuidString.prefix(8))", apiURL: "https://uazapi.example", token: "instance-token-0001"),
            identity: nil, actor: .cli
        ).id.uuidString.lowercased()
    }

    static let cases: [Case] = [
        Case(name: "me", method: .get, path: { _ in "/api/v1/me" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .ok]),
        Case(name: "list tenants", method: .get, path: { _ in "/api/v1/tenants" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .ok]),
        Case(name: "create tenant", method: .post, path: { _ in "/api/v1/tenants" },
             body: { ["name": "New", "slug": "new-\(UUID().uuidString.prefix(6).lowercased())"] },
             expect: [.platformAdmin: .created, .adminA: .forbidden, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .forbidden]),
        Case(name: "get tenant", method: .get, path: { f in "/api/v1/tenants/\(f.a)" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "update tenant", method: .patch, path: { f in "/api/v1/tenants/\(f.a)" }, body: { ["name": "Renamed"] },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "set a tenant's status (platform_admin only, even to its current value)", method: .patch, path: { f in "/api/v1/tenants/\(f.b)" }, body: { ["status": "active"] },
             expect: [.platformAdmin: .ok, .adminA: .notFound, .agentA: .notFound, .viewerA: .notFound, .adminB: .forbidden]),
        Case(name: "list users", method: .get, path: { f in "/api/v1/tenants/\(f.a)/users" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "create user", method: .post, path: { f in "/api/v1/tenants/\(f.a)/users" },
             body: { ["email": uniqueEmail(), "password": "a long enough password", "role": "agent"] },
             expect: [.platformAdmin: .created, .adminA: .created, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "get user", method: .get, path: { f in "/api/v1/tenants/\(f.a)/users/\(f.id(.agentA))" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "get user through the wrong tenant", method: .get, path: { f in "/api/v1/tenants/\(f.b)/users/\(f.id(.agentA))" },
             expect: [.platformAdmin: .notFound, .adminA: .notFound, .agentA: .notFound, .viewerA: .notFound, .adminB: .notFound]),
        Case(name: "update user", method: .patch, path: { f in "/api/v1/tenants/\(f.a)/users/\(try await freshUser(f))" },
             body: { ["role": "viewer"] },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "delete user", method: .delete, path: { f in "/api/v1/tenants/\(f.a)/users/\(try await freshUser(f))" },
             expect: [.platformAdmin: .noContent, .adminA: .noContent, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "audit log", method: .get, path: { f in "/api/v1/tenants/\(f.a)/audit-log" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "list providers", method: .get, path: { f in "/api/v1/tenants/\(f.a)/providers" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "create provider", method: .post, path: { f in "/api/v1/tenants/\(f.a)/providers" },
             body: { ["provider_type": "uazapi", "name": "p-\(UUID().uuidString.prefix(8))", "api_url": "https://uazapi.example", "token": "instance-token-0001"] },
             expect: [.platformAdmin: .created, .adminA: .created, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "get provider", method: .get, path: { f in "/api/v1/tenants/\(f.a)/providers/\(try await freshProvider(f))" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "get provider through the wrong tenant", method: .get,
             path: { f in "/api/v1/tenants/\(f.b)/providers/\(try await freshProvider(f))" },
             expect: [.platformAdmin: .notFound, .adminA: .notFound, .agentA: .notFound, .viewerA: .notFound, .adminB: .notFound]),
        Case(name: "update provider", method: .patch, path: { f in "/api/v1/tenants/\(f.a)/providers/\(try await freshProvider(f))" },
             body: { ["priority": 7] },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "update provider through the wrong tenant", method: .patch,
             path: { f in "/api/v1/tenants/\(f.b)/providers/\(try await freshProvider(f))" }, body: { ["priority": 7] },
             expect: [.platformAdmin: .notFound, .adminB: .notFound]),
        Case(name: "delete provider", method: .delete, path: { f in "/api/v1/tenants/\(f.a)/providers/\(try await freshProvider(f))" },
             expect: [.platformAdmin: .noContent, .adminA: .noContent, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "test message (admins: see ProviderSendTests)", method: .post,
             path: { f in "/api/v1/tenants/\(f.a)/providers/\(try await freshProvider(f))/test-message" },
             body: { ["to": "5511912345678", "text": "hi"] },
             expect: [.agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "resolve credentials", method: .get, path: { f in
                _ = try await freshProvider(f)
                return "/api/v1/tenants/\(f.a)/credentials/uazapi"
             },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "list conversations", method: .get, path: { f in "/api/v1/tenants/\(f.a)/conversations" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "read an unknown conversation", method: .get, path: { f in "/api/v1/tenants/\(f.a)/conversations/\(UUID())" },
             expect: [.platformAdmin: .notFound, .adminA: .notFound, .agentA: .notFound, .viewerA: .notFound, .adminB: .notFound]),
        Case(name: "close (viewers only read)", method: .post, path: { f in "/api/v1/tenants/\(f.a)/conversations/\(UUID())/close" },
             expect: [.viewerA: .forbidden, .adminB: .notFound, .agentA: .notFound]),
        Case(name: "erase a customer (admins only; see ConversationTests)", method: .post,
             path: { f in "/api/v1/tenants/\(f.a)/customers/\(UUID())/erase" },
             expect: [.platformAdmin: .notFound, .adminA: .notFound, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "start Embedded Signup (admins: see EmbeddedSignupTests)", method: .post,
             path: { f in "/api/v1/tenants/\(f.a)/meta/signup-sessions" },
             expect: [.agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound]),
        Case(name: "daily metrics", method: .get, path: { f in "/api/v1/tenants/\(f.a)/metrics/daily?from=2026-01-01&to=2026-01-31" },
             expect: [.platformAdmin: .ok, .adminA: .ok, .agentA: .ok, .viewerA: .ok, .adminB: .notFound]),
        Case(name: "metrics overview", method: .get, path: { _ in "/api/v1/metrics/overview?from=2026-01-01&to=2026-01-31" },
             expect: [.platformAdmin: .ok, .adminA: .forbidden, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .forbidden]),
        Case(name: "job runs", method: .get, path: { _ in "/api/v1/jobs/runs" },
             expect: [.platformAdmin: .ok, .adminA: .forbidden, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .forbidden]),
        Case(name: "delete tenant", method: .delete, path: { f in "/api/v1/tenants/\(f.a)" },
             expect: [.adminA: .forbidden, .agentA: .forbidden, .viewerA: .forbidden, .adminB: .notFound, .platformAdmin: .noContent]),
    ]

    @Test func everyEndpointForEveryRole() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            // platform admin last, so a destructive success does not hide the others' answers.
            let order: [Fixture.Who] = [.adminA, .agentA, .viewerA, .adminB, .platformAdmin]
            for testCase in Self.cases {
                for who in order {
                    guard let expected = testCase.expect[who] else { continue }
                    let response = try await client.call(testCase.method, try await testCase.path(f), token: f.token(who), json: testCase.body?())
                    #expect(response.status == expected, "\(testCase.name) as \(who): \(response.status) \(response.text)")
                    if response.status.code >= 400 {
                        #expect(response.headers[.contentType] == "application/problem+json", "\(testCase.name) as \(who)")
                    }
                }
                // And without any token at all.
                let anonymous = try await client.call(testCase.method, try await testCase.path(f), json: testCase.body?())
                #expect(anonymous.status == .unauthorized, "\(testCase.name) anonymously")
                #expect(anonymous.code == "unauthorized")
            }
        }
    }

    @Test func listsShowOnlyWhatTheCallerMaySee() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let asAdmin = try await client.call(.get, "/api/v1/tenants", token: f.token(.platformAdmin))
            #expect(Set(asAdmin.items.compactMap { $0["slug"] as? String }) == ["tenant-a", "tenant-b"])
            let asB = try await client.call(.get, "/api/v1/tenants", token: f.token(.adminB))
            #expect(asB.items.compactMap { $0["slug"] as? String } == ["tenant-b"])
            let usersA = try await client.call(.get, "/api/v1/tenants/\(f.a)/users", token: f.token(.viewerA))
            #expect(Set(usersA.items.compactMap { $0["email"] as? String }) == ["admin@a.test", "agent@a.test", "viewer@a.test"])
            let deletedForTenantAdmin = try await client.call(.get, "/api/v1/tenants?status=deleted", token: f.token(.adminA))
            #expect(deletedForTenantAdmin.status == .forbidden)
        }
    }

    @Test func tenantAdminCannotReachUsersOfAnotherTenantByGuessingIDs() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            for method in [HTTPRequest.Method.get, .patch, .delete] {
                let response = try await client.call(method, "/api/v1/tenants/\(f.a)/users/\(f.id(.adminB))", token: f.token(.adminA),
                                                     json: method == .patch ? ["role": "viewer"] : nil)
                #expect(response.status == .notFound, "\(method)")
            }
            let platform = try await client.call(.get, "/api/v1/tenants/\(f.a)/users/\(f.id(.platformAdmin))", token: f.token(.adminA))
            #expect(platform.status == .notFound)
            let unchanged = try await app.services.users.get(tenantId: f.tenantB.id, userId: f.users[.adminB]!.id,
                                                             identity: Identity(userId: UUID(), email: "x", role: .platformAdmin, tenantId: nil))
            #expect(unchanged.role == .tenantAdmin)
        }
    }

    @Test func nobodyCreatesAPlatformAdminThroughTheAPI() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            for who in [Fixture.Who.platformAdmin, .adminA] {
                let create = try await client.call(.post, "/api/v1/tenants/\(f.a)/users", token: f.token(who),
                                                   json: ["email": uniqueEmail(), "password": "a long enough password", "role": "platform_admin"])
                #expect(create.status == .badRequest, "\(who): \(create.text)")
                let promote = try await client.call(.patch, "/api/v1/tenants/\(f.a)/users/\(f.id(.agentA))", token: f.token(who),
                                                    json: ["role": "platform_admin"])
                #expect(promote.status == .badRequest, "\(who): \(promote.text)")
            }
            #expect(try await app.count("users WHERE role = 'platform_admin'") == 1)
        }
    }
}

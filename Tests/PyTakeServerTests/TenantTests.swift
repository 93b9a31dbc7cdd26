import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

@Suite struct TenantTests {
    @Test func createReadAndUpdateWithWriteOnlyToken() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let root = f.token(.platformAdmin)
            let created = try await client.call(.post, "/api/v1/tenants", token: root, json: [
                "name": "Padaria Pão Quente", "slug": "padaria", "timezone": "America/Sao_Paulo",
                "tools_config": ["whatsapp": ["url": "https://legacy.example"], "debounce_seconds": 3],
                "api_url": "https://uazapi.example/instance/1", "token": "tok_live_abcdefgh1234", "whatsapp_provider": "uazapi",
            ])
            #expect(created.status == .created)
            #expect(created.json["token"] == nil)
            #expect(created.json["token_masked"] as? String == "••••1234")
            #expect(created.json["timezone"] as? String == "America/Sao_Paulo")
            #expect(created.json["status"] as? String == "active")
            #expect((created.json["tools_config"] as? [String: Any])?["debounce_seconds"] as? Int == 3)
            #expect(!created.text.contains("tok_live_abcdefgh1234"))
            let id = try #require(created.json["id"] as? String)
            // At rest the token is sealed (AES-GCM), never the clear value.
            let raw = try await app.db.query("SELECT token FROM clients WHERE id = \(UUID(uuidString: id)!)", logger: app.services.logger)
                .decode(String.self).first(where: { _ in true })
            #expect(raw?.hasPrefix("v1:") == true)
            #expect(raw?.contains("tok_live") == false)

            let defaults = try await client.call(.post, "/api/v1/tenants", token: root, json: ["name": "Plain", "slug": "plain"])
            #expect(defaults.json["timezone"] as? String == "UTC")
            #expect(defaults.json["token_masked"] is NSNull || defaults.json["token_masked"] == nil)

            let patched = try await client.call(.patch, "/api/v1/tenants/\(id)", token: root,
                                                json: ["timezone": "Europe/Lisbon", "clear": ["token", "whatsapp_provider"]])
            #expect(patched.status == .ok)
            #expect(patched.json["timezone"] as? String == "Europe/Lisbon")
            #expect(patched.json["token_masked"] == nil || patched.json["token_masked"] is NSNull)
            #expect(patched.json["api_url"] as? String == "https://uazapi.example/instance/1")
            #expect(patched.json["name"] as? String == "Padaria Pão Quente")

            let conflict = try await client.call(.post, "/api/v1/tenants", token: root, json: ["name": "Again", "slug": "padaria"])
            #expect(conflict.status == .conflict)
            #expect(conflict.code == "slug_taken")
        }
    }

    @Test func tenantAdminUpdatesItsTenantButNotItsStatus() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let ok = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: f.token(.adminA), json: ["timezone": "America/Manaus"])
            #expect(ok.status == .ok)
            let status = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: f.token(.adminA), json: ["status": "suspended"])
            #expect(status.status == .forbidden)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)", token: f.token(.adminA)).json["status"] as? String == "active")
        }
    }

    @Test func paginationVisitsEveryTenantOnceAndSearchFilters() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            for i in 0..<7 { _ = try await app.createTenant(slug: "shop-\(i)", name: "Shop \(i)") }
            var seen: [String] = []
            var cursor: String?
            var pages = 0
            repeat {
                let uri = "/api/v1/tenants?limit=3" + (cursor.map { "&cursor=\($0)" } ?? "")
                let page = try await client.call(.get, uri, token: f.token(.platformAdmin))
                #expect(page.status == .ok)
                seen += page.items.compactMap { $0["slug"] as? String }
                cursor = page.json["next_cursor"] as? String
                pages += 1
            } while cursor != nil && pages < 10
            #expect(seen.count == 9)
            #expect(Set(seen).count == 9)
            #expect(pages == 3)

            let search = try await client.call(.get, "/api/v1/tenants?q=SHOP-1", token: f.token(.platformAdmin))
            #expect(search.items.compactMap { $0["slug"] as? String } == ["shop-1"])
            let wildcard = try await client.call(.get, "/api/v1/tenants?q=%25", token: f.token(.platformAdmin))
            #expect(wildcard.items.isEmpty, "% is searched literally")
        }
    }

    @Test func softDeleteKeepsDataHidesTheTenantAndCanBeUndone() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let root = f.token(.platformAdmin)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(f.a)", token: root).status == .noContent)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(f.a)", token: root).status == .notFound)
            // Gone from the API, for platform admins too: the tenant and everything under it.
            for path in ["", "/users", "/users/\(f.id(.agentA))", "/providers", "/flows", "/conversations", "/audit-log",
                         "/credentials/meta", "/metrics/daily?from=2026-01-01&to=2026-01-02"] {
                #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)\(path)", token: root).status == .notFound, "\(path)")
            }
            #expect(try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: root, json: ["status": "active"]).status == .notFound)

            let list = try await client.call(.get, "/api/v1/tenants", token: root)
            #expect(list.items.compactMap { $0["slug"] as? String } == ["tenant-b"])
            let deleted = try await client.call(.get, "/api/v1/tenants?status=deleted", token: root)
            #expect(deleted.items.compactMap { $0["slug"] as? String } == ["tenant-a"])
            // Its users were signed out; a session started anyway cannot see the tenant.
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)", token: f.token(.adminA)).status == .unauthorized)
            let lateSession = try await app.token(for: f.users[.adminA]!)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)", token: lateSession).status == .notFound)
            #expect(try await app.count("users WHERE tenant_id = '\(f.a)'") == 3, "data kept")

            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/restore", token: f.token(.adminB)).status == .notFound)
            let restored = try await client.call(.post, "/api/v1/tenants/\(f.a)/restore", token: root)
            #expect(restored.status == .ok && restored.json["status"] as? String == "active", "\(restored.text)")
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/restore", token: root).json["status"] as? String == "active",
                    "restoring a live tenant changes nothing")
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)", token: lateSession).status == .ok)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/users", token: root).items.count == 3)
        }
    }

    @Test func usersCannotDeleteThemselvesAndEmailsAreCaseInsensitive() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let me = try await client.call(.delete, "/api/v1/tenants/\(f.a)/users/\(f.id(.adminA))", token: f.token(.adminA))
            #expect(me.status == .conflict)
            #expect(me.code == "cannot_delete_self")
            let dup = try await client.call(.post, "/api/v1/tenants/\(f.a)/users", token: f.token(.adminA),
                                            json: ["email": "AGENT@a.test", "password": "a long enough password", "role": "viewer"])
            #expect(dup.code == "email_taken")
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/users", token: f.token(.adminA),
                                                json: ["email": "New.Person@A.test", "password": "a long enough password", "role": "viewer"])
            #expect(created.json["email"] as? String == "new.person@a.test")
            #expect(created.json["password"] == nil && !created.text.contains("argon2"))
        }
    }

    @Test func auditLogRecordsEveryChangeNewestFirstWithoutSecrets() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let admin = f.token(.adminA)
            let requestId = HTTPField.Name("X-Request-Id")!
            _ = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: admin, json: ["token": "secret-token-value-9999"],
                                      headers: [requestId: "req-patch-1"])
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/users", token: admin,
                                                json: ["email": "new@a.test", "password": "a secret password", "role": "agent"])
            let newId = try #require(created.json["id"] as? String)
            _ = try await client.call(.patch, "/api/v1/tenants/\(f.a)/users/\(newId)", token: admin, json: ["password": "another secret password"])
            _ = try await client.call(.delete, "/api/v1/tenants/\(f.a)/users/\(newId)", token: admin)
            _ = try await client.call(.post, "/api/v1/auth/login", json: ["email": "agent@a.test", "password": TestApp.password])

            let log = try await client.call(.get, "/api/v1/tenants/\(f.a)/audit-log?limit=5", token: admin)
            #expect(log.status == .ok)
            let actions = log.items.compactMap { $0["action"] as? String }
            #expect(actions == ["auth.login", "user.delete", "user.update", "user.create", "tenant.update"])
            let patch = try #require(log.items.last)
            #expect(patch["request_id"] as? String == "req-patch-1")
            #expect(patch["actor_email"] as? String == "admin@a.test")
            #expect((patch["details"] as? [String: Any])?["fields"] as? String == "token")
            #expect(!log.text.contains("secret"), "no secret in the log: \(log.text)")

            let next = try #require(log.json["next_cursor"] as? String)
            let older = try await client.call(.get, "/api/v1/tenants/\(f.a)/audit-log?limit=50&cursor=\(next)", token: admin)
            let olderActions = older.items.compactMap { $0["action"] as? String }
            #expect(olderActions.filter { $0 == "user.create" }.count == 3, "the three seeded users")
            #expect(olderActions.filter { $0 == "auth.login" }.count == 3, "their sessions")
            #expect(olderActions.last == "tenant.create")
            #expect(older.items.count == 7)
            let fromB = try await client.call(.get, "/api/v1/tenants/\(f.b)/audit-log", token: f.token(.adminB))
            #expect(!fromB.items.contains { ($0["tenant_id"] as? String) == f.a })
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

@Suite struct ProviderTests {
    static func raw(_ app: TestApp, _ sql: String) async throws -> [String?] {
        var values: [String?] = []
        for try await value in try await app.db.query(PostgresQuery(unsafeSQL: sql), logger: app.services.logger).decode(String?.self) {
            values.append(value)
        }
        return values
    }

    @Test func metaProviderKeepsSecretsSealedAndMasked() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "meta", "name": "Main number", "priority": 10, "token": "EAAG-secret-token-abcd1234",
                "config": ["phone_number_id": "106540352242922", "display_phone_number": "+55 11 91234-5678",
                           "waba_id": "102290129340398", "app_secret": "app-secret-value-0000wxyz"],
            ])
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["token_masked"] as? String == "••••1234")
            let config = try #require(created.json["config"] as? [String: Any])
            #expect(config["app_secret_masked"] as? String == "••••wxyz")
            #expect(config["phone_number_id"] as? String == "106540352242922")
            #expect(config["app_secret"] == nil)
            #expect(created.json["api_url"] is NSNull || created.json["api_url"] == nil)
            #expect((created.json["breaker"] as? [String: Any])?["state"] as? String == "closed")
            #expect(!created.text.contains("EAAG-secret") && !created.text.contains("app-secret-value"))
            let id = try #require(created.json["id"] as? String)

            // At rest: sealed values only (read the raw columns).
            let rawToken = try await Self.raw(app, "SELECT token FROM client_providers WHERE id = '\(id)'").first ?? nil
            let rawSecret = try await Self.raw(app, "SELECT app_secret FROM client_providers WHERE id = '\(id)'").first ?? nil
            let rawConfig = try await Self.raw(app, "SELECT config::text FROM client_providers WHERE id = '\(id)'").first ?? nil
            #expect(rawToken?.hasPrefix("v1:") == true && rawToken?.contains("EAAG") == false)
            #expect(rawSecret?.hasPrefix("v1:") == true && rawSecret?.contains("app-secret") == false)
            #expect(rawConfig?.contains("app-secret") == false)

            // Agents and viewers read providers without even the masked secrets.
            for who in [Fixture.Who.agentA, .viewerA] {
                let read = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers/\(id)", token: f.token(who))
                #expect(read.status == .ok)
                #expect(read.json["token_masked"] is NSNull || read.json["token_masked"] == nil, "\(who)")
                #expect((read.json["config"] as? [String: Any])?["app_secret_masked"] is NSNull
                        || (read.json["config"] as? [String: Any])?["app_secret_masked"] == nil)
            }

            // A second instance of the same type is fine; filters work.
            let second = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "meta", "name": "Support number", "token": "EAAG-second-token-5678", "active": false,
                "config": ["phone_number_id": "106540352242999"],
            ])
            #expect(second.status == .created)
            _ = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "lancepilot", "name": "Campaigns", "token": "lp-token-000011112222", "config": ["workspace_id": "ws-1"],
            ])
            let metas = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers?provider_type=meta", token: f.token(.viewerA))
            #expect(metas.items.compactMap { $0["name"] as? String } == ["Main number", "Support number"])
            let activeMetas = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers?provider_type=meta&active=true", token: f.token(.viewerA))
            #expect(activeMetas.items.compactMap { $0["name"] as? String } == ["Main number"])
            let page = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers?limit=2", token: f.token(.adminA))
            #expect(page.items.count == 2)
            let cursor = try #require(page.json["next_cursor"] as? String)
            let rest = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers?limit=2&cursor=\(cursor)", token: f.token(.adminA))
            #expect(rest.items.compactMap { $0["name"] as? String } == ["Campaigns"])
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.b)/providers", token: f.token(.adminB)).items.isEmpty)
        }
    }

    @Test func configIsTypedPerProviderAndBadInputStoresNothing() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let path = "/api/v1/tenants/\(f.a)/providers"
            func fields(_ body: [String: Any]) async throws -> [String] {
                let response = try await client.call(.post, path, token: f.token(.adminA), json: body)
                #expect(response.status == .unprocessableContent, "\(response.text)")
                #expect(response.code == "validation_failed")
                return ((response.json["errors"] as? [[String: Any]]) ?? []).compactMap { $0["field"] as? String }
            }
            #expect(try await fields(["provider_type": "meta", "name": "m", "token": "t-000000000000"]) == ["config.phone_number_id"])
            #expect(try await fields(["provider_type": "meta", "name": "m", "token": "t-000000000000",
                                      "config": ["phone_number_id": "12ab"]]) == ["config.phone_number_id"])
            #expect(try await fields(["provider_type": "uazapi", "name": "u", "token": "t-000000000000"]) == ["api_url"])
            #expect(try await fields(["provider_type": "lancepilot", "name": "l", "token": "t-000000000000"]) == ["config.workspace_id"])
            #expect(try await fields(["provider_type": "uazapi", "name": "u", "token": "t-000000000000", "api_url": "https://u.example",
                                      "config": ["workspace_id": "w", "app_secret": "s"]]).sorted()
                    == ["config.app_secret", "config.workspace_id"])
            #expect(try await fields(["provider_type": "uazapi", "name": "  ", "token": "t-000000000000", "api_url": "ftp://u.example",
                                      "priority": 5000]).sorted() == ["api_url", "name", "priority"])
            // Malformed: unknown fields, unknown type, explicit null.
            for body in [["provider_type": "whatsapp-web", "name": "x", "token": "t"],
                         ["provider_type": "uazapi", "name": "x", "token": "t", "api_url": "https://u.example", "secret": "s"],
                         ["provider_type": "uazapi", "name": "x", "token": NSNull(), "api_url": "https://u.example"]] as [[String: Any]] {
                let response = try await client.call(.post, path, token: f.token(.adminA), json: body)
                #expect(response.status == .badRequest || response.status == .unprocessableContent, "\(body): \(response.text)")
                #expect(response.headers[.contentType] == "application/problem+json")
            }
            #expect(try await app.count("client_providers") == 0)
            #expect(try await app.count("audit_logs WHERE action = 'provider.create'") == 0)
        }
    }

    @Test func namesAreUniquePerTenantAndANumberBelongsToOneTenant() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let meta: [String: Any] = ["provider_type": "meta", "name": "Main", "token": "EAAG-token-00001111",
                                       "config": ["phone_number_id": "555000111"]]
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: meta).status == .created)
            var sameName = meta
            sameName["name"] = "MAIN"
            sameName["config"] = ["phone_number_id": "555000222"]
            let nameTaken = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: sameName)
            #expect(nameTaken.status == .conflict && nameTaken.code == "provider_name_taken")
            let numberTaken = try await client.call(.post, "/api/v1/tenants/\(f.b)/providers", token: f.token(.adminB), json: meta)
            #expect(numberTaken.status == .conflict && numberTaken.code == "phone_number_taken")
            // Another tenant may use the same name.
            var other = meta
            other["config"] = ["phone_number_id": "555000333"]
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.b)/providers", token: f.token(.adminB), json: other).status == .created)
        }
    }

    @Test func patchChangesOnlyWhatIsGivenAndDeleteIsAudited() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "meta", "name": "Main", "token": "EAAG-token-00001111",
                "config": ["phone_number_id": "555000111", "app_secret": "secret-one-0000aaaa"],
            ])
            let id = try #require(created.json["id"] as? String)
            let path = "/api/v1/tenants/\(f.a)/providers/\(id)"
            let patched = try await client.call(.patch, path, token: f.token(.adminA), json: [
                "priority": 3, "active": false, "token": "EAAG-token-rotated-9999",
                "config": ["phone_number_id": "555000111", "waba_id": "42"],
            ])
            #expect(patched.status == .ok, "\(patched.text)")
            #expect(patched.json["priority"] as? Int == 3 && patched.json["active"] as? Bool == false)
            #expect(patched.json["token_masked"] as? String == "••••9999")
            #expect(patched.json["name"] as? String == "Main")
            let config = patched.json["config"] as? [String: Any]
            #expect(config?["waba_id"] as? String == "42")
            #expect(config?["app_secret_masked"] as? String == "••••aaaa", "the app secret survives a config replacement")

            let cleared = try await client.call(.patch, path, token: f.token(.adminA), json: ["clear": ["app_secret"]])
            #expect((cleared.json["config"] as? [String: Any])?["app_secret_masked"] is NSNull
                    || (cleared.json["config"] as? [String: Any])?["app_secret_masked"] == nil)
            let typeChange = try await client.call(.patch, path, token: f.token(.adminA), json: ["provider_type": "uazapi"])
            #expect(typeChange.status == .badRequest)
            let wrongField = try await client.call(.patch, path, token: f.token(.adminA), json: ["config": ["phone_number_id": "1", "instance": "x"]])
            #expect(wrongField.status == .unprocessableContent && wrongField.text.contains("config.instance"))

            let uazapi = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "uazapi", "name": "U", "token": "instance-token-0001", "api_url": "https://u.example",
            ])
            let uazapiPath = "/api/v1/tenants/\(f.a)/providers/\(uazapi.json["id"] as? String ?? "")"
            let noURL = try await client.call(.patch, uazapiPath, token: f.token(.adminA), json: ["clear": ["api_url"]])
            #expect(noURL.status == .unprocessableContent, "\(noURL.text)")

            #expect(try await client.call(.delete, path, token: f.token(.adminA)).status == .noContent)
            #expect(try await client.call(.get, path, token: f.token(.adminA)).status == .notFound)
            #expect(try await client.call(.delete, path, token: f.token(.adminA)).status == .notFound)
            let audit = try await client.call(.get, "/api/v1/tenants/\(f.a)/audit-log", token: f.token(.adminA))
            let actions = audit.items.compactMap { $0["action"] as? String }
            #expect(actions.filter { $0.hasPrefix("provider.") }.sorted()
                    == ["provider.create", "provider.create", "provider.delete", "provider.update", "provider.update"])
            #expect(!audit.text.contains("EAAG"), "no secret in the audit log")
        }
    }

    @Test func deletedTenantTakesNoNewProviders() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            #expect(try await client.call(.delete, "/api/v1/tenants/\(f.b)", token: f.token(.platformAdmin)).status == .noContent)
            let create = try await client.call(.post, "/api/v1/tenants/\(f.b)/providers", token: f.token(.platformAdmin), json: [
                "provider_type": "uazapi", "name": "U", "token": "instance-token-0001", "api_url": "https://u.example",
            ])
            #expect(create.status == .notFound)
        }
    }

    @Test func legacyToolsConfigKeyIsSealedAndMaskedLikeTheLegacyToken() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let path = "/api/v1/tenants/\(f.a)"
            let patched = try await client.call(.patch, path, token: f.token(.adminA), json: [
                "tools_config": ["whatsapp": ["url": "https://legacy.example", "key": "legacy-key-0000zzzz"], "cep": ["enabled": true]],
            ])
            #expect(patched.status == .ok)
            let whatsapp = (patched.json["tools_config"] as? [String: Any])?["whatsapp"] as? [String: Any]
            #expect(whatsapp?["key"] as? String == "••••zzzz")
            #expect(!patched.text.contains("legacy-key"))
            let raw = try await Self.raw(app, "SELECT tools_config #>> '{whatsapp,key}' FROM clients WHERE id = '\(f.a)'").first ?? nil
            #expect(raw?.hasPrefix("v1:") == true)

            // Sending back what was read (the masked key) keeps the stored key.
            var echoed = try #require(patched.json["tools_config"] as? [String: Any])
            echoed["cep"] = ["enabled": false]
            #expect(try await client.call(.patch, path, token: f.token(.adminA), json: ["tools_config": echoed]).status == .ok)
            let credentials = try await client.call(.get, "/api/v1/tenants/\(f.a)/credentials/uazapi", token: f.token(.adminA))
            #expect(credentials.json["token_masked"] as? String == "••••zzzz", "\(credentials.text)")
            let resolved = try await app.services.outbound.resolver.resolve(tenantId: f.tenantA.id, type: .uazapi)
            #expect(resolved.token == "legacy-key-0000zzzz")
        }
    }
}

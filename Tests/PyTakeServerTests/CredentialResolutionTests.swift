import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Every branch of the resolution order, observed through `GET .../credentials/{type}`.
@Suite struct CredentialResolutionTests {
    struct Resolved: Equatable, CustomStringConvertible {
        var providerId: String?
        var apiURL: String?
        var token: String?
        var urlSource: String?
        var tokenSource: String?
        var mixed: Bool
        var description: String { "\(providerId ?? "-") \(apiURL ?? "-") \(token ?? "-") [\(urlSource ?? "-"), \(tokenSource ?? "-")] mixed=\(mixed)" }
    }

    static func resolve(_ client: some TestClientProtocol, _ f: Fixture, _ type: String, providerId: String? = nil,
                        as who: Fixture.Who = .adminA) async throws -> (status: HTTPResponse.Status, code: String?, resolved: Resolved) {
        let query = providerId.map { "?provider_id=\($0)" } ?? ""
        let response = try await client.call(.get, "/api/v1/tenants/\(f.a)/credentials/\(type)\(query)", token: f.token(who))
        let source = response.json["source"] as? [String: Any]
        return (response.status, response.code, Resolved(
            providerId: response.json["provider_id"] as? String, apiURL: response.json["api_url"] as? String,
            token: response.json["token_masked"] as? String, urlSource: source?["api_url"] as? String,
            tokenSource: source?["token"] as? String, mixed: response.json["mixed"] as? Bool ?? false))
    }

    static func legacy(_ client: some TestClientProtocol, _ f: Fixture, _ body: [String: Any]) async throws {
        let response = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: f.token(.platformAdmin), json: body)
        #expect(response.status == .ok, "\(response.text)")
    }

    static func provider(_ client: some TestClientProtocol, _ f: Fixture, _ body: [String: Any]) async throws -> String {
        let response = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: body)
        #expect(response.status == .created, "\(response.text)")
        return response.json["id"] as? String ?? ""
    }

    @Test func nothingResolvesIsAClear404() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let none = try await Self.resolve(client, f, "meta")
            #expect(none.status == .notFound && none.code == "no_credentials")
            let bad = try await client.call(.get, "/api/v1/tenants/\(f.a)/credentials/telegram", token: f.token(.adminA))
            #expect(bad.status == .badRequest)
        }
    }

    @Test func legacyColumnsServeTheirTypeOrAnyTypeWhenUnset() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            try await Self.legacy(client, f, ["api_url": "https://legacy.uazapi.example", "token": "legacy-token-0000abcd",
                                              "whatsapp_provider": "uazapi"])
            let uazapi = try await Self.resolve(client, f, "uazapi")
            #expect(uazapi.status == .ok)
            #expect(uazapi.resolved == Resolved(providerId: nil, apiURL: "https://legacy.uazapi.example", token: "••••abcd",
                                                urlSource: "clients.api_url", tokenSource: "clients.token", mixed: false))
            // They belong to uazapi: meta does not get them.
            let meta = try await Self.resolve(client, f, "meta")
            #expect(meta.status == .notFound && meta.code == "no_credentials")

            // With whatsapp_provider empty they serve any type.
            try await Self.legacy(client, f, ["clear": ["whatsapp_provider"]])
            for type in ["meta", "uazapi", "lancepilot"] {
                let any = try await Self.resolve(client, f, type)
                #expect(any.status == .ok, "\(type)")
                #expect(any.resolved.tokenSource == "clients.token", "\(type)")
            }
        }
    }

    @Test func toolsConfigFillsWhatTheColumnsLackAndMixedIsReported() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            try await Self.legacy(client, f, ["whatsapp_provider": "uazapi",
                                              "tools_config": ["whatsapp": ["url": "https://tools.example", "key": "tools-key-00001111"]]])
            let tools = try await Self.resolve(client, f, "uazapi")
            #expect(tools.resolved == Resolved(providerId: nil, apiURL: "https://tools.example", token: "••••1111",
                                               urlSource: "clients.tools_config", tokenSource: "clients.tools_config", mixed: false))
            // The column wins over tools_config, field by field: URL from the column, token from tools_config.
            try await Self.legacy(client, f, ["api_url": "https://column.example"])
            let mixed = try await Self.resolve(client, f, "uazapi")
            #expect(mixed.resolved == Resolved(providerId: nil, apiURL: "https://column.example", token: "••••1111",
                                               urlSource: "clients.api_url", tokenSource: "clients.tools_config", mixed: true))
            try await Self.legacy(client, f, ["clear": ["api_url"], "token": "column-token-00002222"])
            let other = try await Self.resolve(client, f, "uazapi")
            #expect(other.resolved == Resolved(providerId: nil, apiURL: "https://tools.example", token: "••••2222",
                                               urlSource: "clients.tools_config", tokenSource: "clients.token", mixed: true))
            // Only a token: the URL is reported missing, not invented.
            try await Self.legacy(client, f, ["tools_config": [:] as [String: Any]])
            let tokenOnly = try await Self.resolve(client, f, "uazapi")
            #expect(tokenOnly.resolved == Resolved(providerId: nil, apiURL: nil, token: "••••2222", urlSource: nil,
                                                   tokenSource: "clients.token", mixed: false))
        }
    }

    @Test func providersWinByPriorityThenRecencyAndInactiveOnesAreSkipped() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            try await Self.legacy(client, f, ["api_url": "https://legacy.example", "token": "legacy-token-0000abcd", "whatsapp_provider": "uazapi"])
            let low = try await Self.provider(client, f, ["provider_type": "uazapi", "name": "low", "priority": 1,
                                                          "api_url": "https://low.example", "token": "low-token-00000001"])
            let high = try await Self.provider(client, f, ["provider_type": "uazapi", "name": "high", "priority": 5,
                                                           "api_url": "https://high.example", "token": "high-token-0000005"])
            let best = try await Self.resolve(client, f, "uazapi")
            #expect(best.resolved == Resolved(providerId: high, apiURL: "https://high.example", token: "••••0005",
                                              urlSource: "client_providers", tokenSource: "client_providers", mixed: false))
            // Equal priority: the most recently updated wins.
            #expect(try await client.call(.patch, "/api/v1/tenants/\(f.a)/providers/\(low)", token: f.token(.adminA),
                                          json: ["priority": 5]).status == .ok)
            #expect(try await Self.resolve(client, f, "uazapi").resolved.providerId == low)
            #expect(try await client.call(.patch, "/api/v1/tenants/\(f.a)/providers/\(high)", token: f.token(.adminA),
                                          json: ["name": "high (touched)"]).status == .ok)
            #expect(try await Self.resolve(client, f, "uazapi").resolved.providerId == high)
            // An explicit id picks that instance whatever its priority.
            #expect(try await Self.resolve(client, f, "uazapi", providerId: low).resolved.providerId == low)
            // Inactive instances are skipped; with none left, the legacy columns serve again.
            for id in [high, low] {
                #expect(try await client.call(.patch, "/api/v1/tenants/\(f.a)/providers/\(id)", token: f.token(.adminA),
                                              json: ["active": false]).status == .ok)
            }
            let fallback = try await Self.resolve(client, f, "uazapi")
            #expect(fallback.resolved.providerId == nil && fallback.resolved.urlSource == "clients.api_url")
            // An explicit inactive id, another type's id or an unknown id: 404, never another instance.
            let inactive = try await Self.resolve(client, f, "uazapi", providerId: low)
            #expect(inactive.status == .notFound && inactive.code == "not_found")
            #expect(try await Self.resolve(client, f, "meta", providerId: low).status == .notFound)
            #expect(try await Self.resolve(client, f, "uazapi", providerId: UUID().uuidString).status == .notFound)
            #expect(try await Self.resolve(client, f, "uazapi", providerId: "not-a-uuid").status == .badRequest)
        }
    }

    @Test func typesDoNotLeakIntoEachOtherAndDefaultsFillProviderURLs() async throws {
        try await TestApp.run(overrides: ["META_GRAPH_URL": "https://graph.example.test/", "LANCEPILOT_API_URL": "https://lp.example.test/api/v3"]) { app, client in
            let f = try await Fixture.make(app)
            let meta = try await Self.provider(client, f, ["provider_type": "meta", "name": "m", "token": "EAAG-token-0000mmmm",
                                                           "config": ["phone_number_id": "123456"]])
            let lp = try await Self.provider(client, f, ["provider_type": "lancepilot", "name": "l", "token": "lp-token-0000llll",
                                                         "config": ["workspace_id": "ws"]])
            let m = try await Self.resolve(client, f, "meta")
            #expect(m.resolved.providerId == meta && m.resolved.apiURL == "https://graph.example.test")
            let l = try await Self.resolve(client, f, "lancepilot")
            #expect(l.resolved.providerId == lp && l.resolved.apiURL == "https://lp.example.test/api/v3")
            #expect(try await Self.resolve(client, f, "uazapi").status == .notFound)
        }
    }

    @Test func agentsSeeSourcesButNotTheMaskedToken() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.provider(client, f, ["provider_type": "uazapi", "name": "u", "api_url": "https://u.example", "token": "u-token-00001234"])
            let agent = try await Self.resolve(client, f, "uazapi", as: .agentA)
            #expect(agent.status == .ok && agent.resolved.token == nil && agent.resolved.tokenSource == "client_providers")
            let other = try await client.call(.get, "/api/v1/tenants/\(f.a)/credentials/uazapi", token: f.token(.adminB))
            #expect(other.status == .notFound && other.code == "not_found")
        }
    }

    @Test func cachedResolutionsFollowChangesMadeByOtherProcesses() async throws {
        try await TestApp.run(overrides: ["CREDENTIAL_CACHE_SECONDS": "3600"]) { app, client in
            let f = try await Fixture.make(app)
            // The listener empties the cache when it starts listening: on a loaded machine that came
            // after the first resolution below and made the "answer from memory" check fail.
            let listening = try await TestApp.eventually(timeout: .seconds(30)) {
                try await app.scalar("""
                    SELECT count(*)::int8 FROM pg_stat_activity
                    WHERE datname = current_database() AND query ILIKE 'LISTEN%\(CredentialCache.channel)%'
                    """) > 0
            }
            #expect(listening, "the credential listener is listening")
            let id = try await Self.provider(client, f, ["provider_type": "uazapi", "name": "u", "priority": 1,
                                                         "api_url": "https://one.example", "token": "u-token-00000001"])
            #expect(try await Self.resolve(client, f, "uazapi").resolved.apiURL == "https://one.example")
            // A change that bypasses PyTake (no notification) is not seen: the answer comes from memory.
            try await app.db.query("UPDATE client_providers SET api_url = 'https://sneaky.example' WHERE id = \(UUID(uuidString: id)!)",
                                   logger: app.services.logger)
            #expect(try await Self.resolve(client, f, "uazapi").resolved.apiURL == "https://one.example")
            // Another replica (its own services, no shared memory) adds a better instance: NOTIFY reaches us.
            let otherReplica = ProviderService(db: app.services.db, logger: app.services.logger, secrets: try SecretBox(current: TestApp.encryptionKey))
            let better = try await otherReplica.create(tenantId: f.tenantA.id, ProviderInput(
                type: .uazapi, name: "better", priority: 9, apiURL: "https://two.example", token: "u-token-00000002"), identity: nil, actor: .cli)
            var seen: String?
            for _ in 0..<50 {
                seen = try await Self.resolve(client, f, "uazapi").resolved.providerId
                if seen == better.id.uuidString.lowercased() { break }
                try await Task.sleep(for: .milliseconds(50))
            }
            #expect(seen == better.id.uuidString.lowercased(), "the other process's change is visible without waiting for the TTL")
        }
    }
}

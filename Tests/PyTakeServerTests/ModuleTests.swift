import AsyncHTTPClient
import Foundation
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// The module registry and the http_request module against a loopback HTTP target.
@Suite struct ModuleTests {
    static func context(_ http: HTTPClient, allowPrivate: Bool = true, timeout: Duration = .seconds(2),
                        variables: [String: JSONValue] = [:]) -> ModuleContext {
        ModuleContext(tenantId: UUID(), conversationId: UUID(), variables: variables, http: http,
                      allowPrivateNetworks: allowPrivate, timeout: timeout)
    }

    @Test func registryRejectsDuplicatesAndChecksConfigsPrecisely() throws {
        var registry = ModuleRegistry.builtIn()
        #expect(throws: ModuleRegistry.DuplicateModule.self) { try registry.register(HTTPRequestModule()) }
        #expect(registry.manifests.map(\.name) == ["ai_reply", "cache", "http_request", "webhook_notify"])
        #expect(registry.manifests.allSatisfy { $0.version.split(separator: ".").count == 3 && !$0.description.isEmpty })
        #expect(registry.check(module: "teleport", with: [:]) == nil)
        #expect(registry.check(module: "http_request", with: ["url": .string("https://api.example/{{id}}")]) == [])
        let problems = registry.check(module: "http_request", with: ["method": .string("FETCH"), "url": .string("ftp://x"),
                                                                     "headers": .object(["X-Count": .number(3)]), "extra": .bool(true)]) ?? []
        #expect(problems.sorted() == ["with.extra: is not a known field", "with.headers.X-Count: must be string",
                                      "with.method: must be one of GET, POST, PUT, PATCH, DELETE", "with.url: must be an absolute http(s) URL"])
        #expect(registry.check(module: "http_request", with: [:]) == ["with.url: is required"])
    }

    @Test func httpRequestRendersTemplatesAndSavesTheResponse() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let http = HTTPClient.shared
        let registry = ModuleRegistry.builtIn()
        fake.enqueue("/orders/42", .json(200, #"{"id":42,"status":"shipped"}"#))
        let output = try await registry.run("http_request", with: [
            "method": .string("POST"), "url": .string(fake.baseURL + "/orders/{{order.id}}"),
            "headers": .object(["X-Customer": .string("{{customer_name}}")]),
            "body": .object(["note": .string("for {{customer_name}}"), "n": .number(1)]),
        ], context: Self.context(http, variables: ["order": .object(["id": .number(42)]), "customer_name": .string("Maria")]))
        #expect(output["status"]?.number == 200 && output["body"]?["status"]?.string == "shipped")
        let request = try #require(fake.requests(to: "/orders/42").first)
        #expect(request.method == "POST" && request.headers["x-customer"] == "Maria")
        #expect(request.json["note"] as? String == "for Maria" && request.json["n"] as? Int == 1)
    }

    @Test func httpRequestRetriesTransientFailuresOnlyAndTimesOut() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let http = HTTPClient.shared
        let registry = ModuleRegistry.builtIn()
        fake.enqueue("/flaky", .json(503, "{}"), .json(200, #"{"ok":true}"#))
        let recovered = try await registry.run("http_request", with: ["url": .string(fake.baseURL + "/flaky")],
                                               context: Self.context(http), attempts: 3, delay: .milliseconds(10))
        #expect(recovered["body"]?["ok"] == .bool(true))
        #expect(fake.requests(to: "/flaky").count == 2)

        fake.setDefault("/bad", .json(400, #"{"error":"no"}"#))
        do {
            _ = try await registry.run("http_request", with: ["url": .string(fake.baseURL + "/bad")], context: Self.context(http), attempts: 3)
            Issue.record("a 400 is a failure")
        } catch {
            #expect(error.message.contains("400") && !error.retryable)
        }
        #expect(fake.requests(to: "/bad").count == 1, "4xx is not retried")

        // A per-attempt limit long enough for each attempt to reach the fake on a loaded machine
        // (with 300 ms, a second attempt was once given up before the fake had read it), far
        // shorter than the fake's hang.
        fake.setDefault("/slow", .hang(seconds: 10))
        let started = ContinuousClock.now
        do {
            _ = try await registry.run("http_request", with: ["url": .string(fake.baseURL + "/slow")],
                                       context: Self.context(http, timeout: .seconds(1)), attempts: 2, delay: .milliseconds(10))
            Issue.record("the call should time out")
        } catch {
            #expect(error.message.contains("timed out"))
        }
        #expect(ContinuousClock.now - started < .seconds(6), "the per-attempt timeout applies (the fake hangs 10 s)")
        #expect(try await TestApp.eventually(timeout: .seconds(5)) { fake.requests(to: "/slow").count == 2 },
                "two attempts reached the fake: \(fake.requests(to: "/slow").count)")
    }

    @Test func theSSRFGuardRefusesPrivateAddressesUnlessAllowed() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let http = HTTPClient.shared
        let registry = ModuleRegistry.builtIn()
        fake.setDefault("/internal", .json(200, "{}"))
        for url in [fake.baseURL + "/internal", "http://169.254.169.254/latest/meta-data", "http://[::1]:\(fake.port)/internal",
                    "http://10.0.0.1/x"] {
            do {
                _ = try await registry.run("http_request", with: ["url": .string(url)], context: Self.context(http, allowPrivate: false))
                Issue.record("\(url) was called")
            } catch {
                #expect(error.message.contains("private or local"), "\(url): \(error.message)")
            }
        }
        #expect(fake.requests.isEmpty)
        do {
            _ = try await registry.run("http_request", with: ["url": .string("file:///etc/passwd")], context: Self.context(http))
            Issue.record("file URLs are refused")
        } catch {
            #expect(error.message.contains("not an http(s) URL"))
        }
    }

    @Test func theCatalogueIsListedForEverySignedInUser() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let list = try await client.call(.get, "/api/v1/modules", token: f.token(.viewerA))
            #expect(list.status == .ok && list.items.map { $0["name"] as? String } == ["ai_reply", "cache", "http_request", "webhook_notify"])
            let http = try #require(list.items.first { $0["name"] as? String == "http_request" })
            #expect(((http["with"] as? [String: Any])?["required"] as? [String]) == ["url"])
            #expect(try await client.call(.get, "/api/v1/modules").status == .unauthorized)
        }
    }

    // MARK: webhook_notify

    @Test func webhookNotifySignsTheRawBody() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let registry = ModuleRegistry.builtIn()
        let secret = "whsec-0123456789abcdef"
        fake.setDefault("/hook", .json(204, ""))
        var context = Self.context(HTTPClient.shared, variables: ["customer_name": .string("Maria"), "plan": .string("pro")])
        context.settings = ModuleTenantSettings(webhookSecret: secret)
        let output = try await registry.run("webhook_notify", with: [
            "url": .string(fake.baseURL + "/hook"), "event": .string("lead.qualified"),
            "data": .object(["name": .string("{{customer_name}}"), "plan": .string("{{plan}}"), "score": .number(9)]),
        ], context: context)
        #expect(output["delivered"] == .bool(true) && output["status"]?.number == 204)
        let request = try #require(fake.requests(to: "/hook").first)
        #expect(request.headers["x-pytake-signature"] == WebhookNotifyModule.signature(request.body, secret: secret))
        #expect(request.headers["x-pytake-signature"]?.hasPrefix("sha256=") == true && request.headers["x-pytake-event"] == "lead.qualified")
        // The receiver's check: HMAC-SHA256 over the exact bytes, with the shared secret.
        #expect(WebhookNotifyModule.signature(request.body, secret: "another-secret-0000") != request.headers["x-pytake-signature"])
        let data = request.json["data"] as? [String: Any]
        #expect(data?["name"] as? String == "Maria" && data?["plan"] as? String == "pro" && data?["score"] as? Int == 9)
        #expect(request.json["event"] as? String == "lead.qualified" && request.json["tenant_id"] as? String == context.tenantId.uuidString.lowercased())

        // No secret: a precise failure, nothing posted. Simulation: nothing posted either.
        do {
            _ = try await registry.run("webhook_notify", with: ["url": .string(fake.baseURL + "/hook")], context: Self.context(HTTPClient.shared))
            Issue.record("a webhook without a secret must fail")
        } catch {
            #expect(error.message.contains("webhooks.secret") && !error.retryable)
        }
        context.simulation = true
        let simulated = try await registry.run("webhook_notify", with: ["url": .string(fake.baseURL + "/hook")], context: context)
        #expect(simulated["simulated"] == .bool(true))
        #expect(fake.requests(to: "/hook").count == 1)
        // The SSRF guard covers it too.
        context.simulation = false
        context.allowPrivateNetworks = false
        do {
            _ = try await registry.run("webhook_notify", with: ["url": .string(fake.baseURL + "/hook")], context: context)
            Issue.record("loopback must be refused")
        } catch {
            #expect(error.message.contains("private or local"))
        }
    }

    // MARK: cache

    @Test func cacheKeepsValuesPerScopeWithTTLAndPages() async throws {
        try await TestApp.run { app, _ in
            let tenant = try await app.createTenant(slug: "cache-a")
            let other = try await app.createTenant(slug: "cache-b")
            let registry = ModuleRegistry.builtIn()
            let conversation = UUID()
            func context(_ tenant: UUID, conversation: UUID? = conversation) -> ModuleContext {
                ModuleContext(tenantId: tenant, conversationId: conversation, variables: ["order": .string("42")], http: HTTPClient.shared,
                              allowPrivateNetworks: true, timeout: .seconds(5),
                              cache: PostgresModuleCache(db: app.services.db, tenantId: tenant, logger: app.services.logger))
            }
            func run(_ with: [String: JSONValue], tenant: UUID? = nil, conversation: UUID? = conversation) async throws -> JSONValue {
                try await registry.run("cache", with: with, context: context(tenant ?? tenant_id, conversation: conversation))
            }
            let tenant_id = tenant.id
            #expect(try await run(["operation": .string("set"), "key": .string("order:{{order}}"), "value": .object(["n": .string("{{order}}")])])["ok"] == .bool(true))
            #expect(try await run(["operation": .string("get"), "key": .string("order:42")])["value"]?["n"] == .string("42"))
            #expect(try await run(["operation": .string("exists"), "key": .string("order:42")])["exists"] == .bool(true))
            // Conversation scope: another conversation, or the tenant scope, does not see it; another tenant neither.
            #expect(try await run(["operation": .string("exists"), "key": .string("order:42")], conversation: UUID())["exists"] == .bool(false))
            #expect(try await run(["operation": .string("exists"), "scope": .string("tenant"), "key": .string("order:42")])["exists"] == .bool(false))
            #expect(try await run(["operation": .string("exists"), "key": .string("order:42")], tenant: other.id)["exists"] == .bool(false))

            for index in 1...5 {
                _ = try await run(["operation": .string("set"), "scope": .string("tenant"), "key": .string("sku:\(index)"), "value": .number(Double(index))])
            }
            _ = try await run(["operation": .string("set"), "scope": .string("tenant"), "key": .string("other"), "value": .bool(true)])
            let first = try await run(["operation": .string("list"), "scope": .string("tenant"), "prefix": .string("sku:"), "limit": .number(2)])
            #expect(first["items"]?.array?.compactMap { $0["key"]?.string } == ["sku:1", "sku:2"])
            let cursor = try #require(first["next_cursor"]?.string)
            let second = try await run(["operation": .string("list"), "scope": .string("tenant"), "prefix": .string("sku:"), "limit": .number(2),
                                        "cursor": .string(cursor)])
            #expect(second["items"]?.array?.compactMap { $0["key"]?.string } == ["sku:3", "sku:4"])
            let last = try await run(["operation": .string("list"), "scope": .string("tenant"), "prefix": .string("sku:"), "limit": .number(2),
                                      "cursor": second["next_cursor"] ?? .null])
            #expect(last["items"]?.array?.count == 1 && last["next_cursor"] == .null)
            #expect(try await run(["operation": .string("stats"), "scope": .string("tenant")])["count"]?.number == 6)

            #expect(try await run(["operation": .string("remove"), "scope": .string("tenant"), "key": .string("other")])["removed"] == .bool(true))
            #expect(try await run(["operation": .string("remove"), "scope": .string("tenant"), "key": .string("other")])["removed"] == .bool(false))

            // TTL: gone once expired, for reads and for stats; the sweeper deletes the row.
            _ = try await run(["operation": .string("set"), "key": .string("short"), "value": .string("x"), "ttl_seconds": .number(1)])
            #expect(try await run(["operation": .string("get"), "key": .string("short")])["found"] == .bool(true))
            try await Task.sleep(for: .milliseconds(1100))
            #expect(try await run(["operation": .string("get"), "key": .string("short")])["found"] == .bool(false))
            #expect(try await PostgresModuleCache.sweep(db: app.services.db, logger: app.services.logger) == 1)

            // Bad use is a precise, non-retryable failure.
            do {
                _ = try await run(["operation": .string("get")])
                Issue.record("get without a key must fail")
            } catch let error as ModuleFailure {
                #expect(error.message.contains("'key'") && !error.retryable)
            }
            #expect(registry.check(module: "cache", with: ["operation": .string("drop")])?.first?.contains("must be one of") == true)
        }
    }

    // MARK: ai_reply

    @Test func aiReplyAsksTheTenantsModelWithTheConversation() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        let registry = ModuleRegistry.builtIn()
        fake.setDefault("/v1/chat/completions", .json(200, #"{"model":"fake-llm-1","choices":[{"message":{"role":"assistant","content":" Your order ships today. "}}]}"#))
        let effects = ModuleEffects()
        var context = ModuleContext(
            tenantId: UUID(), conversationId: UUID(), variables: ["order": .string("42")], http: HTTPClient.shared, allowPrivateNetworks: true,
            timeout: .seconds(2),
            settings: ModuleTenantSettings(ai: .init(baseURL: fake.baseURL + "/", model: "gpt-test", key: "sk-test-key", systemPrompt: "You are Loja's assistant.")),
            history: { limit in Array([ChatLine(role: "user", text: "where is my order?"), ChatLine(role: "assistant", text: "Checking."),
                                       ChatLine(role: "user", text: "it is 42")].suffix(limit)) },
            effects: effects)
        let output = try await registry.run("ai_reply", with: ["prompt": .string("Order {{order}} ships today."), "history": .number(2)], context: context)
        #expect(output["text"] == .string("Your order ships today.") && output["model"] == .string("fake-llm-1") && output["sent"] == .bool(true))
        #expect(effects.replies == ["Your order ships today."])
        let request = try #require(fake.requests(to: "/v1/chat/completions").first)
        #expect(request.headers["authorization"] == "Bearer sk-test-key" && request.json["model"] as? String == "gpt-test")
        let messages = (request.json["messages"] as? [[String: Any]] ?? []).map { "\($0["role"] ?? ""): \($0["content"] ?? "")" }
        #expect(messages == ["system: You are Loja's assistant.", "assistant: Checking.", "user: it is 42", "system: Order 42 ships today."])

        // store mode: nothing to send; no configuration: a precise failure; an endpoint error is retryable when 5xx.
        let stored = ModuleEffects()
        context.effects = stored
        #expect(try await registry.run("ai_reply", with: ["mode": .string("store")], context: context)["sent"] == .bool(false))
        #expect(stored.replies.isEmpty)
        context.settings = ModuleTenantSettings()
        do {
            _ = try await registry.run("ai_reply", with: [:], context: context)
            Issue.record("no AI configured must fail")
        } catch {
            #expect(error.message.contains("tools_config.ai") && !error.retryable)
        }
        context.settings = ModuleTenantSettings(ai: .init(baseURL: fake.baseURL + "/broken", model: "m", key: nil, systemPrompt: nil))
        fake.setDefault("/broken/v1/chat/completions", .json(502, "{}"))
        do {
            _ = try await registry.run("ai_reply", with: [:], context: context, attempts: 2)
            Issue.record("a 502 must fail")
        } catch {
            #expect(error.message.contains("502") && error.retryable)
        }
        #expect(fake.requests(to: "/broken/v1/chat/completions").count == 2)
    }
}

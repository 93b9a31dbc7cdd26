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
        #expect(registry.manifests.map(\.name) == ["http_request"])
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

        fake.setDefault("/slow", .hang(seconds: 3))
        let started = ContinuousClock.now
        do {
            _ = try await registry.run("http_request", with: ["url": .string(fake.baseURL + "/slow")],
                                       context: Self.context(http, timeout: .milliseconds(300)), attempts: 2, delay: .milliseconds(10))
            Issue.record("the call should time out")
        } catch {
            #expect(error.message.contains("timed out"))
        }
        #expect(ContinuousClock.now - started < .seconds(2), "the per-attempt timeout applies")
        #expect(fake.requests(to: "/slow").count == 2)
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
            #expect(list.status == .ok && list.items.first?["name"] as? String == "http_request")
            #expect(((list.items.first?["with"] as? [String: Any])?["required"] as? [String]) == ["url"])
            #expect(try await client.call(.get, "/api/v1/modules").status == .unauthorized)
        }
    }
}

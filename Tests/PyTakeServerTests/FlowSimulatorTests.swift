import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// The simulator, flow test cases and the publish gate they make.
@Suite struct FlowSimulatorTests {
    typealias E = FlowEngineTests

    nonisolated(unsafe) static let quiz: [String: Any] = [
        "nodes": [
            E.node("start", "start"),
            E.node("hi", "send_message", ["text": "Hi {{customer_name}}."]),
            E.node("age", "ask", ["question": "Age?", "variable": "age", "validation": "number"]),
            E.node("check", "condition", ["variable": "age", "operator": "less_than", "value": 18]),
            E.node("minor", "send_message", ["text": "Too young."]),
            E.node("pause", "wait", ["seconds": 3600]),
            E.node("human", "handoff", ["message": "Passing you to a human."]),
            E.node("remember", "module", ["module": "cache", "with": ["operation": "set", "key": "age", "value": "{{age}}"], "save_as": "saved"]),
            E.node("bye", "send_message", ["text": "Bye, {{age}}."]),
            E.node("end", "end"),
        ],
        "edges": [
            E.edge("start", "hi"), E.edge("hi", "age"), E.edge("age", "check"), E.edge("check", "minor", "true"),
            E.edge("check", "remember", "false"), E.edge("remember", "bye", "success"), E.edge("remember", "end", "error"),
            E.edge("bye", "end"), E.edge("minor", "pause"), E.edge("pause", "human"),
        ],
    ]

    @Test func simulatorReturnsTranscriptPathAndVariablesWithoutSending() async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        try await TestApp.run(overrides: E.overrides(fake)) { app, client in
            let f = try await Fixture.make(app)
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "Quiz", "definition": Self.quiz])
            #expect(created.status == .created && (created.json["problems"] as? [Any])?.isEmpty == true, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let path = "/api/v1/tenants/\(f.a)/flows/\(id)/simulate"

            let adult = try await client.call(.post, path, token: f.token(.adminA), json: ["messages": ["hello", "abc", "30"], "variables": ["plan": "gold"]])
            #expect(adult.status == .ok, "\(adult.text)")
            let transcript = (adult.json["transcript"] as? [[String: Any]] ?? []).map { "\($0["role"]!): \($0["text"]!)" }
            #expect(transcript == ["customer: hello", "bot: Hi Simulator.", "bot: Age?", "customer: abc", "bot: Please answer with a number.",
                                   "customer: 30", "bot: Bye, 30."])
            #expect(adult.json["path"] as? [String] == ["start", "hi", "age", "check", "remember", "bye", "end"])
            #expect(adult.json["status"] as? String == "completed" && adult.json["ended_at"] as? String == "end")
            let variables = adult.json["variables"] as? [String: Any]
            #expect(variables?["age"] as? Int == 30 && variables?["plan"] as? String == "gold")
            let turns = adult.json["turns"] as? [[String: Any]] ?? []
            #expect(turns.map { $0["status"] as? String } == ["awaiting_input", "awaiting_input", "completed"])
            let steps = (turns.last?["steps"] as? [[String: Any]]) ?? []
            #expect(steps.map { $0["node_id"] as? String } == ["check", "remember", "bye", "end"])
            #expect(steps.first?["outcome"] as? String == "false")
            #expect((steps[1]["variables"] as? [String: Any])?["saved"] != nil, "variables after each step")

            // A wait passes at once, a handoff silences the bot.
            let minor = try await client.call(.post, path, token: f.token(.adminA), json: ["messages": ["hello", "12", "anyone?"]])
            let lines = (minor.json["transcript"] as? [[String: Any]] ?? []).map { "\($0["role"]!): \($0["text"]!)" }
            #expect(Array(lines.suffix(5)) == ["bot: Too young.", "system: Waited until the timer of 'pause' ran out.", "bot: Passing you to a human.",
                                               "system: Handed over to an agent: the bot stays silent from here.", "customer: anyone?"])
            #expect(minor.json["status"] as? String == "handed_off")

            #expect(fake.requests.isEmpty, "a simulation sends nothing")
            #expect(try await app.count("chat_messages") == 0)
            #expect(try await app.count("module_cache") == 0)

            // A published version can be simulated too; an unknown one is 404.
            #expect(try await client.call(.post, path, token: f.token(.adminA), json: ["messages": ["hi"], "version": 1]).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/flows/\(id)/publish", token: f.token(.adminA)).status == .created)
            #expect(try await client.call(.post, path, token: f.token(.adminA), json: ["messages": ["hi"], "version": 1]).status == .ok)

            // Bad input, roles, tenants.
            let empty = try await client.call(.post, path, token: f.token(.adminA), json: ["messages": [String]()])
            #expect(empty.status == .unprocessableContent, "\(empty.text)")
            let tooMany = try await client.call(.post, path, token: f.token(.adminA), json: ["messages": Array(repeating: "x", count: 51)])
            #expect(tooMany.status == .unprocessableContent)
            #expect(try await client.call(.post, path, token: f.token(.agentA), json: ["messages": ["hi"]]).status == .forbidden)
            #expect(try await client.call(.post, path, token: f.token(.viewerA), json: ["messages": ["hi"]]).status == .forbidden)
            #expect(try await client.call(.post, path, token: f.token(.adminB), json: ["messages": ["hi"]]).status == .notFound)
            #expect(try await client.call(.post, path, token: f.token(.platformAdmin), json: ["messages": ["hi"]]).status == .ok)
        }
    }

    @Test func testCasesRunAndGatePublishing() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let cases: [[String: Any]] = [
                ["describe": "adults are saved", "messages": ["hi", "30"], "expect": ["replies_contain": ["Bye, 30"], "variables": ["age": 30], "ends_at": "end"]],
                ["describe": "minors go to a human", "messages": ["hi", "12"], "expect": ["replies_contain": "human", "ends_at": "human"]],
            ]
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA),
                                                json: ["name": "Quiz", "definition": Self.quiz, "test_cases": cases])
            let id = try #require(created.json["id"] as? String)
            let base = "/api/v1/tenants/\(f.a)/flows/\(id)"
            let passing = try await client.call(.post, base + "/test", token: f.token(.adminA))
            #expect(passing.status == .ok && passing.json["passed"] as? Bool == true, "\(passing.text)")
            #expect((passing.json["cases"] as? [[String: Any]])?.count == 2)

            // A change that breaks a case: the report says which and why, and publishing is refused.
            var broken = Self.quiz
            var nodes = broken["nodes"] as! [[String: Any]]
            nodes[8] = E.node("bye", "send_message", ["text": "See you."])
            broken["nodes"] = nodes
            let saved = try await FlowTests.save(client, base, token: f.token(.adminA), revision: created.json["revision"] as? Int, ["definition": broken])
            #expect(saved.status == .ok, "\(saved.text)")
            let failing = try await client.call(.post, base + "/test", token: f.token(.adminA))
            #expect(failing.json["passed"] as? Bool == false)
            let report = failing.json["cases"] as? [[String: Any]] ?? []
            #expect(report.map { $0["passed"] as? Bool } == [false, true])
            #expect((report.first?["failures"] as? [String]) == ["no reply contains 'Bye, 30'"])
            let refused = try await client.call(.post, base + "/publish", token: f.token(.adminA))
            #expect(refused.status == .unprocessableContent && refused.code == "flow_tests_failed", "\(refused.text)")
            let problems = refused.json["problems"] as? [[String: Any]] ?? []
            #expect(problems.count == 1 && (problems.first?["message"] as? String)?.contains("adults are saved") == true)
            #expect(try await client.call(.get, base + "/versions", token: f.token(.adminA)).items.isEmpty)

            // Fixing the case publishes; a malformed case fails with its reason.
            let current = try await client.call(.get, base, token: f.token(.adminA))
            var fixed = cases
            fixed[0]["expect"] = ["replies_contain": ["See you."], "variables": ["age": 30]]
            fixed.append(["describe": "malformed", "expect": "nothing"])
            let resaved = try await FlowTests.save(client, base, token: f.token(.adminA), revision: current.json["revision"] as? Int, ["test_cases": fixed])
            #expect(resaved.status == .ok)
            let withMalformed = try await client.call(.post, base + "/test", token: f.token(.adminA))
            #expect((withMalformed.json["cases"] as? [[String: Any]])?.map { $0["passed"] as? Bool } == [true, true, false])
            let latest = try await client.call(.get, base, token: f.token(.adminA))
            #expect(try await FlowTests.save(client, base, token: f.token(.adminA), revision: latest.json["revision"] as? Int,
                                             ["test_cases": Array(fixed.prefix(2))]).status == .ok)
            #expect(try await client.call(.post, base + "/publish", token: f.token(.adminA)).status == .created)

            #expect(try await client.call(.post, base + "/test", token: f.token(.viewerA)).status == .forbidden)
            #expect(try await client.call(.post, base + "/test", token: f.token(.adminB)).status == .notFound)
        }
    }

    @Test func toolsConfigSecretsAreSealedMaskedAndValidated() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let path = "/api/v1/tenants/\(f.a)"
            let config: [String: Any] = [
                "debounce_ms": 1500,
                "ai": ["base_url": "https://llm.example/v1", "model": "gpt-test", "key": "sk-secret-ai-key-9876", "system_prompt": "Be brief."],
                "webhooks": ["secret": "whsec-0123456789abcdef-wxyz"],
            ]
            let patched = try await client.call(.patch, path, token: f.token(.adminA), json: ["tools_config": config])
            #expect(patched.status == .ok, "\(patched.text)")
            let tools = patched.json["tools_config"] as? [String: Any]
            #expect((tools?["ai"] as? [String: Any])?["key"] as? String == "••••9876")
            #expect((tools?["webhooks"] as? [String: Any])?["secret"] as? String == "••••wxyz")
            #expect(!patched.text.contains("sk-secret-ai-key") && !patched.text.contains("whsec-0123"))
            let stored = try await app.scalar("""
                SELECT count(*)::int8 FROM clients WHERE id = '\(f.a)' AND tools_config #>> '{ai,key}' LIKE 'v1:%'
                  AND tools_config #>> '{webhooks,secret}' LIKE 'v1:%'
                """)
            #expect(stored == 1, "both secrets are sealed at rest")

            // Sending back what was read keeps the stored secrets.
            let again = try await client.call(.patch, path, token: f.token(.adminA), json: ["tools_config": tools ?? [:]])
            #expect(again.status == .ok)
            let settings = EngineTenantSettings(db: app.services.db, logger: app.services.logger, secrets: try Bootstrap.secretBox(settings: app.services.settings))
            let entry = try await settings.get(f.tenantA.id)
            #expect(entry.modules.ai?.key == "sk-secret-ai-key-9876" && entry.modules.webhookSecret == "whsec-0123456789abcdef-wxyz")
            #expect(entry.debounceMilliseconds == 1500)

            for (bad, field) in [(["debounce_ms": -1], "tools_config.debounce_ms"), (["debounce_ms": 1.5], "tools_config.debounce_ms"),
                                 (["ai": ["base_url": "ftp://x"]], "tools_config.ai.base_url"), (["ai": "yes"], "tools_config.ai"),
                                 (["webhooks": ["secret": "short"]], "tools_config.webhooks.secret")] as [([String: Any], String)] {
                let refused = try await client.call(.patch, path, token: f.token(.adminA), json: ["tools_config": bad])
                #expect(refused.status == .unprocessableContent && refused.text.contains(field), "\(bad): \(refused.text)")
            }
        }
    }
}

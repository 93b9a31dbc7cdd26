import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Synchronization
import Testing

/// The flow engine end to end: a signed webhook stores the customer's message, the engine runs the
/// published flow, and the replies reach the fake Graph API.
@Suite struct FlowEngineTests {
    typealias W = MetaWebhookTests
    static let messagesPath = "/v22.0/\(W.numberA)/messages"

    struct Env: Sendable {
        let fake: FakeProviderServer
        let app: TestApp
        let client: any TestClientProtocol
        let f: Fixture

        /// Creates and publishes a flow as tenant A's admin; returns its id.
        @discardableResult
        func publish(_ name: String, nodes: [[String: Any]], edges: [[String: Any]], trigger: [String: Any] = ["type": "default"],
                     testCases: [[String: Any]] = []) async throws -> String {
            // Single-exit nodes left without a `next` edge end the flow (through an added end node).
            var nodes = nodes
            var edges = edges
            let linked = Set(edges.map { "\($0["from"]!)|\($0["outcome"]!)" })
            let open = nodes.filter { ["send_message", "ask", "set_variable", "wait"].contains($0["type"] as! String) }
                .map { $0["id"] as! String }.filter { !linked.contains("\($0)|next") }
            if !open.isEmpty {
                nodes.append(FlowEngineTests.node("auto_end", "end"))
                edges += open.map { FlowEngineTests.edge($0, "auto_end") }
            }
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: [
                "name": name, "trigger": trigger, "definition": ["nodes": nodes, "edges": edges], "test_cases": testCases,
            ])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            #expect((created.json["problems"] as? [Any])?.isEmpty == true, "\(created.text)")
            let published = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows/\(id)/publish", token: f.token(.adminA))
            #expect(published.status == .created, "\(published.text)")
            return id
        }

        private static let counter = Mutex(0)

        /// The customer (5511912345678, "Maria") writes `text`.
        func say(_ text: String, from: String = "5511912345678") async throws {
            let n = Self.counter.withLock { value -> Int in
                value += 1
                return value
            }
            let wamid = "wamid.in-\(UUID().uuidString.prefix(8))-\(n)"
            let response = try await W.post(client, W.payload([W.Change(phoneNumberId: W.numberA, messages: [W.text(wamid, from: from, body: text)],
                                                                      contacts: [W.contact(from)])]))
            #expect(response.status == .ok && response.json["stored"] as? Int == 1, "\(response.text)")
        }

        /// What the bot sent to the Graph API, in order: text bodies, or interactive bodies.
        var sent: [String] {
            fake.requests(to: FlowEngineTests.messagesPath).map { request in
                let json = request.json
                if let text = (json["text"] as? [String: Any])?["body"] as? String { return text }
                if let interactive = json["interactive"] as? [String: Any], let body = (interactive["body"] as? [String: Any])?["text"] as? String {
                    return body
                }
                return "?"
            }
        }

        /// Waits until the bot sent `count` messages in all; returns them.
        func waitForSent(_ count: Int, timeout: Duration = .seconds(30)) async throws -> [String] {
            _ = try await TestApp.eventually(timeout: timeout) { sent.count >= count }
            return sent
        }

        /// Waits until the engine has nothing queued or in flight.
        func settle() async throws {
            let idle = try await TestApp.eventually(timeout: .seconds(30)) {
                try await app.scalar("SELECT (SELECT count(*) FROM engine_queue) + (SELECT count(*) FROM engine_outbox)") == 0
            }
            #expect(idle, "the engine did not settle")
        }

        func events(_ type: String) async throws -> Int {
            try await app.scalar("SELECT count(*)::int8 FROM conversation_events WHERE type = '\(type)'")
        }
    }

    static func overrides(_ fake: FakeProviderServer, _ extra: [String: String] = [:]) -> [String: String] {
        ProviderSendTests.overrides(fake, W.overrides).merging([
            "ENGINE_POLL_MS": "20", "MODULE_ALLOW_PRIVATE_NETWORKS": "true",
        ]) { _, new in new }.merging(extra) { _, new in new }
    }

    static func withEngine(_ extra: [String: String] = [:], database: DatabaseURL? = nil,
                           _ body: @Sendable (Env) async throws -> Void) async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        fake.setDefault(messagesPath, .metaSent)
        try await TestApp.run(overrides: overrides(fake, extra), database: database) { app, client in
            let f = try await Fixture.make(app)
            _ = try await W.metaProvider(app, tenant: f.tenantA.id, number: W.numberA)
            try await body(Env(fake: fake, app: app, client: client, f: f))
        }
    }

    static func node(_ id: String, _ type: String, _ config: [String: Any] = [:]) -> [String: Any] {
        ["id": id, "type": type, "config": config, "position": ["x": 0, "y": 0]]
    }

    static func edge(_ from: String, _ to: String, _ outcome: String = "next") -> [String: Any] {
        ["from": from, "outcome": outcome, "to": to]
    }

    @Test func conversationRunsThroughAskConditionAndModule() async throws {
        try await Self.withEngine { env in
            env.fake.setDefault("/orders/7", .json(200, #"{"status":"shipped"}"#))
            try await env.publish("Support", nodes: [
                Self.node("start", "start"),
                Self.node("hello", "send_message", ["text": "Olá {{customer_name}}!"]),
                Self.node("age", "ask", ["question": "How old are you?", "variable": "age", "validation": "number"]),
                Self.node("adult", "condition", ["variable": "age", "operator": "greater_than", "value": 17]),
                Self.node("order", "module", ["module": "http_request", "with": ["url": env.fake.baseURL + "/orders/{{order_id}}"], "save_as": "order"]),
                Self.node("set", "set_variable", ["variable": "order_id", "value": "7"]),
                Self.node("status", "send_message", ["text": "Order {{order_id}}: {{order.body.status}}"]),
                Self.node("minor", "send_message", ["text": "Sorry, adults only."]),
                Self.node("sorry", "send_message", ["text": "Lookup failed."]),
                Self.node("plan", "ask", ["question": "Which plan?", "variable": "plan", "validation": "choice", "choices": ["Basic", "Pro"]]),
                Self.node("end", "end"),
            ], edges: [
                Self.edge("start", "hello"), Self.edge("hello", "age"), Self.edge("age", "adult"),
                Self.edge("adult", "set", "true"), Self.edge("adult", "minor", "false"), Self.edge("set", "order"),
                Self.edge("order", "status", "success"), Self.edge("order", "sorry", "error"),
                Self.edge("status", "plan"), Self.edge("sorry", "end"), Self.edge("minor", "end"), Self.edge("plan", "end"),
            ])

            try await env.say("oi")
            #expect(try await env.waitForSent(2) == ["Olá Maria!", "How old are you?"])
            try await env.say("not a number")
            #expect(try await env.waitForSent(3).last == "Please answer with a number.")
            try await env.say("30")
            let sent = try await env.waitForSent(5)
            #expect(Array(sent.suffix(2)) == ["Order 7: shipped", "Which plan?"])
            // Two choices go out as WhatsApp reply buttons.
            let buttons = try #require(env.fake.requests(to: Self.messagesPath).last?.json["interactive"] as? [String: Any])
            #expect(buttons["type"] as? String == "button")
            try await env.say("2")
            try await env.settle()
            #expect(env.sent.count == 5, "choosing ends the flow without another message")

            #expect(try await env.events("flow_started") == 1)
            #expect(try await env.events("flow_completed") == 1)
            #expect(try await env.events("node_entered") == 9)
            #expect(try await env.events("message_sent") == 5)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE awaiting_bot") == 0)
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM chat_messages WHERE direction = 'outbound' AND status = 'sent' AND provider_message_id LIKE 'wamid.fake-%'
                """) == 5)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM active_conversations WHERE flow_state IS NULL") == 1)
            // The replies read the conversation.
            let list = try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/conversations", token: env.f.token(.agentA))
            #expect(list.items.first?["unread_count"] as? Int == 0)
        }
    }

    @Test func moduleRetriesThenTakesTheErrorPathOnTimeout() async throws {
        try await Self.withEngine { env in
            env.fake.enqueue("/flaky", .json(503, "{}"), .json(200, #"{"ok":true}"#))
            env.fake.setDefault("/slow", .hang(seconds: 5))
            try await env.publish("Modules", nodes: [
                Self.node("start", "start"),
                Self.node("flaky", "module", ["module": "http_request", "with": ["url": env.fake.baseURL + "/flaky"],
                                               "retry": ["attempts": 2, "delay_ms": 10]]),
                Self.node("ok1", "send_message", ["text": "flaky recovered"]),
                Self.node("slow", "module", ["module": "http_request", "with": ["url": env.fake.baseURL + "/slow"], "timeout_ms": 200]),
                Self.node("ok2", "send_message", ["text": "slow answered"]),
                Self.node("err", "send_message", ["text": "slow timed out"]),
                Self.node("fail1", "send_message", ["text": "flaky failed"]),
            ], edges: [
                Self.edge("start", "flaky"), Self.edge("flaky", "ok1", "success"), Self.edge("flaky", "fail1", "error"),
                Self.edge("ok1", "slow"), Self.edge("slow", "ok2", "success"), Self.edge("slow", "err", "error"),
            ])
            try await env.say("go")
            #expect(try await env.waitForSent(2) == ["flaky recovered", "slow timed out"])
            #expect(env.fake.requests(to: "/flaky").count == 2)
            try await env.settle()
            #expect(try await env.events("module_failed") == 1)
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM conversation_events WHERE type = 'module_failed' AND data->>'node_id' = 'slow' AND data->>'error' LIKE '%timed out%'
                """) == 1)
        }
    }

    @Test func handoffStopsTheBotUntilAnAgentResumesIt() async throws {
        try await Self.withEngine { env in
            try await env.publish("Handoff", nodes: [
                Self.node("start", "start"),
                Self.node("human", "handoff", ["message": "An agent will take it from here.", "assignee_id": env.f.id(.agentA)]),
                Self.node("back", "send_message", ["text": "The bot is back."]),
            ], edges: [Self.edge("start", "human"), Self.edge("human", "back")])
            try await env.say("I need a human")
            #expect(try await env.waitForSent(1) == ["An agent will take it from here."])
            try await env.settle()
            let list = try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/conversations", token: env.f.token(.agentA))
            let conversation = try #require(list.items.first)
            #expect(conversation["bot_paused"] as? Bool == true && conversation["assignee_id"] as? String == env.f.id(.agentA))
            #expect(try await env.events("handoff") == 1)

            try await env.say("hello?")
            try await env.settle()
            try await Task.sleep(for: .milliseconds(200))
            #expect(env.sent.count == 1, "a paused conversation gets no bot answer")
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE awaiting_bot") == 0)

            let id = try #require(conversation["id"] as? String)
            let resumed = try await env.client.call(.post, "/api/v1/tenants/\(env.f.a)/conversations/\(id)/handover",
                                                    token: env.f.token(.agentA), json: ["paused": false])
            #expect(resumed.status == .ok, "\(resumed.text)")
            try await env.say("thanks")
            #expect(try await env.waitForSent(2).last == "The bot is back.")
        }
    }

    @Test func debounceMergesABurstIntoOneTurn() async throws {
        try await Self.withEngine { env in
            let patched = try await env.client.call(.patch, "/api/v1/tenants/\(env.f.a)", token: env.f.token(.adminA),
                                                    json: ["tools_config": ["debounce_ms": 700]])
            #expect(patched.status == .ok, "\(patched.text)")
            try await env.publish("Echo", nodes: [
                Self.node("start", "start"),
                Self.node("need", "ask", ["question": "What do you need?", "variable": "need"]),
                Self.node("echo", "send_message", ["text": "You said: {{need}}"]),
            ], edges: [Self.edge("start", "need"), Self.edge("need", "echo")])
            try await env.say("hi")
            try await env.say("there")
            try await env.say("anyone?")
            #expect(try await env.waitForSent(1) == ["What do you need?"])
            try await env.say("a new")
            try await env.say("phone")
            let sent = try await env.waitForSent(2)
            try await env.settle()
            #expect(env.sent == ["What do you need?", "You said: a new\nphone"], "\(sent)")
            #expect(try await env.events("flow_started") == 1)
        }
    }

    @Test func conversationsKeepTheVersionTheyStartedWith() async throws {
        try await Self.withEngine { env in
            func definition(_ tag: String) -> [String: Any] {
                ["nodes": [Self.node("start", "start"), Self.node("q", "ask", ["question": "\(tag) question", "variable": "a"]),
                           Self.node("done", "send_message", ["text": "\(tag) answer"]), Self.node("end", "end")],
                 "edges": [Self.edge("start", "q"), Self.edge("q", "done"), Self.edge("done", "end")]]
            }
            let id = try await env.publish("Pinned", nodes: definition("v1")["nodes"] as! [[String: Any]], edges: definition("v1")["edges"] as! [[String: Any]])
            try await env.say("start")
            #expect(try await env.waitForSent(1) == ["v1 question"])

            let flow = try await env.client.call(.get, "/api/v1/tenants/\(env.f.a)/flows/\(id)", token: env.f.token(.adminA))
            let saved = try await FlowTests.save(env.client, "/api/v1/tenants/\(env.f.a)/flows/\(id)", token: env.f.token(.adminA),
                                                 revision: flow.json["revision"] as? Int, ["definition": definition("v2")])
            #expect(saved.status == .ok, "\(saved.text)")
            #expect(try await env.client.call(.post, "/api/v1/tenants/\(env.f.a)/flows/\(id)/publish", token: env.f.token(.adminA)).status == .created)

            try await env.say("my answer")
            let pinned = try await env.waitForSent(2)
            #expect(pinned.last == "v1 answer", "the running conversation stays on version 1: \(pinned)")
            try await env.say("again")
            let restarted = try await env.waitForSent(3)
            #expect(restarted.last == "v2 question", "a new run starts the newest version: \(restarted)")
        }
    }

    @Test func keywordTriggersWinOverTheDefaultFlow() async throws {
        try await Self.withEngine { env in
            try await env.publish("Default", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "default flow"])],
                                  edges: [Self.edge("start", "m")])
            try await env.publish("Billing", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "billing flow"])],
                                  edges: [Self.edge("start", "m")], trigger: ["type": "keywords", "keywords": ["fatura", "boleto"]])
            try await env.publish("Orders", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "orders flow"])],
                                  edges: [Self.edge("start", "m")], trigger: ["type": "regex", "pattern": "^pedido\\s+\\d+$"])
            try await env.say("Quero minha FATURA, por favor")
            #expect(try await env.waitForSent(1).last == "billing flow")
            try await env.say("pedido 123")
            #expect(try await env.waitForSent(2).last == "orders flow")
            try await env.say("faturamento")
            #expect(try await env.waitForSent(3).last == "default flow", "keywords match whole words only")
        }
    }

    @Test func waitNodesResumeWhenTheirTimerRunsOut() async throws {
        try await Self.withEngine { env in
            try await env.publish("Later", nodes: [
                Self.node("start", "start"), Self.node("first", "send_message", ["text": "one moment"]),
                Self.node("pause", "wait", ["seconds": 1]), Self.node("after", "send_message", ["text": "done waiting"]),
            ], edges: [Self.edge("start", "first"), Self.edge("first", "pause"), Self.edge("pause", "after")])
            let started = ContinuousClock.now
            try await env.say("go")
            #expect(try await env.waitForSent(1) == ["one moment"])
            #expect(try await env.waitForSent(2) == ["one moment", "done waiting"])
            #expect(started.duration(to: .now) >= .milliseconds(900))
            try await env.settle()
        }
    }

    /// A server stopped in the middle of a turn: the next one takes the conversation over after the
    /// lease, handles the customer's message, and the reply is sent exactly once.
    @Test func aTurnInterruptedByAStopIsTakenOverAndRepliedOnce() async throws {
        let database = try await TestPostgres.shared.makeDatabase()
        defer { Task { try? await TestPostgres.shared.dropDatabase(database) } }
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        fake.setDefault(Self.messagesPath, .metaSent)
        fake.enqueue("/slow", .hang(seconds: 20))
        fake.setDefault("/slow", .json(200, #"{"ok":true}"#))
        let overrides = Self.overrides(fake, ["ENGINE_LEASE_SECONDS": "3"])

        let first = Task {
            try await TestApp.run(overrides: overrides, database: database) { app, client in
                let f = try await Fixture.make(app)
                _ = try await W.metaProvider(app, tenant: f.tenantA.id, number: W.numberA)
                let env = Env(fake: fake, app: app, client: client, f: f)
                try await env.publish("Slow", nodes: [
                    Self.node("start", "start"),
                    Self.node("call", "module", ["module": "http_request", "with": ["url": fake.baseURL + "/slow"], "timeout_ms": 30_000]),
                    Self.node("done", "send_message", ["text": "done"]), Self.node("failed", "send_message", ["text": "failed"]),
                ], edges: [Self.edge("start", "call"), Self.edge("call", "done", "success"), Self.edge("call", "failed", "error")])
                try await env.say("go")
                // Stopped mid-turn from outside (the task is cancelled), as a crash or a deploy would.
                try await Task.sleep(for: .seconds(300))
            }
        }
        // Generous: the whole suite shares two cores.
        let reached = try await TestApp.eventually(timeout: .seconds(90)) { !fake.requests(to: "/slow").isEmpty }
        #expect(reached, "the first server never got to the module")
        first.cancel()
        _ = await first.result
        #expect(fake.requests(to: Self.messagesPath).isEmpty, "nothing was sent by the stopped server")

        try await TestApp.run(overrides: overrides, database: database) { app, client in
            let sent = try await TestApp.eventually(timeout: .seconds(60)) { !fake.requests(to: Self.messagesPath).isEmpty }
            #expect(sent)
            try await Task.sleep(for: .milliseconds(500))
            let texts = fake.requests(to: Self.messagesPath).compactMap { ($0.json["text"] as? [String: Any])?["body"] as? String }
            #expect(texts == ["done"], "\(texts)")
            #expect(try await app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE awaiting_bot") == 0)
            #expect(try await app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE direction = 'inbound'") == 1)
        }
    }

    /// A reply committed but left in the outbox by a worker that died while sending it is marked
    /// failed once the worker's claim expires, never sent again.
    @Test func outboxRecoveryNeverSendsAnInterruptedReplyAgain() async throws {
        try await Self.withEngine(["ENGINE_LEASE_SECONDS": "1"]) { env in
            try await env.publish("One", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "hello"])],
                                  edges: [Self.edge("start", "m")])
            try await env.say("hi")
            #expect(try await env.waitForSent(1) == ["hello"])
            try await env.settle()
            // A reply as a dead worker leaves it: committed, in the outbox, its claim expired.
            let conversation = try await env.app.db.query("SELECT id::text, customer_id::text FROM active_conversations", logger: env.app.services.logger)
                .decode((String, String).self).first(where: { _ in true })!
            let id = UUID()
            try await env.app.db.query(PostgresQuery(unsafeSQL: """
                INSERT INTO chat_messages (id, tenant_id, conversation_id, customer_id, direction, type, body, payload, status, occurred_at)
                VALUES ('\(id)', '\(env.f.a)', '\(conversation.0)', '\(conversation.1)', 'outbound', 'text', 'maybe delivered',
                        '{"type":"text","text":{"body":"maybe delivered"}}', 'pending', clock_timestamp())
                """), logger: env.app.services.logger)
            try await env.app.db.query(PostgresQuery(unsafeSQL: """
                INSERT INTO engine_outbox (message_id, tenant_id, conversation_id, claim_until)
                VALUES ('\(id)', '\(env.f.a)', '\(conversation.0)', now() - interval '1 second')
                """), logger: env.app.services.logger)
            try await env.settle()
            #expect(env.sent == ["hello"])
            #expect(try await env.app.scalar("""
                SELECT count(*)::int8 FROM chat_messages WHERE body = 'maybe delivered' AND status = 'failed' AND error_title LIKE '%not sent again%'
                """) == 1)
            #expect(try await env.events("message_failed") == 1)
        }
    }

    @Test func engineWorksAcrossTenantsAndNeverCrossesThem() async throws {
        try await Self.withEngine { env in
            try await env.publish("A only", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "tenant A flow"])],
                                  edges: [Self.edge("start", "m")])
            // Tenant B has a number but no flow: its customers get no bot answer.
            _ = try await W.metaProvider(env.app, tenant: env.f.tenantB.id, number: W.numberB)
            let response = try await W.post(env.client, W.payload([W.Change(phoneNumberId: W.numberB, messages: [W.text("wamid.b-1", body: "oi")],
                                                                            contacts: [W.contact()])]))
            #expect(response.status == .ok)
            try await env.say("oi")
            #expect(try await env.waitForSent(1) == ["tenant A flow"])
            try await env.settle()
            #expect(env.fake.requests(to: "/v22.0/\(W.numberB)/messages").isEmpty)
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM chat_messages WHERE direction = 'outbound' AND tenant_id = '\(env.f.b)'") == 0)
        }
    }

    @Test func aiReplyAnswersWithTheConversationAsContext() async throws {
        try await Self.withEngine { env in
            env.fake.setDefault("/v1/chat/completions", .json(200, #"{"choices":[{"message":{"content":"Seu pedido sai hoje."}}]}"#))
            let patched = try await env.client.call(.patch, "/api/v1/tenants/\(env.f.a)", token: env.f.token(.adminA), json: ["tools_config": [
                "ai": ["base_url": env.fake.baseURL, "model": "gpt-test", "key": "sk-engine-test-1234", "system_prompt": "Seja breve."],
            ]])
            #expect(patched.status == .ok, "\(patched.text)")
            try await env.publish("AI", nodes: [
                Self.node("start", "start"),
                Self.node("ai", "module", ["module": "ai_reply", "with": ["history": 5], "save_as": "answer"]),
                Self.node("sorry", "send_message", ["text": "no AI today"]),
                Self.node("end", "end"),
            ], edges: [Self.edge("start", "ai"), Self.edge("ai", "end", "success"), Self.edge("ai", "sorry", "error")])
            try await env.say("Onde está meu pedido?")
            #expect(try await env.waitForSent(1) == ["Seu pedido sai hoje."])
            let request = try #require(env.fake.requests(to: "/v1/chat/completions").first)
            #expect(request.headers["authorization"] == "Bearer sk-engine-test-1234")
            let messages = (request.json["messages"] as? [[String: Any]] ?? []).map { "\($0["role"] ?? ""): \($0["content"] ?? "")" }
            #expect(messages == ["system: Seja breve.", "user: Onde está meu pedido?"])
        }
    }

    /// Turns that end the flow (no state to store) and turns that keep one share the prepared
    /// commit statement on every connection: the state's parameter must keep working either way.
    @Test func finishedAndRunningFlowsAlternateOnEveryConnection() async throws {
        try await Self.withEngine { env in
            try await env.publish("Quick", nodes: [Self.node("start", "start"), Self.node("m", "send_message", ["text": "quick answer"])],
                                  edges: [Self.edge("start", "m")], trigger: ["type": "keywords", "keywords": ["quick"]])
            try await env.publish("Ask", nodes: [Self.node("start", "start"), Self.node("q", "ask", ["question": "Name?", "variable": "name"]),
                                                 Self.node("hi", "send_message", ["text": "Hi {{name}}"])],
                                  edges: [Self.edge("start", "q"), Self.edge("q", "hi")])
            // Eight customers finish a flow in one turn (no state), then eight start one that waits (a state).
            for n in 0..<8 { try await env.say("quick", from: "55119100000\(n)\(n)") }
            _ = try await env.waitForSent(8)
            for n in 0..<8 { try await env.say("hello", from: "55119200000\(n)\(n)") }
            _ = try await env.waitForSent(16)
            for n in 0..<8 { try await env.say("Ana \(n)", from: "55119200000\(n)\(n)") }
            let sent = try await env.waitForSent(24)
            try await env.settle()
            #expect(sent.filter { $0 == "quick answer" }.count == 8 && sent.filter { $0 == "Name?" }.count == 8, "\(sent)")
            #expect(Set(sent.filter { $0.hasPrefix("Hi ") }) == Set((0..<8).map { "Hi Ana \($0)" }))
            #expect(try await env.events("flow_failed") == 0)
        }
    }

    @Test func aHandoffNeverAssignsSomeoneOutsideTheTenant() async throws {
        try await Self.withEngine { env in
            try await env.publish("Foreign", nodes: [Self.node("start", "start"),
                                                     Self.node("human", "handoff", ["assignee_id": env.f.id(.adminB)])],
                                  edges: [Self.edge("start", "human")])
            try await env.say("help")
            try await env.settle()
            #expect(try await env.app.scalar("SELECT count(*)::int8 FROM active_conversations WHERE bot_paused AND assignee_id IS NULL") == 1)
        }
    }
}

import Foundation
import HTTPTypes
import HummingbirdTesting
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Conversations API: agent replies through a fake Graph API, statuses, handover, close, erasure.
@Suite struct ConversationTests {
    typealias W = MetaWebhookTests
    static let messagesPath = "/v22.0/\(W.numberA)/messages"

    static func withConversation(_ body: @Sendable (FakeProviderServer, TestApp, any TestClientProtocol, Fixture, String) async throws -> Void) async throws {
        let fake = try await FakeProviderServer.start()
        defer { fake.stop() }
        try await TestApp.run(overrides: ProviderSendTests.overrides(fake, W.overrides)) { app, client in
            let f = try await Fixture.make(app)
            _ = try await W.metaProvider(app, tenant: f.tenantA.id, number: W.numberA)
            let delivered = try await W.post(client, W.payload([W.Change(phoneNumberId: W.numberA, messages: [W.text("wamid.in-1", body: "Oi")],
                                                                         contacts: [W.contact()])]))
            #expect(delivered.json["stored"] as? Int == 1, "\(delivered.text)")
            let list = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations", token: f.token(.agentA))
            try await body(fake, app, client, f, try #require(list.items.first?["id"] as? String))
        }
    }

    static func wamidReply(_ id: String) -> String {
        #"{"messaging_product":"whatsapp","contacts":[{"input":"5511912345678","wa_id":"5511912345678"}],"messages":[{"id":"\#(id)"}]}"#
    }

    @Test func agentReplyIsSentStoredAndFollowsStatuses() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            let path = "/api/v1/tenants/\(f.a)/conversations/\(id)"
            fake.enqueue(Self.messagesPath, .json(200, Self.wamidReply("wamid.out-1")))
            let reply = try await client.call(.post, path + "/messages", token: f.token(.agentA), json: ["text": "Olá Maria!"])
            #expect(reply.status == .created, "\(reply.text)")
            #expect(reply.json["status"] as? String == "sent" && reply.json["provider_message_id"] as? String == "wamid.out-1")
            #expect(reply.json["sent_by"] as? String == f.id(.agentA))
            let request = try #require(fake.requests(to: Self.messagesPath).first)
            #expect(request.json["to"] as? String == "5511912345678" && (request.json["text"] as? [String: Any])?["body"] as? String == "Olá Maria!")
            #expect(request.headers["authorization"] == "Bearer EAAG-token-\(W.numberA)")
            #expect(try await client.call(.get, path, token: f.token(.agentA)).json["unread_count"] as? Int == 0, "a reply reads the chat")

            func status(_ name: String, _ extra: [String: Any] = [:]) async throws {
                let body = W.payload([W.Change(phoneNumberId: W.numberA, statuses: [
                    ["id": "wamid.out-1", "status": name, "timestamp": "1763800100", "recipient_id": "5511912345678"].merging(extra) { a, _ in a },
                ])])
                #expect(try await W.post(client, body).status == .ok)
            }
            func current() async throws -> [String: Any] {
                try await client.call(.get, path + "/messages", token: f.token(.agentA)).items.first { $0["direction"] as? String == "outbound" } ?? [:]
            }
            try await status("read")
            #expect(try await current()["status"] as? String == "read")
            try await status("delivered")
            #expect(try await current()["status"] as? String == "read", "a late delivered never overwrites read")

            // A failure is stored with Meta's code and title.
            fake.enqueue(Self.messagesPath, .json(200, Self.wamidReply("wamid.out-2")))
            #expect(try await client.call(.post, path + "/messages", token: f.token(.agentA), json: ["text": "Segunda"]).status == .created)
            let failed = W.payload([W.Change(phoneNumberId: W.numberA, statuses: [["id": "wamid.out-2", "status": "failed", "timestamp": "1763800200",
                                                                                  "errors": [["code": 131047, "title": "Re-engagement message"]]]])])
            #expect(try await W.post(client, failed).json["statuses"] as? Int == 1)
            let second = try await client.call(.get, path + "/messages", token: f.token(.agentA)).items.first { $0["provider_message_id"] as? String == "wamid.out-2" }
            #expect(second?["status"] as? String == "failed" && second?["error_code"] as? String == "131047")
            #expect(second?["error_title"] as? String == "Re-engagement message")
            // A status that overtakes the send's own answer is applied once the answer names the message.
            let early = W.payload([W.Change(phoneNumberId: W.numberA, statuses: [["id": "wamid.out-3", "status": "delivered", "timestamp": "1763800300"]])])
            #expect(try await W.post(client, early).status == .ok)
            fake.enqueue(Self.messagesPath, .json(200, Self.wamidReply("wamid.out-3")))
            let third = try await client.call(.post, path + "/messages", token: f.token(.agentA), json: ["text": "Terceira"])
            #expect(third.json["status"] as? String == "delivered", "\(third.text)")
            let events = try await W.scalar(app, "SELECT count(*)::int8 FROM conversation_events WHERE type = 'message_sent'")
            #expect(events == 3)
        }
    }

    @Test func aFailedSendIsStoredAsFailedAndReported() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            fake.enqueue(Self.messagesPath, .json(401, #"{"error":{"message":"Session has expired","type":"OAuthException","code":190}}"#))
            let reply = try await client.call(.post, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.adminA), json: ["text": "Oi"])
            #expect(reply.status == .badGateway && reply.code == "provider_token_expired", "\(reply.text)")
            let stored = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.adminA)).items
            let outbound = stored.first { $0["direction"] as? String == "outbound" }
            #expect(outbound?["status"] as? String == "failed" && (outbound?["error_code"] as? String)?.hasPrefix("provider_token_expired") == true)
            #expect(outbound?["provider_message_id"] == nil)
            // Viewers read but do not write; blank text is refused before anything is sent.
            let viewer = try await client.call(.post, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.viewerA), json: ["text": "x"])
            #expect(viewer.status == .forbidden)
            let blank = try await client.call(.post, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.agentA), json: ["text": "  "])
            #expect(blank.status == .unprocessableContent)
            #expect(fake.requests(to: Self.messagesPath).count == 1)
        }
    }

    @Test func handoverPausesAssignsAndResumes() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            let path = "/api/v1/tenants/\(f.a)/conversations/\(id)/handover"
            let paused = try await client.call(.post, path, token: f.token(.agentA), json: ["paused": true, "assignee_id": f.id(.agentA)])
            #expect(paused.status == .ok, "\(paused.text)")
            #expect(paused.json["bot_paused"] as? Bool == true && paused.json["assignee_id"] as? String == f.id(.agentA))
            let filtered = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations?bot_paused=true&assignee_id=\(f.id(.agentA))",
                                                 token: f.token(.viewerA))
            #expect(filtered.items.count == 1)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations?bot_paused=false", token: f.token(.viewerA)).items.isEmpty)
            // Only agents and admins of this tenant can be assigned.
            for bad in [f.id(.viewerA), f.id(.adminB), UUID().uuidString] {
                let refused = try await client.call(.post, path, token: f.token(.agentA), json: ["paused": true, "assignee_id": bad])
                #expect(refused.status == .unprocessableContent, "\(bad)")
            }
            #expect(try await client.call(.post, path, token: f.token(.viewerA), json: ["paused": false]).status == .forbidden)
            let resumed = try await client.call(.post, path, token: f.token(.adminA), json: ["paused": false])
            #expect(resumed.json["bot_paused"] as? Bool == false && resumed.json["assignee_id"] == nil)
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM conversation_events WHERE type IN ('handoff', 'bot_resumed')") == 2)
        }
    }

    @Test func closingEndsTheConversationAndTheNextMessageOpensANewOne() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            let path = "/api/v1/tenants/\(f.a)/conversations/\(id)"
            let closed = try await client.call(.post, path + "/close", token: f.token(.agentA))
            #expect(closed.status == .ok && closed.json["status"] as? String == "closed" && closed.json["closed_at"] is String)
            let again = try await client.call(.post, path + "/close", token: f.token(.agentA))
            #expect(again.status == .conflict && again.code == "conversation_closed")
            let reply = try await client.call(.post, path + "/messages", token: f.token(.agentA), json: ["text": "Oi"])
            #expect(reply.status == .conflict && reply.code == "conversation_closed")
            #expect(try await W.post(client, W.payload([W.Change(phoneNumberId: W.numberA, messages: [W.text("wamid.in-2")])])).json["stored"] as? Int == 1)
            let open = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations?status=open", token: f.token(.agentA))
            #expect(open.items.count == 1 && open.items.first?["id"] as? String != id)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations", token: f.token(.agentA)).items.count == 2)
        }
    }

    @Test func erasingACustomerRemovesPersonalDataButKeepsCounts() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            let conversation = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations/\(id)", token: f.token(.adminA))
            let customer = try #require((conversation.json["customer"] as? [String: Any])?["id"] as? String)
            let path = "/api/v1/tenants/\(f.a)/customers/\(customer)/erase"
            #expect(try await client.call(.post, path, token: f.token(.agentA)).status == .forbidden)
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.b)/customers/\(customer)/erase", token: f.token(.adminB)).status == .notFound)
            #expect(try await client.call(.post, path, token: f.token(.adminA)).status == .noContent)
            #expect(try await client.call(.post, path, token: f.token(.adminA)).code == "customer_erased")

            let after = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations/\(id)", token: f.token(.adminA))
            let shown = after.json["customer"] as? [String: Any]
            #expect(shown?["erased"] as? Bool == true && shown?["wa_id"] == nil && shown?["profile_name"] == nil)
            #expect(after.json["status"] as? String == "closed")
            let messages = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.adminA))
            #expect(messages.items.count == 1 && messages.items.first?["body"] == nil)
            #expect(!messages.text.contains("Oi") && !messages.text.contains("5511912345678"))
            // Nothing personal left in the tables, counts intact, erasure audited.
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM customers WHERE wa_id = '5511912345678' OR profile_name IS NOT NULL") == 0)
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE payload::text LIKE '%5511912345678%' OR body IS NOT NULL") == 0)
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM conversation_events WHERE type = 'message_received'") == 1)
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM audit_logs WHERE action = 'customer.erase'") == 1)
            // The same number writing again is a new customer.
            #expect(try await W.post(client, W.payload([W.Change(phoneNumberId: W.numberA, messages: [W.text("wamid.in-3")])])).json["stored"] as? Int == 1)
            #expect(try await W.scalar(app, "SELECT count(*)::int8 FROM customers") == 2)
        }
    }

    @Test func everyConversationEndpointIsTenantScoped() async throws {
        try await Self.withConversation { fake, app, client, f, id in
            let a = "/api/v1/tenants/\(f.a)/conversations/\(id)"
            let throughB = "/api/v1/tenants/\(f.b)/conversations/\(id)"
            let attempts: [(HTTPRequest.Method, String, [String: Any]?)] = [
                (.get, "", nil), (.get, "/messages", nil), (.post, "/messages", ["text": "x"]),
                (.post, "/handover", ["paused": true]), (.post, "/close", nil),
            ]
            for (method, suffix, body) in attempts {
                let other = try await client.call(method, a + suffix, token: f.token(.adminB), json: body)
                #expect(other.status == .notFound, "\(method) \(suffix) as admin of B: \(other.status)")
                let wrongPath = try await client.call(method, throughB + suffix, token: f.token(.adminB), json: body)
                #expect(wrongPath.status == .notFound, "\(method) \(suffix) through B's path")
                let anonymous = try await client.call(method, a + suffix, json: body)
                #expect(anonymous.status == .unauthorized)
            }
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations", token: f.token(.adminB)).status == .notFound)
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.b)/conversations", token: f.token(.adminB)).items.isEmpty)
            #expect(fake.requests.isEmpty, "nothing was sent on anyone's behalf")
            #expect(try await client.call(.get, a, token: f.token(.agentA)).json["status"] as? String == "open")
        }
    }
}

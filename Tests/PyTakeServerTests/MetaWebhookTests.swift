import Foundation
import HTTPTypes
import HummingbirdTesting
import NIOCore
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Meta's webhook: verification, signatures, routing, idempotency, statuses.
@Suite struct MetaWebhookTests {
    static let appSecret = "app-secret-for-webhook-tests"
    static let verifyToken = "verify-token-for-tests"
    static let overrides = ["META_APP_SECRET": appSecret, "META_VERIFY_TOKEN": verifyToken]
    static let numberA = "106540352242922"
    static let numberB = "106540352249999"

    struct Change {
        var phoneNumberId: String?
        var display: String?
        var messages: [[String: Any]] = []
        var statuses: [[String: Any]] = []
        var contacts: [[String: Any]] = []
    }

    static func payload(_ changes: [Change], object: String = "whatsapp_business_account") -> String {
        let entry: [String: Any] = ["id": "102290129340398", "changes": changes.map { change -> [String: Any] in
            var metadata: [String: Any] = [:]
            if let id = change.phoneNumberId { metadata["phone_number_id"] = id }
            if let display = change.display { metadata["display_phone_number"] = display }
            var value: [String: Any] = ["messaging_product": "whatsapp", "metadata": metadata]
            if !change.messages.isEmpty { value["messages"] = change.messages }
            if !change.statuses.isEmpty { value["statuses"] = change.statuses }
            if !change.contacts.isEmpty { value["contacts"] = change.contacts }
            return ["field": "messages", "value": value]
        }]
        let data = try! JSONSerialization.data(withJSONObject: ["object": object, "entry": [entry]], options: [.sortedKeys])
        return String(decoding: data, as: UTF8.self)
    }

    static func text(_ wamid: String, from: String = "5511912345678", body: String = "Oi", at: Int = 1_763_800_000) -> [String: Any] {
        ["from": from, "id": wamid, "timestamp": String(at), "type": "text", "text": ["body": body]]
    }

    static func contact(_ waId: String = "5511912345678", name: String = "Maria") -> [String: Any] {
        ["wa_id": waId, "profile": ["name": name]]
    }

    static func post(_ client: some TestClientProtocol, _ body: String, secret: String? = appSecret,
                     signature: String? = nil) async throws -> APIResponse {
        var headers: HTTPFields = [.contentType: "application/json"]
        if let header = signature ?? secret.map({ MetaWebhook.signature(Array(body.utf8), secret: $0) }) {
            headers[HTTPField.Name("X-Hub-Signature-256")!] = header
        }
        return try await client.call(.post, "/meta/webhook", json: body, headers: headers)
    }

    /// A tenant with an active meta provider for `number`.
    static func metaProvider(_ app: TestApp, tenant: UUID, number: String, display: String? = nil, appSecret: String? = nil) async throws -> Provider {
        try await app.services.providers.create(tenantId: tenant, ProviderInput(
            type: .meta, name: "meta-\(number.suffix(4))", token: "EAAG-token-\(number)", appSecret: appSecret,
            config: ProviderConfig(phoneNumberId: number, displayPhoneNumber: display)), identity: nil, actor: .cli)
    }

    static func scalar(_ app: TestApp, _ sql: String) async throws -> Int {
        try await app.db.query(PostgresQuery(unsafeSQL: sql), logger: app.services.logger).decode(Int.self).first(where: { _ in true }) ?? -1
    }

    @Test func verificationHandshake() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let ok = try await client.call(.get, "/meta/webhook?hub.mode=subscribe&hub.verify_token=\(Self.verifyToken)&hub.challenge=1158201444")
            #expect(ok.status == .ok && ok.text == "1158201444")
            #expect(ok.headers[.contentType]?.hasPrefix("text/plain") == true)
            for query in ["hub.mode=subscribe&hub.verify_token=wrong&hub.challenge=1", "hub.mode=unsubscribe&hub.verify_token=\(Self.verifyToken)&hub.challenge=1",
                          "hub.mode=subscribe&hub.challenge=1", ""] {
                let refused = try await client.call(.get, "/meta/webhook?\(query)")
                #expect(refused.status == .forbidden && refused.code == "webhook_verification_failed", "\(query)")
            }
            #expect(try await client.call(.put, "/meta/webhook").status == .methodNotAllowed)
        }
        // Without a configured verify token nothing verifies.
        try await TestApp.run { app, client in
            let response = try await client.call(.get, "/meta/webhook?hub.mode=subscribe&hub.verify_token=&hub.challenge=1")
            #expect(response.status == .forbidden)
        }
    }

    @Test func signaturesAreCheckedOverTheExactBytes() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA)
            let body = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.sig-1")], contacts: [Self.contact()])])

            let missing = try await Self.post(client, body, secret: nil)
            #expect(missing.status == .unauthorized && missing.code == "signature_missing")
            let wrong = try await Self.post(client, body, secret: "not-the-secret")
            #expect(wrong.status == .unauthorized && wrong.code == "signature_invalid")
            let garbled = try await Self.post(client, body, signature: "sha256=zz")
            #expect(garbled.status == .unauthorized)
            // Same JSON, re-serialised with other whitespace: the signature of the original no longer matches.
            let pretty = String(decoding: try JSONSerialization.data(withJSONObject: try JSONSerialization.jsonObject(with: Data(body.utf8)),
                                                                     options: [.prettyPrinted]), as: UTF8.self)
            let reserialised = try await Self.post(client, pretty, signature: MetaWebhook.signature(Array(body.utf8), secret: Self.appSecret))
            #expect(reserialised.status == .unauthorized)
            #expect(try await app.count("chat_messages") == 0)

            let ok = try await Self.post(client, body)
            #expect(ok.status == .ok, "\(ok.text)")
            #expect(ok.json["stored"] as? Int == 1 && ok.json["duplicates"] as? Int == 0)
            #expect(try await app.count("chat_messages") == 1)

            // Malformed or foreign payloads, correctly signed: 400, nothing stored.
            let notJSON = try await Self.post(client, "{not json")
            #expect(notJSON.status == .badRequest && notJSON.code == "invalid_request")
            let page = try await Self.post(client, Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.page")])], object: "page"))
            #expect(page.status == .badRequest && page.code == "not_whatsapp")
            // Unsigned garbage is a signature problem, not a parser report.
            #expect(try await Self.post(client, "{not json", secret: "wrong").status == .unauthorized)
            #expect(try await app.count("chat_messages") == 1)
        }
    }

    @Test func aProviderAppSecretVouchesOnlyForItsOwnNumber() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA, appSecret: "tenant-a-own-secret")
            _ = try await Self.metaProvider(app, tenant: f.tenantB.id, number: Self.numberB)
            let own = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.own-1")])])
            let signedOwn = try await Self.post(client, own, secret: "tenant-a-own-secret")
            #expect(signedOwn.status == .ok && signedOwn.json["stored"] as? Int == 1, "\(signedOwn.text)")
            // The platform secret does not vouch for a number with its own secret…
            let globalForA = try await Self.post(client, Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.global-a")])]))
            #expect(globalForA.status == .ok && globalForA.json["stored"] as? Int == 0)
            // …and tenant A's secret cannot forge messages for tenant B's number, even mixed with its own.
            let forged = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.own-2")]),
                                       Change(phoneNumberId: Self.numberB, messages: [Self.text("wamid.forged")])])
            let mixed = try await Self.post(client, forged, secret: "tenant-a-own-secret")
            #expect(mixed.status == .ok && mixed.json["stored"] as? Int == 1)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE tenant_id = '\(f.b)'") == 0)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE provider_message_id = 'wamid.forged'") == 0)
        }
    }

    @Test func redeliveriesStoreNothingNewEvenConcurrently() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA)
            let body = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.dup-1", body: "Quero um orçamento")],
                                            contacts: [Self.contact()])])
            #expect(try await Self.post(client, body).json["stored"] as? Int == 1)
            let again = try await Self.post(client, body)
            #expect(again.status == .ok && again.json["stored"] as? Int == 0 && again.json["duplicates"] as? Int == 1)

            let concurrent = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.dup-2", from: "5511900000002")])])
            let results = try await withThrowingTaskGroup(of: APIResponse.self) { group in
                for _ in 0..<12 { group.addTask { try await Self.post(client, concurrent) } }
                return try await group.reduce(into: []) { $0.append($1) }
            }
            #expect(results.allSatisfy { $0.status == .ok })
            #expect(results.compactMap { $0.json["stored"] as? Int }.reduce(0, +) == 1)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE provider_message_id = 'wamid.dup-2'") == 1)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM conversation_events WHERE type = 'message_received'") == 2)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM customers") == 2)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM active_conversations") == 2)
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM conversation_events WHERE type = 'conversation_started'") == 2)
        }
    }

    @Test func routingByNumberDisplayNumberAndAcrossTenants() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA, display: "+1 555-000-1111")
            _ = try await Self.metaProvider(app, tenant: f.tenantB.id, number: Self.numberB)
            let body = Self.payload([
                Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.a1", from: "5511911111111"), Self.text("wamid.a2", from: "5511922222222")]),
                Change(phoneNumberId: Self.numberB, messages: [Self.text("wamid.b1", from: "5511933333333")]),
                // No id, but a display number we know: routed to tenant A.
                Change(phoneNumberId: nil, display: "15550001111", messages: [Self.text("wamid.a3", from: "5511944444444")]),
                // An id nobody claims is unroutable even when its display number matches a tenant.
                Change(phoneNumberId: "999", display: "15550001111", messages: [Self.text("wamid.squat")]),
                Change(phoneNumberId: "888", display: "15559999999", messages: [Self.text("wamid.nobody")]),
            ])
            let response = try await Self.post(client, body)
            #expect(response.status == .ok, "\(response.text)")
            #expect(response.json["stored"] as? Int == 4 && response.json["unroutable"] as? Int == 2)
            let a = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations", token: f.token(.agentA))
            #expect(Set(a.items.compactMap { ($0["customer"] as? [String: Any])?["wa_id"] as? String })
                    == ["5511911111111", "5511922222222", "5511944444444"])
            let b = try await client.call(.get, "/api/v1/tenants/\(f.b)/conversations", token: f.token(.adminB))
            #expect(b.items.compactMap { ($0["customer"] as? [String: Any])?["wa_id"] as? String } == ["5511933333333"])
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE provider_message_id = 'wamid.nobody'") == 0)

            // An inactive provider or a suspended tenant no longer receives.
            _ = try await client.call(.patch, "/api/v1/tenants/\(f.b)", token: f.token(.platformAdmin), json: ["status": "suspended"])
            let suspended = try await Self.post(client, Self.payload([Change(phoneNumberId: Self.numberB, messages: [Self.text("wamid.b2")])]))
            #expect(suspended.json["unroutable"] as? Int == 1)
        }
    }

    @Test func absurdTimestampsAreStoredAsNowNotACrash() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA)
            var messages: [[String: Any]] = []
            for (i, stamp) in ["1e13", "nan", "-5", "inf", "99999999999999999999"].enumerated() {
                var message = Self.text("wamid.time-\(i)")
                message["timestamp"] = stamp
                messages.append(message)
            }
            let response = try await Self.post(client, Self.payload([Change(phoneNumberId: Self.numberA, messages: messages)]))
            #expect(response.status == .ok && response.json["stored"] as? Int == 5, "\(response.text)")
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE occurred_at > now() - interval '1 minute'") == 5)
        }
    }

    @Test func everyMessageTypeIsKept() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA)
            let from = "5511912345678"
            func message(_ id: String, _ type: String, _ content: [String: Any]) -> [String: Any] {
                ["from": from, "id": id, "timestamp": "1763800000", "type": type].merging(content) { a, _ in a }
            }
            let messages: [[String: Any]] = [
                Self.text("wamid.t", body: "Olá"),
                message("wamid.i", "image", ["image": ["id": "img-1", "mime_type": "image/jpeg", "sha256": "abc", "caption": "Foto"]]),
                message("wamid.a", "audio", ["audio": ["id": "aud-1", "mime_type": "audio/ogg; codecs=opus", "voice": true]]),
                message("wamid.d", "document", ["document": ["id": "doc-1", "filename": "nota.pdf", "caption": "Nota fiscal"]]),
                message("wamid.b", "interactive", ["interactive": ["type": "button_reply", "button_reply": ["id": "yes", "title": "Sim"]]]),
                message("wamid.l", "interactive", ["interactive": ["type": "list_reply", "list_reply": ["id": "p2", "title": "Plano Pro", "description": "R$ 99"]]]),
                message("wamid.g", "location", ["location": ["latitude": -23.55, "longitude": -46.63, "name": "Escritório"]]),
                message("wamid.r", "reaction", ["reaction": ["message_id": "wamid.x", "emoji": "👍"]]),
            ]
            let response = try await Self.post(client, Self.payload([Change(phoneNumberId: Self.numberA, messages: messages, contacts: [Self.contact()])]))
            #expect(response.json["stored"] as? Int == 8, "\(response.text)")
            let conversation = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations", token: f.token(.viewerA)).items.first
            let id = try #require(conversation?["id"] as? String)
            #expect(conversation?["unread_count"] as? Int == 8)
            #expect((conversation?["customer"] as? [String: Any])?["profile_name"] as? String == "Maria")
            let list = try await client.call(.get, "/api/v1/tenants/\(f.a)/conversations/\(id)/messages", token: f.token(.viewerA))
            #expect(list.status == .ok, "\(list.text)")
            let stored = list.items
            let byId = Dictionary(uniqueKeysWithValues: stored.map { ($0["provider_message_id"] as? String ?? "", $0) })
            #expect(byId["wamid.t"]?["body"] as? String == "Olá")
            #expect(byId["wamid.i"]?["type"] as? String == "image" && byId["wamid.i"]?["body"] as? String == "Foto")
            #expect(((byId["wamid.i"]?["payload"] as? [String: Any])?["image"] as? [String: Any])?["id"] as? String == "img-1")
            #expect(byId["wamid.a"]?["type"] as? String == "audio" && byId["wamid.a"]?["body"] as? String == nil)
            #expect(byId["wamid.d"]?["body"] as? String == "Nota fiscal")
            #expect(byId["wamid.b"]?["body"] as? String == "Sim" && byId["wamid.l"]?["body"] as? String == "Plano Pro")
            #expect(byId["wamid.g"]?["body"] as? String == "Escritório")
            #expect(byId["wamid.r"]?["type"] as? String == "reaction")
            #expect(((byId["wamid.r"]?["payload"] as? [String: Any])?["reaction"] as? [String: Any])?["emoji"] as? String == "👍")
            #expect(stored.allSatisfy { $0["direction"] as? String == "inbound" && $0["status"] as? String == "received" })
        }
    }

    @Test func largeBodiesAreRefusedAndTheLimitIsTheWebhooks() async throws {
        try await TestApp.run(overrides: Self.overrides) { app, client in
            let f = try await Fixture.make(app)
            _ = try await Self.metaProvider(app, tenant: f.tenantA.id, number: Self.numberA)
            // 2 MB is over the API's limit but within the webhook's 3 MB.
            let big = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.big", body: String(repeating: "a", count: 2 << 20))])])
            #expect(try await Self.post(client, big).status == .ok)
            let huge = Self.payload([Change(phoneNumberId: Self.numberA, messages: [Self.text("wamid.huge", body: String(repeating: "a", count: 4 << 20))])])
            let refused = try await Self.post(client, huge)
            #expect(refused.status == .contentTooLarge && refused.code == "payload_too_large")
            #expect(try await Self.scalar(app, "SELECT count(*)::int8 FROM chat_messages WHERE provider_message_id = 'wamid.huge'") == 0)
        }
    }
}

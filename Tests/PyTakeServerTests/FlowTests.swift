import Foundation
import HTTPTypes
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Flow definitions through the API: drafts with optimistic concurrency, publishing, versions,
/// rollback, validation, roles and tenant isolation.
@Suite struct FlowTests {
    static let ifMatch = HTTPField.Name("If-Match")!

    nonisolated(unsafe) static let valid: [String: Any] = [
        "nodes": [
            ["id": "start", "type": "start", "config": [:] as [String: Any], "position": ["x": 0, "y": 0]],
            ["id": "hello", "type": "send_message", "config": ["text": "Olá {{customer_name}}!"], "position": ["x": 200, "y": 0]],
            ["id": "bye", "type": "end", "config": [:] as [String: Any], "position": ["x": 400, "y": 0]],
        ],
        "edges": [["from": "start", "outcome": "next", "to": "hello"], ["from": "hello", "outcome": "next", "to": "bye"]],
    ]

    static func save(_ client: some TestClientProtocol, _ path: String, token: String, revision: Int?, _ body: [String: Any]) async throws -> APIResponse {
        var headers: HTTPFields = [:]
        if let revision { headers[ifMatch] = "\"\(revision)\"" }
        return try await client.call(.put, path, token: token, json: body, headers: headers)
    }

    @Test func draftsSaveWithOptimisticConcurrencyAndPublishVersions() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "Boas-vindas"])
            #expect(created.status == .created, "\(created.text)")
            #expect(created.json["revision"] as? Int == 1 && created.json["published_version"] == nil)
            let warnings = (created.json["problems"] as? [[String: Any]])?.compactMap { $0["code"] as? String }
            #expect(warnings == ["missing_outcome"], "a new draft is a lone start node: warned, not refused")
            let id = try #require(created.json["id"] as? String)
            let path = "/api/v1/tenants/\(f.a)/flows/\(id)"

            // Publishing the lone start node is refused, naming the node.
            let refused = try await client.call(.post, path + "/publish", token: f.token(.adminA))
            #expect(refused.status == .unprocessableContent && refused.code == "flow_invalid")
            #expect((refused.json["problems"] as? [[String: Any]])?.first?["node_id"] as? String == "start")

            let noRevision = try await Self.save(client, path, token: f.token(.adminA), revision: nil, ["definition": Self.valid])
            #expect(noRevision.status.code == 428 && noRevision.code == "revision_required")
            let saved = try await Self.save(client, path, token: f.token(.adminA), revision: 1, ["definition": Self.valid])
            #expect(saved.status == .ok && saved.json["revision"] as? Int == 2, "\(saved.text)")
            #expect((saved.json["problems"] as? [Any])?.isEmpty == true)
            // Someone else saved in between: the stale revision is refused and nothing changes.
            let stale = try await Self.save(client, path, token: f.token(.platformAdmin), revision: 1, ["name": "Overwritten"])
            #expect(stale.status == .conflict && stale.code == "draft_conflict")
            #expect(try await client.call(.get, path, token: f.token(.viewerA)).json["name"] as? String == "Boas-vindas")

            let v1 = try await client.call(.post, path + "/publish", token: f.token(.adminA))
            #expect(v1.status == .created && v1.json["version"] as? Int == 1, "\(v1.text)")
            var changed = Self.valid
            var nodes = changed["nodes"] as! [[String: Any]]
            nodes[1]["config"] = ["text": "Oi de novo"]
            changed["nodes"] = nodes
            #expect(try await Self.save(client, path, token: f.token(.adminA), revision: 2, ["definition": changed]).status == .ok)
            let v2 = try await client.call(.post, path + "/publish", token: f.token(.adminA))
            #expect(v2.json["version"] as? Int == 2)

            let rollback = try await client.call(.post, path + "/rollback", token: f.token(.adminA), json: ["version": 1])
            #expect(rollback.status == .created && rollback.json["version"] as? Int == 3 && rollback.json["copied_from"] as? Int == 1)
            let restored = (((rollback.json["definition"] as? [String: Any])?["nodes"] as? [[String: Any]])?[1]["config"] as? [String: Any])?["text"]
            #expect(restored as? String == "Olá {{customer_name}}!")
            #expect(try await client.call(.post, path + "/rollback", token: f.token(.adminA), json: ["version": 9]).status == .notFound)

            let versions = try await client.call(.get, path + "/versions", token: f.token(.agentA))
            #expect(versions.items.compactMap { $0["version"] as? Int } == [3, 2, 1])
            #expect(try await client.call(.get, path, token: f.token(.agentA)).json["published_version"] as? Int == 3)
            let audit = try await client.call(.get, "/api/v1/tenants/\(f.a)/audit-log", token: f.token(.adminA))
            #expect(Set(audit.items.compactMap { $0["action"] as? String }.filter { $0.hasPrefix("flow.") })
                    == ["flow.create", "flow.save", "flow.publish", "flow.rollback"])
        }
    }

    @Test func validateReportsEveryProblemWithItsNode() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let broken: [String: Any] = [
                "nodes": [
                    ["id": "start", "type": "start"], ["id": "ask", "type": "ask", "config": ["question": "Nome?", "variable": "name"]],
                    ["id": "odd", "type": "teleport"], ["id": "say", "type": "send_message", "config": ["text": "Oi {{nickname}}"]],
                ],
                "edges": [["from": "start", "outcome": "next", "to": "ask"], ["from": "ask", "outcome": "next", "to": "nowhere"]],
            ]
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA),
                                                json: ["name": "Broken", "definition": broken, "trigger": ["type": "regex", "pattern": "(["]])
            #expect(created.status == .created, "\(created.text)")
            let id = try #require(created.json["id"] as? String)
            let validation = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows/\(id)/validate", token: f.token(.viewerA))
            #expect(validation.status == .ok && validation.json["valid"] as? Bool == false)
            let found = Set(((validation.json["problems"] as? [[String: Any]]) ?? []).map { "\($0["code"] as? String ?? "")@\($0["node_id"] as? String ?? "-")" })
            #expect(found == ["invalid_trigger@-", "dangling_edge@ask", "missing_outcome@ask", "unknown_node_type@odd", "unreachable_node@odd",
                              "missing_outcome@say", "undefined_variable@say", "unreachable_node@say"], "\(found)")
        }
    }

    @Test func rolesAndTenantsAreRespected() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let created = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "Main", "definition": Self.valid])
            let id = try #require(created.json["id"] as? String)
            let path = "/api/v1/tenants/\(f.a)/flows/\(id)"
            for who in [Fixture.Who.agentA, .viewerA] {
                #expect(try await client.call(.get, path, token: f.token(who)).status == .ok)
                #expect(try await client.call(.get, "/api/v1/tenants/\(f.a)/flows", token: f.token(who)).items.count == 1)
                #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(who), json: ["name": "X"]).status == .forbidden)
                #expect(try await Self.save(client, path, token: f.token(who), revision: 1, ["name": "X"]).status == .forbidden)
                #expect(try await client.call(.post, path + "/publish", token: f.token(who)).status == .forbidden)
                #expect(try await client.call(.delete, path, token: f.token(who)).status == .forbidden)
            }
            for (method, suffix) in [(HTTPRequest.Method.get, ""), (.post, "/publish"), (.get, "/versions"), (.post, "/validate"), (.delete, "")] {
                #expect(try await client.call(method, path + suffix, token: f.token(.adminB)).status == .notFound, "\(method) \(suffix)")
                #expect(try await client.call(method, "/api/v1/tenants/\(f.b)/flows/\(id)\(suffix)", token: f.token(.adminB)).status == .notFound)
            }
            #expect(try await client.call(.get, "/api/v1/tenants/\(f.b)/flows", token: f.token(.adminB)).items.isEmpty)

            let duplicate = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "MAIN"])
            #expect(duplicate.status == .conflict && duplicate.code == "flow_name_taken")
            #expect(try await client.call(.delete, path, token: f.token(.adminA)).status == .noContent)
            #expect(try await client.call(.get, path, token: f.token(.adminA)).status == .notFound)
            #expect(try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "Main"]).status == .created,
                    "a deleted flow's name is free again")
            let bad = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA), json: ["name": "  "])
            #expect(bad.status == .unprocessableContent)
            let malformed = try await client.call(.post, "/api/v1/tenants/\(f.a)/flows", token: f.token(.adminA),
                                                  json: ["name": "M", "definition": ["nodes": "many"]])
            #expect(malformed.status == .badRequest)
        }
    }
}

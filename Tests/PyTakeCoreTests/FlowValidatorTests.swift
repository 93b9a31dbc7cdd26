import Foundation
@testable import PyTakeCore
import Testing

/// Every validation rule, each with a definition that breaks it and the valid one that does not.
@Suite struct FlowValidatorTests {
    typealias Node = FlowDefinition.Node
    typealias Edge = FlowDefinition.Edge

    struct Catalog: ModuleCatalog {
        func check(module name: String, with config: [String: JSONValue]) -> [String]? {
            guard name == "http_request" else { return nil }
            return config["url"]?.string == nil ? ["'url' is required"] : []
        }
    }

    static func node(_ id: String, _ type: String, _ config: [String: JSONValue] = [:]) -> Node {
        Node(id: id, type: type, config: config, position: .init(x: 0, y: 0))
    }

    /// A valid flow using every node type.
    static let valid = FlowDefinition(nodes: [
        node("start", "start"),
        node("hello", "send_message", ["text": .string("Olá {{customer_name}}!")]),
        node("ask", "ask", ["question": .string("Qual plano?"), "variable": .string("plan"), "validation": .string("choice"),
                            "choices": .array([.string("Básico"), .string("Pro")])]),
        node("check", "condition", ["variable": .string("plan"), "operator": .string("equals"), "value": .string("Pro")]),
        node("set", "set_variable", ["variable": .string("tier"), "value": .string("{{plan}}-1")]),
        node("call", "module", ["module": .string("http_request"), "with": .object(["url": .string("https://api.example/{{tier}}")]),
                                "save_as": .string("api")]),
        node("wait", "wait", ["seconds": .number(5)]),
        node("human", "handoff"),
        node("end", "end"),
    ], edges: [
        Edge(from: "start", outcome: "next", to: "hello"), Edge(from: "hello", outcome: "next", to: "ask"),
        Edge(from: "ask", outcome: "next", to: "check"), Edge(from: "check", outcome: "true", to: "set"),
        Edge(from: "check", outcome: "false", to: "human"), Edge(from: "set", outcome: "next", to: "call"),
        Edge(from: "call", outcome: "success", to: "wait"), Edge(from: "call", outcome: "error", to: "human"),
        Edge(from: "wait", outcome: "next", to: "end"),
    ])

    static func codes(_ flow: FlowDefinition, trigger: FlowTrigger = FlowTrigger(type: .default)) -> [String] {
        FlowValidator.validate(flow, trigger: trigger, modules: Catalog()).map { "\($0.code)@\($0.nodeId ?? "-")" }
    }

    /// The reference flow with one configuration key of node `index` changed (nil removes it).
    static func with(_ index: Int, _ key: String, _ value: JSONValue?) -> FlowDefinition {
        var flow = valid
        var config = flow.nodes[index].config ?? [:]
        config[key] = value
        flow.nodes[index].config = config
        return flow
    }

    static func mutate(_ change: (inout FlowDefinition) -> Void) -> FlowDefinition {
        var flow = valid
        change(&flow)
        return flow
    }

    @Test func theReferenceFlowIsValid() {
        #expect(Self.codes(Self.valid) == [])
    }

    @Test func startNodes() {
        #expect(Self.codes(Self.mutate { $0.nodes.removeFirst(); $0.edges.removeFirst() }).contains("missing_start@-"))
        #expect(Self.codes(Self.mutate { $0.nodes.append(Self.node("start2", "start")) }).contains("multiple_start@start2"))
        #expect(Self.codes(Self.mutate { $0.nodes.append(Self.node("hello", "end")) }).contains("duplicate_node@hello"))
    }

    @Test func nodeTypesAndOutcomes() {
        #expect(Self.codes(Self.mutate { $0.nodes[8].type = "teleport" }) == ["unknown_node_type@end"])
        #expect(Self.codes(Self.mutate { $0.edges.removeLast() }).contains("missing_outcome@wait"))
        #expect(Self.codes(Self.mutate { $0.edges.removeAll { $0.from == "check" && $0.outcome == "false" } }).contains("missing_outcome@check"))
        #expect(Self.codes(Self.mutate { $0.edges.append(Edge(from: "hello", outcome: "maybe", to: "end")) }) == ["unknown_outcome@hello"])
        #expect(Self.codes(Self.mutate { $0.edges.append(Edge(from: "hello", outcome: "next", to: "end")) }) == ["duplicate_edge@hello"])
        #expect(Self.codes(Self.mutate { $0.edges.append(Edge(from: "end", outcome: "next", to: "hello")) }) == ["unknown_outcome@end"])
    }

    @Test func danglingEdgesAndUnreachableNodes() {
        #expect(Self.codes(Self.mutate { $0.edges.append(Edge(from: "ghost", outcome: "next", to: "end")) }) == ["dangling_edge@-"])
        #expect(Self.codes(Self.mutate { $0.edges[0].to = "nowhere" }).contains("dangling_edge@start"))
        let island = Self.mutate { $0.nodes.append(Self.node("island", "send_message", ["text": .string("?")]))
            $0.edges.append(Edge(from: "island", outcome: "next", to: "end")) }
        #expect(Self.codes(island) == ["unreachable_node@island"])
    }

    @Test func variablesMustBeSetSomewhere() {
        #expect(Self.codes(Self.mutate { $0.nodes[1].config = ["text": .string("Oi {{nickname}}")] }) == ["undefined_variable@hello"])
        #expect(Self.codes(Self.with(3, "variable", .string("color"))) == ["undefined_variable@check"])
        // A module's save_as defines a variable for later templates; dotted paths use their root.
        #expect(Self.codes(Self.mutate { $0.nodes[1].config = ["text": .string("{{api.body.name}} {{plan}}")] }) == [])
    }

    @Test func nodeConfigurations() {
        #expect(Self.codes(Self.mutate { $0.nodes[1].config = [:] }) == ["invalid_config@hello"])
        #expect(Self.codes(Self.with(2, "variable", .string("1plan"))).contains("invalid_config@ask"))
        #expect(Self.codes(Self.with(2, "validation", .string("cpf"))) == ["invalid_config@ask"])
        #expect(Self.codes(Self.with(2, "choices", .array([]))) == ["invalid_config@ask"])
        #expect(Self.codes(Self.with(3, "operator", .string("resembles"))) == ["invalid_config@check"])
        #expect(Self.codes(Self.with(3, "value", .string("(["))) == [], "a regex only matters for matches_regex")
        var regex = Self.with(3, "operator", .string("matches_regex"))
        regex.nodes[3].config?["value"] = .string("([")
        #expect(Self.codes(regex) == ["invalid_config@check"])
        var numeric = Self.with(3, "operator", .string("greater_than"))
        numeric.nodes[3].config?["value"] = .string("many")
        #expect(Self.codes(numeric) == ["invalid_config@check"])
        #expect(Self.codes(Self.mutate { $0.nodes[3].config = ["variable": .string("plan"), "operator": .string("is_set")] }) == [])
        #expect(Self.codes(Self.with(4, "value", nil)) == ["invalid_config@set"])
        #expect(Self.codes(Self.mutate { $0.nodes[6].config = ["seconds": .number(0)] }) == ["invalid_config@wait"])
        #expect(Self.codes(Self.mutate { $0.nodes[7].config = ["assignee_id": .string("bob")] }) == ["invalid_config@human"])
    }

    @Test func modulesAreCheckedAgainstTheirCatalogue() {
        #expect(Self.codes(Self.with(5, "module", .string("teleport"))) == ["unknown_module@call"])
        #expect(Self.codes(Self.with(5, "with", .object([:]))) == ["invalid_module_config@call"])
        #expect(Self.codes(Self.with(5, "module", nil)) == ["invalid_config@call"])
    }

    @Test func triggers() {
        #expect(Self.codes(Self.valid, trigger: FlowTrigger(type: .keywords, keywords: ["oi", "olá"])) == [])
        #expect(Self.codes(Self.valid, trigger: FlowTrigger(type: .keywords, keywords: [" "])) == ["invalid_trigger@-"])
        #expect(Self.codes(Self.valid, trigger: FlowTrigger(type: .regex, pattern: "^(pedido|order)\\s+\\d+")) == [])
        #expect(Self.codes(Self.valid, trigger: FlowTrigger(type: .regex, pattern: "([")) == ["invalid_trigger@-"])
    }

    @Test func templateReferences() {
        #expect(FlowValidator.references(in: "Oi {{ name }}, pedido {{order.id}} {{x") == ["name", "order"])
    }
}

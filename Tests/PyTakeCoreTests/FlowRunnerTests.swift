import Foundation
import PyTakeCore
import Testing

/// The flow interpreter on its own: conditions, answers, loops, module outcomes.
@Suite struct FlowRunnerTests {
    typealias Node = FlowDefinition.Node
    typealias Edge = FlowDefinition.Edge

    static func node(_ id: String, _ type: String, _ config: [String: JSONValue] = [:]) -> Node {
        Node(id: id, type: type, config: config, position: nil)
    }

    static func runner(_ module: @escaping @Sendable (String) -> Result<JSONValue, ModuleFailure> = { _ in .success(.null) }) -> FlowRunner {
        FlowRunner(modules: { _, name, _, _ in ModuleRunResult(output: module(name)) }, trace: true)
    }

    @Test(arguments: [
        ("equals", JSONValue.string("  Gold "), JSONValue.string("gold"), true),
        ("equals", .number(10), .string("10.0"), true),
        ("not_equals", .string("a"), .string("b"), true),
        ("contains", .string("Quero a FATURA"), .string("fatura"), true),
        ("starts_with", .string("Pedido 42"), .string("pedido"), true),
        ("starts_with", .string("meu pedido"), .string("pedido"), false),
        ("matches_regex", .string("order-123"), .string("^order-\\d+$"), true),
        ("matches_regex", .string("order-x"), .string("^order-\\d+$"), false),
        ("greater_than", .string("30"), .number(17), true),
        ("greater_than", .string("abc"), .number(17), false),
        ("less_than", .number(3.5), .string("4"), true),
    ])
    func conditionOperators(_ op: String, _ value: JSONValue, _ against: JSONValue, _ expected: Bool) {
        #expect(FlowRunner.evaluate(["variable": .string("v"), "operator": .string(op), "value": against], ["v": value]) == expected)
    }

    @Test func isSetAndIsEmpty() {
        let set: [String: JSONValue] = ["variable": .string("v"), "operator": .string("is_set")]
        let empty: [String: JSONValue] = ["variable": .string("v"), "operator": .string("is_empty")]
        #expect(!FlowRunner.evaluate(set, [:]) && !FlowRunner.evaluate(set, ["v": .null]))
        #expect(FlowRunner.evaluate(set, ["v": .string("")]))
        for value in [nil, JSONValue.null, .string("  "), .array([]), .object([:])] as [JSONValue?] {
            #expect(FlowRunner.evaluate(empty, value.map { ["v": $0] } ?? [:]))
        }
        #expect(!FlowRunner.evaluate(empty, ["v": .number(0)]))
    }

    @Test func answersAreValidatedAndRetriedThenGivenUp() async {
        let flow = FlowDefinition(nodes: [
            Self.node("start", "start"),
            Self.node("mail", "ask", ["question": .string("Email?"), "variable": .string("email"), "validation": .string("email")]),
            Self.node("pick", "ask", ["question": .string("Size?"), "variable": .string("size"), "validation": .string("choice"),
                                      "choices": .array([.string("Pequeno"), .string("Médio"), .string("Grande")])]),
            Self.node("end", "end"),
        ], edges: [Edge(from: "start", outcome: "next", to: "mail"), Edge(from: "mail", outcome: "next", to: "pick"),
                   Edge(from: "pick", outcome: "next", to: "end")])
        let runner = Self.runner()
        let id = UUID()
        var turn = await runner.turn(definition: flow, flowId: id, version: 1, state: nil, input: "hi", context: [:])
        #expect(turn.replies.map(\.text) == ["Email?"] && turn.state?.status == .awaitingInput)
        turn = await runner.turn(definition: flow, flowId: id, version: 1, state: turn.state, input: "not-an-email", context: [:])
        #expect(turn.replies.map(\.text) == ["Please answer with an email address."] && turn.state?.retries == 1)
        turn = await runner.turn(definition: flow, flowId: id, version: 1, state: turn.state, input: " maria@example.com ", context: [:])
        #expect(turn.state?.variables["email"] == .string("maria@example.com"))
        #expect(turn.replies.first?.choices == ["Pequeno", "Médio", "Grande"])
        // A choice by number or by text, ignoring case and accents.
        let byIndex = await runner.turn(definition: flow, flowId: id, version: 1, state: turn.state, input: "2", context: [:])
        #expect(byIndex.finalVariables?["size"] == .string("Médio") && byIndex.completed)
        let byText = await runner.turn(definition: flow, flowId: id, version: 1, state: turn.state, input: "medio", context: [:])
        #expect(byText.finalVariables?["size"] == .string("Médio"))
        // After the retries, the flow moves on with the variable unset.
        var state = turn.state
        for _ in 0..<FlowRunner.maxRetries {
            let retry = await runner.turn(definition: flow, flowId: id, version: 1, state: state, input: "huge", context: [:])
            #expect(retry.replies.first?.text.hasPrefix("Please choose one of") == true)
            state = retry.state
        }
        let gaveUp = await runner.turn(definition: flow, flowId: id, version: 1, state: state, input: "huge", context: [:])
        #expect(gaveUp.completed && gaveUp.finalVariables?["size"] == nil)
    }

    @Test func aLoopWithoutQuestionsStopsAndFails() async {
        let flow = FlowDefinition(nodes: [Self.node("start", "start"), Self.node("a", "set_variable", ["variable": .string("n"), "value": .number(1)]),
                                          Self.node("b", "set_variable", ["variable": .string("m"), "value": .string("{{n}}")])],
                                  edges: [Edge(from: "start", outcome: "next", to: "a"), Edge(from: "a", outcome: "next", to: "b"),
                                          Edge(from: "b", outcome: "next", to: "a")])
        let turn = await Self.runner().turn(definition: flow, flowId: UUID(), version: 1, state: nil, input: "x", context: [:])
        #expect(turn.failed?.contains("loop") == true && turn.state == nil)
        #expect(turn.path.count == FlowRunner.maxSteps)
        #expect(turn.events.last?.type == "flow_failed")
    }

    @Test func moduleOutcomesAndEvents() async {
        let flow = FlowDefinition(nodes: [
            Self.node("start", "start"),
            Self.node("call", "module", ["module": .string("lookup"), "save_as": .string("result")]),
            Self.node("ok", "send_message", ["text": .string("found {{result.name}}")]),
            Self.node("bad", "send_message", ["text": .string("lookup failed")]),
            Self.node("end", "end"),
        ], edges: [Edge(from: "start", outcome: "next", to: "call"), Edge(from: "call", outcome: "success", to: "ok"),
                   Edge(from: "call", outcome: "error", to: "bad"), Edge(from: "ok", outcome: "next", to: "end"),
                   Edge(from: "bad", outcome: "next", to: "end")])
        let success = await Self.runner { _ in .success(.object(["name": .string("Ana")])) }
            .turn(definition: flow, flowId: UUID(), version: 3, state: nil, input: "x", context: [:])
        #expect(success.replies.map(\.text) == ["found Ana"] && success.completed)
        #expect(success.events.map(\.type) == ["flow_started", "node_entered", "node_entered", "node_entered", "node_entered", "flow_completed"])
        #expect(success.steps.map(\.outcome) == ["next", "success", "next", nil])
        let failure = await Self.runner { _ in .failure(ModuleFailure("boom", retryable: false)) }
            .turn(definition: flow, flowId: UUID(), version: 3, state: nil, input: "x", context: [:])
        #expect(failure.replies.map(\.text) == ["lookup failed"])
        #expect(failure.events.contains { $0.type == "module_failed" && $0.data["error"] == .string("boom") && $0.data["node_id"] == .string("call") })
    }

    @Test func jsonTextIsValidSortedJSON() throws {
        let value: JSONValue = .object(["b": .array([.number(1), .number(2.5), .null, .bool(true)]), "a": .string("quote \" back \\ nl \n tab \t \u{1} é 🙂"),
                                        "c": .object([:])])
        let text = value.jsonText
        #expect(text.hasPrefix(#"{"a":"#) && text.contains(#""b":[1,2.5,null,true]"#))
        #expect(try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8)) == value)
    }
}

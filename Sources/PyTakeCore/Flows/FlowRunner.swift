import Foundation

/// Where a conversation is in its flow, kept in `active_conversations.flow_state` between turns.
/// A conversation keeps the flow version it started with (`flow_id`, `version`).
public struct FlowState: Sendable, Equatable, Codable {
    public enum Status: String, Sendable, Codable {
        /// An `ask` node waits for the customer's answer.
        case awaitingInput = "awaiting_input"
        /// A `wait` node's timer runs until `wait_until`.
        case waiting
        /// A `handoff` node paused the bot; an agent resuming it continues at the node's `next`.
        case handedOff = "handed_off"
    }

    public var flowId: UUID
    public var version: Int
    public var node: String
    public var status: Status
    public var variables: [String: JSONValue]
    public var waitUntil: Date?
    /// Invalid answers to the current `ask`.
    public var retries: Int?

    enum CodingKeys: String, CodingKey {
        case flowId = "flow_id", version, node, status, variables, waitUntil = "wait_until", retries
    }

    public var json: String { (try? JSONColumn.encode(self)) ?? "null" }
    public static func decode(_ json: String?) -> FlowState? {
        guard let json, json != "null" else { return nil }
        let decoder = JSONDecoder()
        decoder.dateDecodingStrategy = .iso8601
        return try? decoder.decode(FlowState.self, from: Data(json.utf8))
    }
}

/// A message the bot sends: text, optionally with choices (buttons up to 3, a list up to 10).
public struct BotReply: Sendable, Equatable {
    public var text: String
    public var choices: [String]?
    public var nodeId: String
}

/// A `conversation_events` row a turn writes.
public struct FlowEvent: Sendable, Equatable {
    public var type: String
    public var data: [String: JSONValue]
}

/// One executed node, for the simulator's transcript.
public struct FlowStep: Sendable, Equatable {
    public var nodeId: String
    public var type: String
    public var outcome: String?
    public var variables: [String: JSONValue]
}

/// What a module run needs from the caller: the engine runs real modules with the tenant's
/// settings; the simulator runs them without side effects that reach customers.
public typealias ModuleInvoker = @Sendable (_ node: FlowDefinition.Node, _ module: String, _ with: [String: JSONValue],
                                            _ variables: [String: JSONValue]) async -> ModuleRunResult

public struct ModuleRunResult: Sendable {
    public var output: Result<JSONValue, ModuleFailure>
    /// Messages the module asks the bot to send (e.g. `ai_reply` in send mode).
    public var replies: [String]
    public init(output: Result<JSONValue, ModuleFailure>, replies: [String] = []) {
        self.output = output
        self.replies = replies
    }
}

/// Executes flow definitions: one turn takes the conversation from its state (or the start node)
/// through the nodes until it needs the customer (`ask`), a timer (`wait`), an agent (`handoff`)
/// or the flow ends. Pure apart from the modules it invokes: the engine persists what it returns,
/// the simulator reports it.
public struct FlowRunner: Sendable {
    public struct Handoff: Sendable, Equatable {
        public var assignee: UUID?
    }

    public struct Turn: Sendable {
        public var state: FlowState?
        public var replies: [BotReply] = []
        public var events: [FlowEvent] = []
        public var path: [String] = []
        public var steps: [FlowStep] = []
        /// Set when a `handoff` node ran: pause the bot, and assign this agent when given.
        public var handoff: Handoff?
        public var completed = false
        public var failed: String?
        /// The variables when the flow ended (while it runs they are in `state`).
        public var finalVariables: [String: JSONValue]?
    }

    /// Nodes one turn may execute; a flow looping without asking anything stops there.
    public static let maxSteps = 200
    /// Invalid answers to one `ask` before the flow takes its `next` anyway with the variable unset.
    public static let maxRetries = 3

    public let modules: ModuleInvoker
    public let now: @Sendable () -> Date
    public let trace: Bool

    public init(modules: @escaping ModuleInvoker, now: @escaping @Sendable () -> Date = Date.init, trace: Bool = false) {
        self.modules = modules
        self.now = now
        self.trace = trace
    }

    /// Runs one turn. `state` nil starts `definition` (flow `flowId`, `version`) at its start node;
    /// `input` is the customer's message(s) of this turn, nil for a timer; `context` holds the
    /// built-in variables (customer_name, customer_phone, last_message), refreshed every turn.
    public func turn(definition: FlowDefinition, flowId: UUID, version: Int, state: FlowState?, input: String?,
                     context: [String: JSONValue]) async -> Turn {
        var turn = Turn()
        var current: String
        var variables = (state?.variables ?? [:]).merging(context) { _, new in new }
        let graph = Graph(definition)

        if let state {
            turn.state = state
            switch state.status {
            case .awaitingInput:
                guard let input else { return turn }
                guard let node = graph.nodes[state.node] else { return finish(&turn, variables, failure: "node '\(state.node)' is gone") }
                switch Self.accept(input, for: node) {
                case .success(let value):
                    if let name = node.config?["variable"]?.string { variables[name] = value }
                case .failure(let retry):
                    let retries = (state.retries ?? 0) + 1
                    if retries <= Self.maxRetries {
                        turn.replies.append(BotReply(text: retry.text, choices: Self.choices(of: node), nodeId: node.id))
                        turn.state?.retries = retries
                        turn.state?.variables = variables
                        return turn
                    }
                }
                guard let next = graph.next(node.id, "next") else { return finish(&turn, variables) }
                current = next
            case .waiting:
                if let until = state.waitUntil, until > now() { return turn }
                guard let next = graph.next(state.node, "next") else { return finish(&turn, variables) }
                current = next
            case .handedOff:
                guard let next = graph.next(state.node, "next") else { return finish(&turn, variables) }
                current = next
            }
        } else {
            guard let start = definition.nodes.first(where: { $0.type == "start" }) else {
                return finish(&turn, variables, failure: "the flow has no start node")
            }
            turn.events.append(FlowEvent(type: "flow_started", data: ["flow_id": .string(flowId.uuidString.lowercased()), "version": .number(Double(version))]))
            turn.state = FlowState(flowId: flowId, version: version, node: start.id, status: .awaitingInput, variables: [:])
            current = start.id
        }

        for _ in 0..<Self.maxSteps {
            guard let node = graph.nodes[current] else { return finish(&turn, variables, failure: "node '\(current)' does not exist") }
            turn.path.append(node.id)
            turn.events.append(FlowEvent(type: "node_entered", data: ["node_id": .string(node.id), "node_type": .string(node.type)]))
            let config = node.config ?? [:]
            var outcome = "next"
            switch node.type {
            case "start", "end":
                break
            case "send_message":
                turn.replies.append(BotReply(text: Template.render(config["text"]?.string ?? "", variables), nodeId: node.id))
            case "ask":
                turn.replies.append(BotReply(text: Template.render(config["question"]?.string ?? "", variables),
                                             choices: Self.choices(of: node), nodeId: node.id))
                step(&turn, node, nil, variables)
                turn.state = FlowState(flowId: flowId, version: version, node: node.id, status: .awaitingInput, variables: variables)
                return turn
            case "condition":
                outcome = Self.evaluate(config, variables) ? "true" : "false"
            case "set_variable":
                if let name = config["variable"]?.string {
                    variables[name] = config["value"].map { value in value.string.map { .string(Template.render($0, variables)) } ?? value } ?? .null
                }
            case "module":
                let name = config["module"]?.string ?? ""
                let result = await modules(node, name, config["with"]?.object ?? [:], variables)
                for text in result.replies { turn.replies.append(BotReply(text: text, nodeId: node.id)) }
                switch result.output {
                case .success(let output):
                    if let saveAs = config["save_as"]?.string { variables[saveAs] = output }
                    outcome = "success"
                case .failure(let failure):
                    turn.events.append(FlowEvent(type: "module_failed", data: [
                        "node_id": .string(node.id), "module": .string(name), "error": .string(String(failure.message.prefix(500))),
                    ]))
                    outcome = "error"
                }
            case "handoff":
                if let message = config["message"]?.string, !message.isEmpty {
                    turn.replies.append(BotReply(text: Template.render(message, variables), nodeId: node.id))
                }
                let assignee = config["assignee_id"]?.string.flatMap(UUID.init(uuidString:))
                turn.handoff = Handoff(assignee: assignee)
                var data: [String: JSONValue] = ["node_id": .string(node.id)]
                if let assignee { data["assignee_id"] = .string(assignee.uuidString.lowercased()) }
                turn.events.append(FlowEvent(type: "handoff", data: data))
                step(&turn, node, nil, variables)
                turn.state = FlowState(flowId: flowId, version: version, node: node.id, status: .handedOff, variables: variables)
                return turn
            case "wait":
                let seconds = config["seconds"]?.number ?? 1
                step(&turn, node, nil, variables)
                turn.state = FlowState(flowId: flowId, version: version, node: node.id, status: .waiting, variables: variables,
                                       waitUntil: now().addingTimeInterval(seconds))
                return turn
            default:
                return finish(&turn, variables, failure: "unknown node type '\(node.type)'")
            }
            step(&turn, node, node.type == "end" ? nil : outcome, variables)
            guard node.type != "end", let next = graph.next(node.id, outcome) else { return finish(&turn, variables) }
            current = next
        }
        return finish(&turn, variables, failure: "the flow ran \(Self.maxSteps) nodes without waiting for the customer (a loop?)")
    }

    private func step(_ turn: inout Turn, _ node: FlowDefinition.Node, _ outcome: String?, _ variables: [String: JSONValue]) {
        if trace { turn.steps.append(FlowStep(nodeId: node.id, type: node.type, outcome: outcome, variables: variables)) }
    }

    /// The flow ended (an `end` node, an outcome with no edge) or failed: the conversation has no flow state any more.
    private func finish(_ turn: inout Turn, _ variables: [String: JSONValue], failure: String? = nil) -> Turn {
        let flow = turn.state.map { ["flow_id": JSONValue.string($0.flowId.uuidString.lowercased()), "version": .number(Double($0.version))] } ?? [:]
        if let failure {
            turn.failed = failure
            turn.events.append(FlowEvent(type: "flow_failed", data: flow.merging(["error": .string(failure)]) { $1 }))
        } else {
            turn.completed = true
            turn.events.append(FlowEvent(type: "flow_completed", data: flow.merging(["node_id": .string(turn.path.last ?? "")]) { $1 }))
        }
        turn.finalVariables = variables
        turn.state = nil
        return turn
    }

    struct Graph {
        var nodes: [String: FlowDefinition.Node] = [:]
        var edges: [String: String] = [:]
        init(_ definition: FlowDefinition) {
            for node in definition.nodes where nodes[node.id] == nil { nodes[node.id] = node }
            for edge in definition.edges where edges[edge.from + "\u{0}" + edge.outcome] == nil { edges[edge.from + "\u{0}" + edge.outcome] = edge.to }
        }
        func next(_ node: String, _ outcome: String) -> String? { edges[node + "\u{0}" + outcome] }
    }

    static func choices(of node: FlowDefinition.Node) -> [String]? {
        guard node.config?["validation"]?.string == "choice" else { return nil }
        return node.config?["choices"]?.array?.compactMap(\.string)
    }

    /// An answer to an `ask`, checked against its validation: the value to store, or the message asking again.
    static func accept(_ input: String, for node: FlowDefinition.Node) -> Result<JSONValue, RetryPrompt> {
        let config = node.config ?? [:]
        let answer = input.trimmingCharacters(in: .whitespacesAndNewlines)
        let custom = config["retry_message"]?.string
        switch config["validation"]?.string ?? "text" {
        case "number":
            let normalized = answer.replacingOccurrences(of: ",", with: ".")
            if let number = Double(normalized), number.isFinite { return .success(.number(number)) }
            return .failure(RetryPrompt(custom ?? "Please answer with a number."))
        case "email":
            let pattern = #"^[^@\s]+@[^@\s]+\.[^@\s]+$"#
            if answer.count <= 254, answer.range(of: pattern, options: .regularExpression) != nil { return .success(.string(answer)) }
            return .failure(RetryPrompt(custom ?? "Please answer with an email address."))
        case "choice":
            let choices = choices(of: node) ?? []
            if let match = choices.first(where: { $0.compare(answer, options: [.caseInsensitive, .diacriticInsensitive]) == .orderedSame }) {
                return .success(.string(match))
            }
            if let index = Int(answer), choices.indices.contains(index - 1) { return .success(.string(choices[index - 1])) }
            return .failure(RetryPrompt(custom ?? "Please choose one of: \(choices.joined(separator: ", "))."))
        default:
            if answer.isEmpty { return .failure(RetryPrompt(custom ?? "Please answer with some text.")) }
            return .success(.string(answer))
        }
    }

    struct RetryPrompt: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    /// A `condition` node: text comparisons ignore case and surrounding spaces; greater/less compare numbers.
    public static func evaluate(_ config: [String: JSONValue], _ variables: [String: JSONValue]) -> Bool {
        let name = config["variable"]?.string ?? ""
        let value = variables[name]
        let op = config["operator"]?.string ?? ""
        switch op {
        case "is_set": return value != nil && value != .null
        case "is_empty":
            switch value {
            case nil, .null?: return true
            case .string(let text)?: return text.trimmingCharacters(in: .whitespaces).isEmpty
            case .array(let items)?: return items.isEmpty
            case .object(let fields)?: return fields.isEmpty
            default: return false
            }
        default: break
        }
        let left = text(value)
        let right: String = switch config["value"] {
        case .string(let template)?: Template.render(template, variables)
        case let other?: text(other)
        case nil: ""
        }
        func number(_ text: String) -> Double? { Double(text.trimmingCharacters(in: .whitespaces).replacingOccurrences(of: ",", with: ".")) }
        let l = left.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        let r = right.trimmingCharacters(in: .whitespacesAndNewlines).lowercased()
        switch op {
        case "equals", "not_equals":
            let equal = if let a = number(l), let b = number(r) { a == b } else { l == r }
            return op == "equals" ? equal : !equal
        case "contains": return l.contains(r)
        case "starts_with": return l.hasPrefix(r)
        case "matches_regex":
            guard let regex = try? NSRegularExpression(pattern: right) else { return false }
            return regex.firstMatch(in: left, range: NSRange(left.startIndex..., in: left)) != nil
        case "greater_than", "less_than":
            guard let a = number(l), let b = number(r) else { return false }
            return op == "greater_than" ? a > b : a < b
        default: return false
        }
    }

    static func text(_ value: JSONValue?) -> String {
        switch value {
        case .string(let text)?: text
        case nil, .null?: ""
        case let other?: Template.render("{{v}}", ["v": other])
        }
    }
}

import Foundation

/// What the validator needs to know about modules: which exist, and what their `with` accepts.
public protocol ModuleCatalog: Sendable {
    /// Problems with `config` for module `name` (field paths in the messages), or nil when there is no such module.
    func check(module name: String, with config: [String: JSONValue]) -> [String]?
}

/// Flow validation: the same rules on save (as warnings) and on publish (as errors).
public enum FlowValidator {
    struct Spec {
        var required: [String]
        var allowed: Set<String>
    }

    static let specs: [String: Spec] = [
        "start": Spec(required: ["next"], allowed: ["next"]),
        "send_message": Spec(required: ["next"], allowed: ["next"]),
        "ask": Spec(required: ["next"], allowed: ["next"]),
        "condition": Spec(required: ["true", "false"], allowed: ["true", "false"]),
        "set_variable": Spec(required: ["next"], allowed: ["next"]),
        "module": Spec(required: ["success", "error"], allowed: ["success", "error"]),
        "handoff": Spec(required: [], allowed: ["next"]),
        "wait": Spec(required: ["next"], allowed: ["next"]),
        "end": Spec(required: [], allowed: []),
    ]
    public static var nodeTypes: [String] { specs.keys.sorted() }

    public static let operators: Set<String> = ["equals", "not_equals", "contains", "starts_with", "matches_regex",
                                                "greater_than", "less_than", "is_set", "is_empty"]
    public static let askValidations: Set<String> = ["text", "number", "email", "choice"]
    /// Variables every conversation has.
    public static let builtInVariables: Set<String> = ["customer_name", "customer_phone", "last_message"]

    static func isIdentifier(_ text: String) -> Bool {
        guard let first = text.unicodeScalars.first, text.unicodeScalars.count <= 64,
              first == "_" || (first.isASCII && CharacterSet.letters.contains(first)) else { return false }
        return text.unicodeScalars.allSatisfy { $0 == "_" || ($0.isASCII && CharacterSet.alphanumerics.contains($0)) }
    }

    /// `{{name}}` and `{{name.path}}` references in a template: the root names.
    public static func references(in template: String) -> [String] {
        var names: [String] = []
        var rest = Substring(template)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            let inner = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces)
            names.append(String(inner.split(separator: ".", maxSplits: 1).first ?? ""))
            rest = rest[close.upperBound...]
        }
        return names
    }

    public static func validate(_ flow: FlowDefinition, trigger: FlowTrigger, modules: any ModuleCatalog) -> [FlowProblem] {
        var problems: [FlowProblem] = []
        func problem(_ code: String, _ message: String, _ node: String? = nil) { problems.append(FlowProblem(code, message, node: node)) }

        switch trigger.type {
        case .default: break
        case .keywords:
            let keywords = (trigger.keywords ?? []).filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
            if keywords.isEmpty { problem("invalid_trigger", "A keywords trigger needs at least one keyword.") }
        case .regex:
            if (try? NSRegularExpression(pattern: trigger.pattern ?? "")) == nil || (trigger.pattern ?? "").isEmpty {
                problem("invalid_trigger", "The trigger's regular expression does not compile.")
            }
        }

        var byId: [String: FlowDefinition.Node] = [:]
        for node in flow.nodes {
            if node.id.isEmpty || node.id.count > 64 { problem("invalid_node_id", "Node ids are 1 to 64 characters.", node.id) }
            if byId[node.id] != nil { problem("duplicate_node", "Two nodes share the id '\(node.id)'.", node.id) }
            byId[node.id] = node
        }
        let starts = flow.nodes.filter { $0.type == "start" }
        if starts.isEmpty { problem("missing_start", "The flow needs exactly one start node; it has none.") }
        for extra in starts.dropFirst() { problem("multiple_start", "The flow needs exactly one start node.", extra.id) }

        // Variables the flow can define anywhere (flow-insensitive), for reference checks.
        var defined = builtInVariables
        for node in flow.nodes {
            let config = node.config ?? [:]
            switch node.type {
            case "ask", "set_variable": if let name = config["variable"]?.string { defined.insert(name) }
            case "module": if let name = config["save_as"]?.string { defined.insert(name) }
            default: break
            }
        }

        var outcomes: [String: Set<String>] = [:]
        var seenEdges: Set<String> = []
        for edge in flow.edges {
            guard let from = byId[edge.from] else { problem("dangling_edge", "An edge starts at unknown node '\(edge.from)'."); continue }
            guard byId[edge.to] != nil else { problem("dangling_edge", "The '\(edge.outcome)' edge goes to unknown node '\(edge.to)'.", edge.from); continue }
            if !seenEdges.insert(edge.from + "\u{0}" + edge.outcome).inserted {
                problem("duplicate_edge", "Outcome '\(edge.outcome)' has more than one edge.", edge.from)
            }
            if let spec = specs[from.type], !spec.allowed.contains(edge.outcome) {
                problem("unknown_outcome", "A \(from.type) node has no outcome '\(edge.outcome)'.", edge.from)
            }
            outcomes[edge.from, default: []].insert(edge.outcome)
        }

        for node in flow.nodes {
            guard let spec = specs[node.type] else {
                problem("unknown_node_type", "Unknown node type '\(node.type)' (known: \(nodeTypes.joined(separator: ", "))).", node.id)
                continue
            }
            for outcome in spec.required where !(outcomes[node.id]?.contains(outcome) ?? false) {
                problem("missing_outcome", "The '\(outcome)' outcome of this \(node.type) node goes nowhere.", node.id)
            }
            check(node, defined: defined, modules: modules) { code, message in problem(code, message, node.id) }
        }

        // Reachability from the start node.
        if let start = starts.first {
            var next: [String: [String]] = [:]
            for edge in flow.edges { next[edge.from, default: []].append(edge.to) }
            var seen: Set<String> = [start.id]
            var queue = [start.id]
            while let id = queue.popLast() {
                for to in next[id] ?? [] where seen.insert(to).inserted { queue.append(to) }
            }
            for node in flow.nodes where !seen.contains(node.id) {
                problem("unreachable_node", "No path from the start node reaches this node.", node.id)
            }
        }
        return problems
    }

    static func check(_ node: FlowDefinition.Node, defined: Set<String>, modules: any ModuleCatalog,
                      _ problem: (String, String) -> Void) {
        let config = node.config ?? [:]
        func text(_ key: String, max: Int = 4096) -> String? {
            guard let value = config[key]?.string, !value.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty, value.count <= max else {
                problem("invalid_config", "'\(key)' is required: 1 to \(max) characters.")
                return nil
            }
            return value
        }
        func variable(_ key: String) -> String? {
            guard let name = config[key]?.string, isIdentifier(name) else {
                problem("invalid_config", "'\(key)' must be a variable name (letters, digits, _; not starting with a digit).")
                return nil
            }
            return name
        }
        func templated(_ template: String) {
            for name in references(in: template) where !defined.contains(name) {
                problem("undefined_variable", "'{{\(name)}}' is not set anywhere in the flow.")
            }
        }
        switch node.type {
        case "send_message":
            if let message = text("text") { templated(message) }
        case "ask":
            if let question = text("question") { templated(question) }
            _ = variable("variable")
            let validation = config["validation"]?.string ?? "text"
            if !askValidations.contains(validation) {
                problem("invalid_config", "'validation' must be one of \(askValidations.sorted().joined(separator: ", ")).")
            }
            if validation == "choice" {
                let choices = config["choices"]?.array?.compactMap(\.string).filter { !$0.isEmpty } ?? []
                if choices.isEmpty || choices.count > 10 || choices.count != config["choices"]?.array?.count {
                    problem("invalid_config", "'choices' must list 1 to 10 non-empty options (up to 3 become buttons, more a list).")
                } else if choices.contains(where: { $0.count > 24 }) {
                    problem("invalid_config", "Each choice is at most 24 characters (WhatsApp's limit for list rows).")
                }
            }
        case "condition":
            if let name = variable("variable"), !defined.contains(name) {
                problem("undefined_variable", "Variable '\(name)' is not set anywhere in the flow.")
            }
            let op = config["operator"]?.string ?? ""
            if !operators.contains(op) {
                problem("invalid_config", "'operator' must be one of \(operators.sorted().joined(separator: ", ")).")
            } else if op != "is_set" && op != "is_empty" {
                let value = config["value"]
                if value?.string == nil && value?.number == nil {
                    problem("invalid_config", "'value' is required for operator \(op).")
                } else if op == "matches_regex", (try? NSRegularExpression(pattern: value?.string ?? "")) == nil {
                    problem("invalid_config", "'value' is not a valid regular expression.")
                } else if (op == "greater_than" || op == "less_than"), value?.number == nil, Double(value?.string ?? "") == nil {
                    problem("invalid_config", "'value' must be a number for \(op).")
                } else if let template = value?.string {
                    templated(template)
                }
            }
        case "set_variable":
            _ = variable("variable")
            if let value = config["value"] {
                if let template = value.string { templated(template) }
            } else {
                problem("invalid_config", "'value' is required.")
            }
        case "module":
            guard let name = config["module"]?.string, !name.isEmpty else {
                problem("invalid_config", "'module' must name a module.")
                return
            }
            if config["save_as"] != nil { _ = variable("save_as") }
            if let timeout = config["timeout_ms"], !(timeout.number.map { (100...300_000).contains($0) } ?? false) {
                problem("invalid_config", "'timeout_ms' must be a number of milliseconds from 100 to 300000.")
            }
            if let retry = config["retry"] {
                let attempts = retry["attempts"]
                let delay = retry["delay_ms"]
                if retry.object == nil || !(attempts.map { $0.number.map { (1...5).contains($0) } ?? false } ?? true)
                    || !(delay.map { $0.number.map { (0...60_000).contains($0) } ?? false } ?? true) {
                    problem("invalid_config", "'retry' is {attempts: 1 to 5, delay_ms: 0 to 60000}.")
                }
            }
            let with = config["with"]?.object ?? [:]
            if config["with"] != nil && config["with"]?.object == nil { problem("invalid_config", "'with' must be an object.") }
            if let issues = modules.check(module: name, with: with) {
                for issue in issues { problem("invalid_module_config", "Module '\(name)': \(issue)") }
            } else {
                problem("unknown_module", "There is no module named '\(name)'.")
            }
            for case .string(let template) in with.values { templated(template) }
        case "handoff":
            if let assignee = config["assignee_id"], UUID(uuidString: assignee.string ?? "") == nil {
                problem("invalid_config", "'assignee_id' must be a user id.")
            }
        case "wait":
            let seconds = config["seconds"]?.number ?? -1
            if !(1...86_400).contains(seconds) { problem("invalid_config", "'seconds' must be between 1 and 86400.") }
        default:
            break
        }
    }
}

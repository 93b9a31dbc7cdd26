import Foundation

/// Any JSON value, for the free-form parts of flow definitions (node config, variables).
public enum JSONValue: Sendable, Equatable, Codable {
    case null, bool(Bool), number(Double), string(String), array([JSONValue]), object([String: JSONValue])

    public init(from decoder: any Decoder) throws {
        let container = try decoder.singleValueContainer()
        if container.decodeNil() { self = .null }
        else if let value = try? container.decode(Bool.self) { self = .bool(value) }
        else if let value = try? container.decode(Double.self) { self = .number(value) }
        else if let value = try? container.decode(String.self) { self = .string(value) }
        else if let value = try? container.decode([JSONValue].self) { self = .array(value) }
        else { self = .object(try container.decode([String: JSONValue].self)) }
    }

    public func encode(to encoder: any Encoder) throws {
        var container = encoder.singleValueContainer()
        switch self {
        case .null: try container.encodeNil()
        case .bool(let value): try container.encode(value)
        case .number(let value): try container.encode(value)
        case .string(let value): try container.encode(value)
        case .array(let value): try container.encode(value)
        case .object(let value): try container.encode(value)
        }
    }

    /// Compact JSON text with sorted keys, written directly (several times faster than
    /// JSONEncoder, which the engine would otherwise call a dozen times per turn).
    public var jsonText: String {
        var out = ""
        FastJSON.write(self, into: &out)
        return out
    }

    public var string: String? { if case .string(let value) = self { value } else { nil } }
    public var object: [String: JSONValue]? { if case .object(let value) = self { value } else { nil } }
    public var array: [JSONValue]? { if case .array(let value) = self { value } else { nil } }
    public var number: Double? { if case .number(let value) = self { value } else { nil } }
    public subscript(key: String) -> JSONValue? { object?[key] }
}

/// A flow as the builder edits it: nodes with typed configuration, and edges from a node's
/// outcome to the next node.
public struct FlowDefinition: Sendable, Equatable, Codable {
    public struct Position: Sendable, Equatable, Codable {
        public var x: Double
        public var y: Double
    }

    public struct Node: Sendable, Equatable, Codable {
        public var id: String
        public var type: String
        public var config: [String: JSONValue]?
        public var position: Position?
        public init(id: String, type: String, config: [String: JSONValue]? = nil, position: Position? = nil) {
            self.id = id
            self.type = type
            self.config = config
            self.position = position
        }
    }

    public struct Edge: Sendable, Equatable, Codable {
        public var from: String
        public var outcome: String
        public var to: String
        public init(from: String, outcome: String, to: String) {
            self.from = from
            self.outcome = outcome
            self.to = to
        }
    }

    public var nodes: [Node]
    public var edges: [Edge]

    public init(nodes: [Node], edges: [Edge]) {
        self.nodes = nodes
        self.edges = edges
    }

    public static let empty = FlowDefinition(nodes: [Node(id: "start", type: "start", config: [:], position: Position(x: 0, y: 0))], edges: [])

    public var json: String { (try? JSONColumn.encode(self)) ?? "{}" }

    public static func decode(_ json: String) throws -> FlowDefinition {
        try JSONDecoder().decode(FlowDefinition.self, from: Data(json.utf8))
    }
}

/// What starts a flow: the tenant's default flow, or keywords / a regex on the first message.
public struct FlowTrigger: Sendable, Equatable, Codable {
    public enum Kind: String, Sendable, Codable, CaseIterable { case `default`, keywords, regex }
    public var type: Kind
    public var keywords: [String]?
    public var pattern: String?

    public init(type: Kind, keywords: [String]? = nil, pattern: String? = nil) {
        self.type = type
        self.keywords = keywords
        self.pattern = pattern
    }

    public var json: String { (try? JSONColumn.encode(self)) ?? "{}" }
}

/// One finding of flow validation, tied to the node it concerns when there is one.
public struct FlowProblem: Sendable, Equatable, Codable {
    public var code: String
    public var message: String
    public var nodeId: String?

    public init(_ code: String, _ message: String, node: String? = nil) {
        self.code = code
        self.message = message
        self.nodeId = node
    }

    enum CodingKeys: String, CodingKey { case code, message, nodeId = "node_id" }
}

/// A small JSON writer for the hot paths (engine events, provider request bodies).
enum FastJSON {
    static func write(_ value: JSONValue, into out: inout String) {
        switch value {
        case .null: out += "null"
        case .bool(let flag): out += flag ? "true" : "false"
        case .number(let n): number(n, into: &out)
        case .string(let text): string(text, into: &out)
        case .array(let items):
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(item, into: &out)
            }
            out += "]"
        case .object(let fields):
            out += "{"
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                write(fields[key]!, into: &out)
            }
            out += "}"
        }
    }

    /// Strings, booleans, integers, doubles, arrays and dictionaries (what `JSONSerialization` takes).
    static func write(any value: Any, into out: inout String) {
        switch value {
        case let text as String: string(text, into: &out)
        case let flag as Bool: out += flag ? "true" : "false"
        case let n as Int: out += String(n)
        case let n as Double: number(n, into: &out)
        case let items as [Any]:
            out += "["
            for (index, item) in items.enumerated() {
                if index > 0 { out += "," }
                write(any: item, into: &out)
            }
            out += "]"
        case let fields as [String: Any]:
            out += "{"
            for (index, key) in fields.keys.sorted().enumerated() {
                if index > 0 { out += "," }
                string(key, into: &out)
                out += ":"
                write(any: fields[key]!, into: &out)
            }
            out += "}"
        case let json as JSONValue: write(json, into: &out)
        default: out += "null"
        }
    }

    static func number(_ n: Double, into out: inout String) {
        if !n.isFinite { out += "null" } else if n.rounded() == n && abs(n) < 9e15 { out += String(Int64(n)) } else { out += String(n) }
    }

    static func string(_ text: String, into out: inout String) {
        out += "\""
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                out += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
        out += "\""
    }
}

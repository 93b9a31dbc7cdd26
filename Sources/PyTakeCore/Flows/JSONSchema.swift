import Foundation

/// The part of JSON Schema that module manifests use: `type` (one or a list), `properties`,
/// `required`, `additionalProperties` (boolean), `enum`, `minLength`/`maxLength`, `pattern`,
/// `minimum`/`maximum`, `items`, `minItems`/`maxItems`, `format: uri` (http/https only). Every
/// violation is reported with its path, e.g. `with.headers.Authorization: must be a string`.
public enum JSONSchema {
    public static func validate(_ value: JSONValue?, against schema: JSONValue, at path: String) -> [String] {
        var problems: [String] = []
        check(value, schema, path, &problems)
        return problems
    }

    static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .number(let n): n.rounded() == n && abs(n) < 9e15 ? "integer" : "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    static func check(_ value: JSONValue?, _ schema: JSONValue, _ path: String, _ problems: inout [String]) {
        guard let value else { return }
        if let types = schema["type"] {
            let allowed = types.string.map { [$0] } ?? types.array?.compactMap(\.string) ?? []
            let actual = typeName(value)
            let matches = allowed.contains(actual) || (actual == "integer" && allowed.contains("number"))
            if !allowed.isEmpty && !matches {
                problems.append("\(path): must be \(allowed.joined(separator: " or "))")
                return
            }
        }
        if let options = schema["enum"]?.array, !options.contains(value) {
            problems.append("\(path): must be one of \(options.compactMap { $0.string ?? $0.number.map { String($0) } }.joined(separator: ", "))")
        }
        switch value {
        case .string(let text):
            let length = text.unicodeScalars.count
            if let min = schema["minLength"]?.number, Double(length) < min { problems.append("\(path): must be at least \(Int(min)) characters") }
            if let max = schema["maxLength"]?.number, Double(length) > max { problems.append("\(path): must be at most \(Int(max)) characters") }
            if let pattern = schema["pattern"]?.string, text.range(of: pattern, options: .regularExpression) == nil {
                problems.append("\(path): does not match \(pattern)")
            }
            if schema["format"]?.string == "uri" {
                let url = URL(string: text)
                if !["http", "https"].contains(url?.scheme?.lowercased() ?? "") || url?.host?.isEmpty != false, !text.contains("{{") {
                    problems.append("\(path): must be an absolute http(s) URL")
                }
            }
        case .number(let n):
            if let min = schema["minimum"]?.number, n < min { problems.append("\(path): must be at least \(min)") }
            if let max = schema["maximum"]?.number, n > max { problems.append("\(path): must be at most \(max)") }
        case .array(let items):
            if let min = schema["minItems"]?.number, Double(items.count) < min { problems.append("\(path): needs at least \(Int(min)) items") }
            if let max = schema["maxItems"]?.number, Double(items.count) > max { problems.append("\(path): allows at most \(Int(max)) items") }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() { check(item, itemSchema, "\(path)[\(index)]", &problems) }
            }
        case .object(let fields):
            for name in schema["required"]?.array?.compactMap(\.string) ?? [] where fields[name] == nil {
                problems.append("\(path).\(name): is required")
            }
            let properties = schema["properties"]?.object ?? [:]
            for (name, field) in fields.sorted(by: { $0.key < $1.key }) {
                if let propertySchema = properties[name] {
                    check(field, propertySchema, "\(path).\(name)", &problems)
                } else if case .bool(false) = schema["additionalProperties"] {
                    problems.append("\(path).\(name): is not a known field")
                } else if let additional = schema["additionalProperties"], additional.object != nil {
                    check(field, additional, "\(path).\(name)", &problems)
                }
            }
        default:
            break
        }
    }
}

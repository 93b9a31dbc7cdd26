import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import Synchronization

/// What a module declares: the builder renders its forms from `with`, and shows `input`/`output`.
public struct ModuleManifest: Sendable {
    public var name: String
    /// Semantic version, e.g. 1.0.0.
    public var version: String
    public var description: String
    /// JSON Schema of the node's `with` configuration.
    public var with: JSONValue
    public var input: JSONValue
    public var output: JSONValue
}

/// What a module run may use: the conversation's variables, PyTake's outbound HTTP client, the
/// tenant's module settings and cache, and the conversation's recent history.
public struct ModuleContext: Sendable {
    public var tenantId: UUID
    public var conversationId: UUID?
    public var variables: [String: JSONValue]
    public var http: HTTPClient
    public var allowPrivateNetworks: Bool
    public var timeout: Duration
    /// The tenant's `tools_config` secrets and sections modules read (AI endpoint, webhook secret).
    public var settings: ModuleTenantSettings
    /// The `cache` module's store, bound to the tenant.
    public var cache: (any ModuleCacheStore)?
    /// The conversation's most recent messages, oldest first (for `ai_reply`).
    public var history: @Sendable (_ limit: Int) async -> [ChatLine]
    /// Replies a module asks the bot to send.
    public var effects: ModuleEffects
    /// Simulator runs: nothing leaves PyTake that would act on the outside world's behalf
    /// (`webhook_notify` does not post; the cache is the simulation's own).
    public var simulation: Bool

    public init(tenantId: UUID, conversationId: UUID?, variables: [String: JSONValue], http: HTTPClient,
                allowPrivateNetworks: Bool, timeout: Duration, settings: ModuleTenantSettings = ModuleTenantSettings(),
                cache: (any ModuleCacheStore)? = nil, history: @escaping @Sendable (Int) async -> [ChatLine] = { _ in [] },
                effects: ModuleEffects = ModuleEffects(), simulation: Bool = false) {
        self.tenantId = tenantId
        self.conversationId = conversationId
        self.variables = variables
        self.http = http
        self.allowPrivateNetworks = allowPrivateNetworks
        self.timeout = timeout
        self.settings = settings
        self.cache = cache
        self.history = history
        self.effects = effects
        self.simulation = simulation
    }
}

/// A line of conversation history: `user` (the customer) or `assistant` (bot or agent).
public struct ChatLine: Sendable, Equatable {
    public var role: String
    public var text: String
    public init(role: String, text: String) {
        self.role = role
        self.text = text
    }
}

/// Tenant settings modules use, read from `tools_config` (secrets opened).
public struct ModuleTenantSettings: Sendable {
    public struct AI: Sendable {
        public var baseURL: String
        public var model: String
        public var key: String?
        public var systemPrompt: String?
        public init(baseURL: String, model: String, key: String?, systemPrompt: String?) {
            self.baseURL = baseURL
            self.model = model
            self.key = key
            self.systemPrompt = systemPrompt
        }
    }
    public var ai: AI?
    public var webhookSecret: String?
    public init(ai: AI? = nil, webhookSecret: String? = nil) {
        self.ai = ai
        self.webhookSecret = webhookSecret
    }
}

/// Side effects a module run asks for, collected by whoever runs the flow.
public final class ModuleEffects: Sendable {
    private let state = Mutex<[String]>([])
    public init() {}
    public func reply(_ text: String) { state.withLock { $0.append(text) } }
    public var replies: [String] { state.withLock { $0 } }
}

/// A module run that failed; `retryable` failures may be attempted again by the node's retry policy.
public struct ModuleFailure: Error, Sendable, Equatable {
    public var message: String
    public var retryable: Bool
    public init(_ message: String, retryable: Bool) {
        self.message = message
        self.retryable = retryable
    }
}

/// A flow module: a manifest, typed configuration, and a run that produces an output value.
public protocol FlowModule: Sendable {
    associatedtype Config: Decodable & Sendable
    var manifest: ModuleManifest { get }
    func run(_ config: Config, context: ModuleContext) async throws(ModuleFailure) -> JSONValue
}

/// `{{name}}` / `{{name.path}}` replaced by variables (strings as they are, other values as JSON);
/// unknown names become empty.
public enum Template {
    public static func render(_ template: String, _ variables: [String: JSONValue]) -> String {
        var out = ""
        var rest = Substring(template)
        while let open = rest.range(of: "{{"), let close = rest[open.upperBound...].range(of: "}}") {
            out += rest[..<open.lowerBound]
            let path = rest[open.upperBound..<close.lowerBound].trimmingCharacters(in: .whitespaces).split(separator: ".").map(String.init)
            var value = path.first.flatMap { variables[$0] }
            for key in path.dropFirst() { value = value?[key] }
            switch value {
            case .string(let text)?: out += text
            case .number(let n)?: out += n.rounded() == n && abs(n) < 9e15 ? String(Int64(n)) : String(n)
            case .bool(let b)?: out += b ? "true" : "false"
            case .some(let other) where other != .null:
                out += String(decoding: (try? JSONEncoder().encode(other)) ?? Data(), as: UTF8.self)
            default: break
            }
            rest = rest[close.upperBound...]
        }
        return out + rest
    }
}

/// Modules registered once, by unique name. Checks node configurations for the validator (schema,
/// then typed decoding, so a bad config is a precise error) and runs modules.
public struct ModuleRegistry: ModuleCatalog {
    struct Entry: Sendable {
        var manifest: ModuleManifest
        var decode: @Sendable ([String: JSONValue]) -> String?
        var run: @Sendable ([String: JSONValue], ModuleContext) async throws(ModuleFailure) -> JSONValue
    }

    public struct DuplicateModule: Error, CustomStringConvertible {
        public let description: String
    }

    private var entries: [String: Entry] = [:]

    public init() {}

    public mutating func register<M: FlowModule>(_ module: M) throws(DuplicateModule) {
        let manifest = module.manifest
        guard entries[manifest.name] == nil else { throw DuplicateModule(description: "a module named '\(manifest.name)' is already registered") }
        entries[manifest.name] = Entry(
            manifest: manifest,
            decode: { config in
                do {
                    _ = try JSONDecoder().decode(M.Config.self, from: JSONEncoder().encode(config))
                    return nil
                } catch {
                    return "the configuration does not decode: \(error)"
                }
            },
            run: { config, context throws(ModuleFailure) in
                let typed: M.Config
                do { typed = try JSONDecoder().decode(M.Config.self, from: JSONEncoder().encode(config)) } catch {
                    throw ModuleFailure("the configuration does not decode", retryable: false)
                }
                return try await module.run(typed, context: context)
            })
    }

    public var manifests: [ModuleManifest] { entries.values.map(\.manifest).sorted { $0.name < $1.name } }

    public func check(module name: String, with config: [String: JSONValue]) -> [String]? {
        guard let entry = entries[name] else { return nil }
        let problems = JSONSchema.validate(.object(config), against: entry.manifest.with, at: "with")
        if !problems.isEmpty { return problems }
        return entry.decode(config).map { [$0] } ?? []
    }

    /// Runs `name` with `config` (templates rendered by the module), under `timeout` per attempt
    /// and retrying retryable failures `attempts` times with `delay` between them.
    public func run(_ name: String, with config: [String: JSONValue], context: ModuleContext,
                    attempts: Int = 1, delay: Duration = .zero) async throws(ModuleFailure) -> JSONValue {
        guard let entry = entries[name] else { throw ModuleFailure("there is no module named '\(name)'", retryable: false) }
        var last = ModuleFailure("not run", retryable: false)
        for attempt in 1...max(1, attempts) {
            let outcome: Result<JSONValue, ModuleFailure> = await withTaskGroup(of: Result<JSONValue, ModuleFailure>?.self) { group in
                group.addTask {
                    do throws(ModuleFailure) { return .success(try await entry.run(config, context)) } catch { return .failure(error) }
                }
                group.addTask {
                    try? await Task.sleep(for: context.timeout)
                    return nil
                }
                let first = await group.next() ?? nil
                group.cancelAll()
                return first ?? .failure(ModuleFailure("timed out after \(context.timeout)", retryable: true))
            }
            switch outcome {
            case .success(let value): return value
            case .failure(let failure):
                last = failure
                guard failure.retryable, attempt < attempts else { throw failure }
                try? await Task.sleep(for: delay)
            }
        }
        throw last
    }

    /// The modules this build ships.
    public static func builtIn() -> ModuleRegistry {
        var registry = ModuleRegistry()
        try! registry.register(HTTPRequestModule())
        try! registry.register(WebhookNotifyModule())
        try! registry.register(CacheModule())
        try! registry.register(AIReplyModule())
        return registry
    }
}

/// `http_request`: a REST call whose response is saved into a variable (`save_as` on the node).
public struct HTTPRequestModule: FlowModule {
    public struct Config: Decodable, Sendable {
        var method: String?
        var url: String
        var headers: [String: String]?
        var body: JSONValue?
    }

    public init() {}

    public var manifest: ModuleManifest {
        ModuleManifest(
            name: "http_request", version: "1.0.0",
            description: "Calls a REST endpoint (http/https only; private networks refused unless the operator allows them) and saves the response.",
            with: .object([
                "type": .string("object"), "additionalProperties": .bool(false), "required": .array([.string("url")]),
                "properties": .object([
                    "method": .object(["type": .string("string"), "enum": .array(["GET", "POST", "PUT", "PATCH", "DELETE"].map(JSONValue.string))]),
                    "url": .object(["type": .string("string"), "format": .string("uri"), "maxLength": .number(2048)]),
                    "headers": .object(["type": .string("object"), "additionalProperties": .object(["type": .string("string"), "maxLength": .number(4096)])]),
                    "body": .object([:]),
                ]),
            ]),
            input: .object(["type": .string("object"), "description": .string("The conversation's variables, for {{templates}} in url, headers and body.")]),
            output: .object([
                "type": .string("object"),
                "properties": .object(["status": .object(["type": .string("integer")]), "ok": .object(["type": .string("boolean")]),
                                       "body": .object(["description": .string("The response, parsed when it is JSON.")])]),
            ]))
    }

    public func run(_ config: Config, context: ModuleContext) async throws(ModuleFailure) -> JSONValue {
        let headers = (config.headers ?? [:]).map { ($0.key, Template.render($0.value, context.variables)) }
        let body = config.body.map { (try? JSONColumn.encodeData(Self.render($0, context.variables))) ?? Data("null".utf8) }
        let (status, data) = try await ModuleHTTP.send(Template.render(config.url, context.variables), method: HTTPMethod(rawValue: config.method ?? "GET"),
                                                       headers: headers, body: body, context: context)
        guard (200..<300).contains(status) else { throw ModuleHTTP.failure(status: status, "the endpoint") }
        let parsed = (try? JSONDecoder().decode(JSONValue.self, from: data)) ?? .string(String(decoding: data, as: UTF8.self))
        return .object(["status": .number(Double(status)), "ok": .bool(true), "body": parsed])
    }

    /// Templates inside string values of a JSON body.
    static func render(_ value: JSONValue, _ variables: [String: JSONValue]) -> JSONValue {
        switch value {
        case .string(let text): .string(Template.render(text, variables))
        case .array(let items): .array(items.map { render($0, variables) })
        case .object(let fields): .object(fields.mapValues { render($0, variables) })
        default: value
        }
    }
}

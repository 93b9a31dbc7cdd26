import AsyncHTTPClient
import Crypto
import Foundation
import Logging
import NIOCore
import NIOHTTP1
import PostgresNIO
import Synchronization

/// The HTTP leg every built-in module shares: http(s) only, the SSRF guard, the node's timeout,
/// responses capped at 1 MiB. Transport failures, 429 and 5xx are retryable; other statuses not.
enum ModuleHTTP {
    static func send(_ url: String, method: HTTPMethod, headers: [(String, String)], body: Data?,
                     context: ModuleContext) async throws(ModuleFailure) -> (status: Int, body: Data) {
        guard let parsed = URL(string: url), ["http", "https"].contains(parsed.scheme?.lowercased() ?? ""), parsed.host?.isEmpty == false else {
            throw ModuleFailure("'\(url)' is not an http(s) URL", retryable: false)
        }
        do {
            try await OutboundAddressGuard.check(url, allowPrivate: context.allowPrivateNetworks, providerType: .meta)
        } catch {
            throw ModuleFailure(error.kind == .blockedAddress ? "the URL points at a private or local address" : error.message, retryable: false)
        }
        var request = HTTPClientRequest(url: url)
        request.method = method
        for (name, value) in headers { request.headers.add(name: name, value: value) }
        if let body {
            request.headers.replaceOrAdd(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
        }
        do {
            let response = try await context.http.execute(request, timeout: .milliseconds(max(100, context.timeout.milliseconds)))
            return (Int(response.status.code), Data(buffer: try await response.body.collect(upTo: 1 << 20)))
        } catch let error as HTTPClientError where [.deadlineExceeded, .readTimeout, .connectTimeout].contains(error) {
            throw ModuleFailure("timed out after \(context.timeout)", retryable: true)
        } catch {
            throw ModuleFailure("the request failed: \(String(describing: Swift.type(of: error)))", retryable: true)
        }
    }

    static func failure(status: Int, _ what: String) -> ModuleFailure {
        ModuleFailure("\(what) answered HTTP \(status)", retryable: status >= 500 || status == 429)
    }
}

extension Duration {
    var milliseconds: Int64 { components.seconds * 1000 + components.attoseconds / 1_000_000_000_000_000 }
}

func schema(_ fields: [String: JSONValue], required: [String] = []) -> JSONValue {
    .object(["type": .string("object"), "additionalProperties": .bool(false), "required": .array(required.map(JSONValue.string)),
             "properties": .object(fields)])
}

func stringSchema(_ description: String, maxLength: Int = 2048, format: String? = nil, values: [String]? = nil) -> JSONValue {
    var object: [String: JSONValue] = ["type": .string("string"), "description": .string(description), "maxLength": .number(Double(maxLength))]
    if let format { object["format"] = .string(format) }
    if let values { object["enum"] = .array(values.map(JSONValue.string)) }
    return .object(object)
}

func integerSchema(_ description: String, _ range: ClosedRange<Int>) -> JSONValue {
    .object(["type": .string("integer"), "description": .string(description),
             "minimum": .number(Double(range.lowerBound)), "maximum": .number(Double(range.upperBound))])
}

// MARK: webhook_notify

/// `webhook_notify`: POSTs an event to a tenant URL. The body is signed with the tenant's
/// `tools_config.webhooks.secret`: `X-PyTake-Signature: sha256=<hex HMAC-SHA256 of the raw body>`.
public struct WebhookNotifyModule: FlowModule {
    public struct Config: Decodable, Sendable {
        var url: String
        var event: String?
        var data: JSONValue?
    }

    public init() {}

    public var manifest: ModuleManifest {
        ModuleManifest(
            name: "webhook_notify", version: "1.0.0",
            description: "POSTs an event to your URL, signed with X-PyTake-Signature: sha256=HMAC-SHA256(tools_config.webhooks.secret, raw body).",
            with: schema([
                "url": stringSchema("Where to POST ({{variables}} allowed).", format: "uri"),
                "event": stringSchema("Event name, e.g. lead.qualified.", maxLength: 100),
                "data": .object(["description": .string("Any JSON; {{variables}} in its strings are filled in.")]),
            ], required: ["url"]),
            input: .object(["type": .string("object"), "description": .string("The conversation's variables, for {{templates}} in url and data.")]),
            output: .object(["type": .string("object"), "properties": .object([
                "status": .object(["type": .string("integer")]), "delivered": .object(["type": .string("boolean")]),
                "delivery_id": .object(["type": .string("string")]),
            ])]))
    }

    /// The signature header's value for `body`.
    public static func signature(_ body: Data, secret: String) -> String {
        let mac = HMAC<SHA256>.authenticationCode(for: body, using: SymmetricKey(data: Data(secret.utf8)))
        return "sha256=" + mac.map { String(format: "%02x", $0) }.joined()
    }

    public func run(_ config: Config, context: ModuleContext) async throws(ModuleFailure) -> JSONValue {
        guard let secret = context.settings.webhookSecret, !secret.isEmpty else {
            throw ModuleFailure("the tenant has no tools_config.webhooks.secret to sign with", retryable: false)
        }
        let deliveryId = UUID().uuidString.lowercased()
        var event: [String: JSONValue] = [
            "delivery_id": .string(deliveryId),
            "event": .string(config.event ?? "flow.notify"),
            "tenant_id": .string(context.tenantId.uuidString.lowercased()),
            "occurred_at": .string(ISO8601DateFormatter().string(from: Date())),
            "data": HTTPRequestModule.render(config.data ?? .object([:]), context.variables),
        ]
        if let conversation = context.conversationId { event["conversation_id"] = .string(conversation.uuidString.lowercased()) }
        let url = Template.render(config.url, context.variables)
        if context.simulation {
            return .object(["delivered": .bool(false), "simulated": .bool(true), "delivery_id": .string(deliveryId)])
        }
        let body = (try? JSONColumn.encodeData(JSONValue.object(event))) ?? Data()
        let (status, _) = try await ModuleHTTP.send(url, method: .POST, headers: [
            ("X-PyTake-Signature", Self.signature(body, secret: secret)), ("X-PyTake-Event", config.event ?? "flow.notify"),
            ("X-PyTake-Delivery", deliveryId), ("User-Agent", "PyTake-Webhook/1"),
        ], body: body, context: context)
        guard (200..<300).contains(status) else { throw ModuleHTTP.failure(status: status, "the webhook URL") }
        return .object(["status": .number(Double(status)), "delivered": .bool(true), "delivery_id": .string(deliveryId)])
    }
}

// MARK: cache

/// Key/value storage for the `cache` module, bound to one tenant.
public protocol ModuleCacheStore: Sendable {
    func set(scope: String, key: String, value: JSONValue, ttlSeconds: Int?) async throws
    func get(scope: String, key: String) async throws -> JSONValue?
    func remove(scope: String, key: String) async throws -> Bool
    /// Keys starting with `prefix`, in key order after `after`, at most `limit`.
    func list(scope: String, prefix: String, after: String?, limit: Int) async throws -> [(key: String, value: JSONValue)]
    func count(scope: String) async throws -> Int
}

/// The cache in Postgres (`module_cache`); expired entries are invisible and swept by the engine.
public struct PostgresModuleCache: ModuleCacheStore {
    let db: DB
    let tenantId: UUID
    let logger: Logger

    public init(db: DB, tenantId: UUID, logger: Logger) {
        self.db = db
        self.tenantId = tenantId
        self.logger = logger
    }

    public func set(scope: String, key: String, value: JSONValue, ttlSeconds: Int?) async throws {
        try await db.tenant(tenantId).query("""
            INSERT INTO module_cache (tenant_id, scope, key, value, expires_at)
            VALUES (\(tenantId), \(scope), \(key), \(try JSONColumn.encode(value))::jsonb, now() + make_interval(secs => \(ttlSeconds)))
            ON CONFLICT (tenant_id, scope, key) DO UPDATE SET value = EXCLUDED.value, expires_at = EXCLUDED.expires_at, updated_at = now()
            """, logger: logger)
    }

    public func get(scope: String, key: String) async throws -> JSONValue? {
        let rows = try await db.tenant(tenantId).query("""
            SELECT value::text FROM module_cache
            WHERE tenant_id = \(tenantId) AND scope = \(scope) AND key = \(key) AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger)
        guard let text = try await rows.decode(String.self).first(where: { _ in true }) else { return nil }
        return try JSONDecoder().decode(JSONValue.self, from: Data(text.utf8))
    }

    public func remove(scope: String, key: String) async throws -> Bool {
        let rows = try await db.tenant(tenantId).query("""
            DELETE FROM module_cache WHERE tenant_id = \(tenantId) AND scope = \(scope) AND key = \(key)
            RETURNING expires_at IS NULL OR expires_at > now()
            """, logger: logger)
        return try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
    }

    public func list(scope: String, prefix: String, after: String?, limit: Int) async throws -> [(key: String, value: JSONValue)] {
        let rows = try await db.tenant(tenantId).query("""
            SELECT key, value::text FROM module_cache
            WHERE tenant_id = \(tenantId) AND scope = \(scope) AND starts_with(key, \(prefix))
              AND (\(after)::text IS NULL OR key COLLATE "C" > \(after) COLLATE "C") AND (expires_at IS NULL OR expires_at > now())
            ORDER BY key COLLATE "C" LIMIT \(limit)
            """, logger: logger)
        var result: [(String, JSONValue)] = []
        for try await (key, value) in rows.decode((String, String).self) {
            result.append((key, (try? JSONDecoder().decode(JSONValue.self, from: Data(value.utf8))) ?? .null))
        }
        return result
    }

    public func count(scope: String) async throws -> Int {
        let rows = try await db.tenant(tenantId).query("""
            SELECT count(*)::int8 FROM module_cache
            WHERE tenant_id = \(tenantId) AND scope = \(scope) AND (expires_at IS NULL OR expires_at > now())
            """, logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) ?? 0
    }

    /// Deletes expired entries of every tenant, a bounded batch at a time; returns how many.
    public static func sweep(db: DB, logger: Logger, batch: Int = 1000) async throws -> Int {
        let rows = try await db.platform(.engineQueue).query("""
            WITH gone AS (
                DELETE FROM module_cache WHERE ctid IN (
                    SELECT ctid FROM module_cache WHERE expires_at <= now() ORDER BY expires_at LIMIT \(batch))
                RETURNING 1)
            SELECT count(*)::int8 FROM gone
            """, logger: logger)
        return try await rows.decode(Int.self).first(where: { _ in true }) ?? 0
    }
}

/// The simulator's cache: lives for one simulation.
public final class MemoryModuleCache: ModuleCacheStore {
    private let entries = Mutex<[String: (value: JSONValue, expires: Date?)]>([:])
    public init() {}

    public func set(scope: String, key: String, value: JSONValue, ttlSeconds: Int?) async throws {
        entries.withLock { $0[scope + "\u{0}" + key] = (value, ttlSeconds.map { Date().addingTimeInterval(TimeInterval($0)) }) }
    }

    private func live(_ scope: String) -> [(key: String, value: JSONValue)] {
        let now = Date()
        return entries.withLock { entries in
            entries.compactMap { name, entry in
                guard name.hasPrefix(scope + "\u{0}"), entry.expires.map({ $0 > now }) ?? true else { return nil }
                return (String(name.dropFirst(scope.count + 1)), entry.value)
            }
        }.sorted { $0.key.utf8.lexicographicallyPrecedes($1.key.utf8) }
    }

    public func get(scope: String, key: String) async throws -> JSONValue? { live(scope).first { $0.key == key }?.value }

    public func remove(scope: String, key: String) async throws -> Bool {
        let existed = try await get(scope: scope, key: key) != nil
        _ = entries.withLock { $0.removeValue(forKey: scope + "\u{0}" + key) }
        return existed
    }

    public func list(scope: String, prefix: String, after: String?, limit: Int) async throws -> [(key: String, value: JSONValue)] {
        Array(live(scope).filter { entry in
            entry.key.hasPrefix(prefix) && (after.map { $0.utf8.lexicographicallyPrecedes(entry.key.utf8) } ?? true)
        }.prefix(limit))
    }

    public func count(scope: String) async throws -> Int { live(scope).count }
}

/// `cache`: conversation- or tenant-scoped key/value with TTL, stored in Postgres.
public struct CacheModule: FlowModule {
    public struct Config: Decodable, Sendable {
        var operation: String
        var scope: String?
        var key: String?
        var value: JSONValue?
        var ttl_seconds: Int?
        var prefix: String?
        var limit: Int?
        var cursor: String?
    }

    public init() {}

    public var manifest: ModuleManifest {
        ModuleManifest(
            name: "cache", version: "1.0.0",
            description: "Keeps values between turns and conversations: set, get, remove, exists, list (prefix, pages), stats; per conversation or per tenant, with a TTL.",
            with: schema([
                "operation": stringSchema("What to do.", maxLength: 10, values: ["set", "get", "remove", "exists", "list", "stats"]),
                "scope": stringSchema("conversation (default) or tenant.", maxLength: 20, values: ["conversation", "tenant"]),
                "key": stringSchema("The key ({{variables}} allowed); required except for list and stats.", maxLength: 256),
                "value": .object(["description": .string("For set: any JSON; {{variables}} in its strings are filled in.")]),
                "ttl_seconds": integerSchema("For set: seconds until the value expires (none: kept until removed).", 1...31_536_000),
                "prefix": stringSchema("For list: only keys starting with this.", maxLength: 256),
                "limit": integerSchema("For list: page size (default 50).", 1...200),
                "cursor": stringSchema("For list: the next_cursor of the previous page.", maxLength: 256),
            ], required: ["operation"]),
            input: .object(["type": .string("object"), "description": .string("The conversation's variables, for {{templates}} in key and value.")]),
            output: .object(["type": .string("object"), "description": .string(
                "set: {ok}; get: {found, value}; remove: {removed}; exists: {exists}; list: {items: [{key, value}], next_cursor}; stats: {count}.")]))
    }

    public func run(_ config: Config, context: ModuleContext) async throws(ModuleFailure) -> JSONValue {
        guard let store = context.cache else { throw ModuleFailure("no cache is available here", retryable: false) }
        let scope: String
        if config.scope == "tenant" {
            scope = "tenant"
        } else {
            guard let conversation = context.conversationId else { throw ModuleFailure("there is no conversation for a conversation-scoped cache", retryable: false) }
            scope = conversation.uuidString.lowercased()
        }
        let key = config.key.map { Template.render($0, context.variables) }
        func requireKey() throws(ModuleFailure) -> String {
            guard let key, !key.isEmpty, key.count <= 256 else { throw ModuleFailure("'key' must be 1 to 256 characters for \(config.operation)", retryable: false) }
            return key
        }
        do {
            switch config.operation {
            case "set":
                let value = HTTPRequestModule.render(config.value ?? .null, context.variables)
                try await store.set(scope: scope, key: try requireKey(), value: value, ttlSeconds: config.ttl_seconds)
                return .object(["ok": .bool(true)])
            case "get":
                let value = try await store.get(scope: scope, key: try requireKey())
                return .object(["found": .bool(value != nil), "value": value ?? .null])
            case "remove":
                return .object(["removed": .bool(try await store.remove(scope: scope, key: try requireKey()))])
            case "exists":
                return .object(["exists": .bool(try await store.get(scope: scope, key: try requireKey()) != nil)])
            case "list":
                let limit = min(max(config.limit ?? 50, 1), 200)
                let rows = try await store.list(scope: scope, prefix: config.prefix.map { Template.render($0, context.variables) } ?? "",
                                                after: config.cursor.flatMap { $0.isEmpty ? nil : $0 }, limit: limit + 1)
                let page = rows.prefix(limit)
                return .object([
                    "items": .array(page.map { .object(["key": .string($0.key), "value": $0.value]) }),
                    "next_cursor": rows.count > limit ? .string(page.last!.key) : .null,
                ])
            case "stats":
                return .object(["count": .number(Double(try await store.count(scope: scope))), "scope": .string(config.scope ?? "conversation")])
            default:
                throw ModuleFailure("unknown operation '\(config.operation)'", retryable: false)
            }
        } catch let failure as ModuleFailure {
            throw failure
        } catch {
            throw ModuleFailure("the cache is unavailable: \(Database.describe(error))", retryable: true)
        }
    }
}

// MARK: ai_reply

/// `ai_reply`: asks an OpenAI-compatible `/v1/chat/completions` endpoint (the tenant's
/// `tools_config.ai`: base_url, model, key, system_prompt) with the recent conversation, then
/// sends the answer to the customer (`mode: send`, default) or only stores it (`mode: store`).
public struct AIReplyModule: FlowModule {
    public struct Config: Decodable, Sendable {
        var prompt: String?
        var history: Int?
        var mode: String?
        var max_tokens: Int?
        var temperature: Double?
    }

    public init() {}

    public var manifest: ModuleManifest {
        ModuleManifest(
            name: "ai_reply", version: "1.0.0",
            description: "Answers with an OpenAI-compatible chat model (tools_config.ai), given the recent conversation; sends the answer or only stores it.",
            with: schema([
                "prompt": stringSchema("Extra instruction for this step ({{variables}} allowed).", maxLength: 4000),
                "history": integerSchema("How many recent messages to include (default 10).", 0...50),
                "mode": stringSchema("send (default): the answer goes to the customer; store: only saved (save_as).", maxLength: 10, values: ["send", "store"]),
                "max_tokens": integerSchema("Upper bound of the answer's length in tokens.", 1...4096),
                "temperature": .object(["type": .string("number"), "minimum": .number(0), "maximum": .number(2)]),
            ]),
            input: .object(["type": .string("object"), "description": .string("The conversation's recent messages and variables.")]),
            output: .object(["type": .string("object"), "properties": .object([
                "text": .object(["type": .string("string")]), "model": .object(["type": .string("string")]),
                "sent": .object(["type": .string("boolean")]),
            ])]))
    }

    public func run(_ config: Config, context: ModuleContext) async throws(ModuleFailure) -> JSONValue {
        guard let ai = context.settings.ai else {
            throw ModuleFailure("the tenant has no tools_config.ai (base_url, model) configured", retryable: false)
        }
        var messages: [JSONValue] = []
        if let system = ai.systemPrompt, !system.isEmpty { messages.append(.object(["role": .string("system"), "content": .string(system)])) }
        for line in await context.history(min(max(config.history ?? 10, 0), 50)) {
            messages.append(.object(["role": .string(line.role), "content": .string(line.text)]))
        }
        if let prompt = config.prompt, !prompt.isEmpty {
            messages.append(.object(["role": .string("system"), "content": .string(Template.render(prompt, context.variables))]))
        }
        var request: [String: JSONValue] = ["model": .string(ai.model), "messages": .array(messages)]
        if let maxTokens = config.max_tokens { request["max_tokens"] = .number(Double(maxTokens)) }
        if let temperature = config.temperature { request["temperature"] = .number(temperature) }
        var base = ai.baseURL
        while base.hasSuffix("/") { base.removeLast() }
        let url = base.hasSuffix("/v1") ? base + "/chat/completions" : base + "/v1/chat/completions"
        var headers: [(String, String)] = []
        if let key = ai.key, !key.isEmpty { headers.append(("Authorization", "Bearer \(key)")) }
        let (status, data) = try await ModuleHTTP.send(url, method: .POST, headers: headers,
                                                       body: (try? JSONColumn.encodeData(JSONValue.object(request))) ?? Data(), context: context)
        guard (200..<300).contains(status) else { throw ModuleHTTP.failure(status: status, "the AI endpoint") }
        let answer = try? JSONDecoder().decode(JSONValue.self, from: data)
        guard let text = answer?["choices"]?.array?.first?["message"]?["content"]?.string?.trimmingCharacters(in: .whitespacesAndNewlines),
              !text.isEmpty else {
            throw ModuleFailure("the AI endpoint's answer has no choices[0].message.content", retryable: false)
        }
        let send = (config.mode ?? "send") == "send"
        if send { context.effects.reply(String(text.prefix(4096))) }
        return .object(["text": .string(text), "model": .string(answer?["model"]?.string ?? ai.model), "sent": .bool(send)])
    }
}

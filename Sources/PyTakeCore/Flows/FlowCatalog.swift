import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Published flow versions (immutable, so cached without expiry) and each tenant's triggers
/// (cached briefly; a publish in this process clears its tenant at once, other replicas within
/// `triggerTTL`).
public final class FlowCatalog: Sendable {
    public struct Candidate: Sendable {
        public var flowId: UUID
        public var version: Int
        public var trigger: FlowTrigger
        /// Compiled once for regex triggers.
        var regex: NSRegularExpression?
    }

    struct State {
        var definitions: [String: FlowDefinition] = [:]
        var triggers: [UUID: (candidates: [Candidate], expires: ContinuousClock.Instant)] = [:]
    }

    let db: DB
    let logger: Logger
    let triggerTTL: Duration
    private let state = Mutex(State())
    static let maxDefinitions = 10_000

    public init(db: DB, logger: Logger, triggerTTL: Duration = .seconds(2)) {
        self.db = db
        self.logger = logger
        self.triggerTTL = triggerTTL
    }

    public func invalidate(tenant: UUID) {
        _ = state.withLock { $0.triggers.removeValue(forKey: tenant) }
    }

    /// A published version's definition; nil when it does not exist.
    public func definition(flowId: UUID, version: Int, tenant: UUID) async throws -> FlowDefinition? {
        let key = "\(tenant.uuidString)/\(flowId.uuidString)/\(version)"
        if let cached = state.withLock({ $0.definitions[key] }) { return cached }
        let rows = try await db.tenant(tenant).query("SELECT definition::text FROM flow_versions WHERE flow_id = \(flowId) AND version = \(version)", logger: logger)
        guard let text = try await rows.decode(String.self).first(where: { _ in true }) else { return nil }
        let definition = try FlowDefinition.decode(text)
        state.withLock { state in
            if state.definitions.count >= Self.maxDefinitions { state.definitions.removeAll(keepingCapacity: true) }
            state.definitions[key] = definition
        }
        return definition
    }

    /// The flow a new conversation (or one whose flow ended) starts for `message`: keyword and
    /// regex triggers first, in the order the flows were created, then the default flow.
    public func flow(for message: String, tenant: UUID) async throws -> Candidate? {
        let candidates = try await triggers(tenant: tenant)
        for candidate in candidates {
            switch candidate.trigger.type {
            case .keywords:
                if (candidate.trigger.keywords ?? []).contains(where: { Self.containsWord($0, in: message) }) { return candidate }
            case .regex:
                if let regex = candidate.regex, regex.firstMatch(in: message, range: NSRange(message.startIndex..., in: message)) != nil {
                    return candidate
                }
            case .default:
                break
            }
        }
        return candidates.first { $0.trigger.type == .default }
    }

    /// `keyword` appears in `text` as whole words, ignoring case and accents.
    static func containsWord(_ keyword: String, in text: String) -> Bool {
        let needle = keyword.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !needle.isEmpty else { return false }
        var searchRange = text.startIndex..<text.endIndex
        while let found = text.range(of: needle, options: [.caseInsensitive, .diacriticInsensitive], range: searchRange) {
            let before = found.lowerBound == text.startIndex ? nil : text[text.index(before: found.lowerBound)]
            let after = found.upperBound == text.endIndex ? nil : text[found.upperBound]
            if !(before?.isLetter ?? false || before?.isNumber ?? false) && !(after?.isLetter ?? false || after?.isNumber ?? false) { return true }
            searchRange = text.index(after: found.lowerBound)..<text.endIndex
        }
        return false
    }

    func triggers(tenant: UUID) async throws -> [Candidate] {
        let now = ContinuousClock.now
        if let cached = state.withLock({ $0.triggers[tenant] }), cached.expires > now { return cached.candidates }
        let rows = try await db.tenant(tenant).query("""
            SELECT f.id, f.published_version, v.trigger::text
            FROM flows f JOIN flow_versions v ON v.flow_id = f.id AND v.version = f.published_version
            WHERE f.tenant_id = \(tenant) AND f.deleted_at IS NULL AND f.published_version IS NOT NULL
            ORDER BY f.created_at, f.id
            """, logger: logger)
        var candidates: [Candidate] = []
        for try await (id, version, triggerJSON) in rows.decode((UUID, Int, String).self) {
            guard let trigger = try? JSONDecoder().decode(FlowTrigger.self, from: Data(triggerJSON.utf8)) else { continue }
            let regex = trigger.type == .regex ? trigger.pattern.flatMap { try? NSRegularExpression(pattern: $0, options: [.caseInsensitive]) } : nil
            candidates.append(Candidate(flowId: id, version: version, trigger: trigger, regex: regex))
        }
        state.withLock { $0.triggers[tenant] = (candidates, now.advanced(by: triggerTTL)) }
        return candidates
    }
}

/// Module runs per tenant: a token bucket per tenant in this process.
public final class ModuleRateLimiter: Sendable {
    let perMinute: Int
    private let buckets = Mutex<[UUID: (tokens: Double, at: ContinuousClock.Instant)]>([:])

    public init(perMinute: Int) { self.perMinute = perMinute }

    public func take(_ tenant: UUID) -> Bool {
        let now = ContinuousClock.now
        let capacity = Double(perMinute)
        return buckets.withLock { buckets in
            var bucket = buckets[tenant] ?? (capacity, now)
            let elapsed = bucket.at.duration(to: now)
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(capacity, bucket.tokens + seconds * capacity / 60)
            bucket.at = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[tenant] = bucket
            return allowed
        }
    }
}

/// Tenant settings the engine and modules read from `clients` (status, `tools_config`), cached briefly.
public final class EngineTenantSettings: Sendable {
    public struct Entry: Sendable {
        public var active: Bool
        public var debounceMilliseconds: Int
        public var modules: ModuleTenantSettings
    }

    let db: DB
    let logger: Logger
    let secrets: SecretBox
    let ttl: Duration
    private let cache = Mutex<[UUID: (entry: Entry, expires: ContinuousClock.Instant)]>([:])

    public init(db: DB, logger: Logger, secrets: SecretBox, ttl: Duration = .seconds(2)) {
        self.db = db
        self.logger = logger
        self.secrets = secrets
        self.ttl = ttl
    }

    public func invalidateAll() { cache.withLock { $0.removeAll() } }

    public func get(_ tenant: UUID) async throws -> Entry {
        let now = ContinuousClock.now
        if let cached = cache.withLock({ $0[tenant] }), cached.expires > now { return cached.entry }
        let rows = try await db.tenant(tenant).query("SELECT status = 'active', tools_config::text FROM clients WHERE id = \(tenant)", logger: logger)
        guard let (active, json) = try await rows.decode((Bool, String).self).first(where: { _ in true }) else {
            return Entry(active: false, debounceMilliseconds: 0, modules: ModuleTenantSettings())
        }
        let config = (try? JSONDecoder().decode([String: JSONValue].self, from: Data(json.utf8))) ?? [:]
        func open(_ path: [String]) -> String? {
            guard let sealed = config[path[0]]?[path[1]]?.string else { return nil }
            do {
                return try secrets.openLegacy(sealed, context: TenantService.toolsSecretContext(path, tenant: tenant))
            } catch {
                logger.error("a tools_config secret does not open", metadata: ["tenant": "\(tenant)", "path": "\(path.joined(separator: "."))"])
                return nil
            }
        }
        var ai: ModuleTenantSettings.AI?
        if let section = config["ai"], let base = section["base_url"]?.string, let model = section["model"]?.string {
            ai = .init(baseURL: base, model: model, key: open(["ai", "key"]), systemPrompt: section["system_prompt"]?.string)
        }
        let entry = Entry(active: active, debounceMilliseconds: Int(min(max(config["debounce_ms"]?.number ?? 0, 0), 60_000)),
                          modules: ModuleTenantSettings(ai: ai, webhookSecret: open(["webhooks", "secret"])))
        cache.withLock { $0[tenant] = (entry, now.advanced(by: ttl)) }
        return entry
    }
}

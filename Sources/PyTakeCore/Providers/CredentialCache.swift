import Foundation
import Logging
import PostgresNIO
import ServiceLifecycle
import Synchronization

/// Resolved credentials kept in memory for a short time, so sends and the credentials endpoint do
/// not ask the database every time. Every write that can change a resolution (provider rows, the
/// legacy columns, tenant status) sends `NOTIFY pytake_credentials, '<tenant id>'` in its
/// transaction; every process listens and forgets that tenant's entries (the writing process also
/// forgets them itself right after commit). The time-to-live bounds staleness if a notification is
/// ever missed, and the listener clears everything whenever it (re)connects.
public final class CredentialCache: Sendable {
    public static let channel = "pytake_credentials"

    struct Entry {
        var value: ResolvedCredentials
        var expires: ContinuousClock.Instant
    }

    struct State {
        var entries: [String: Entry] = [:]
        /// Bumped by every invalidation; a lookup that started before one does not store its result.
        var generation: UInt64 = 0
    }

    public let ttl: Duration
    private let state = Mutex(State())
    /// Other caches derived from the same rows (webhook routing), forgotten together.
    private let dependents = Mutex<[@Sendable () -> Void]>([])

    public func onInvalidate(_ forget: @escaping @Sendable () -> Void) {
        dependents.withLock { $0.append(forget) }
    }

    private func forgetDependents() {
        for forget in dependents.withLock({ $0 }) { forget() }
    }
    /// Bound on entries, so a flood of distinct keys cannot grow memory without limit.
    let capacity = 50_000

    public init(ttl: Duration) {
        self.ttl = ttl
    }

    var enabled: Bool { ttl > .zero }
    /// The listener runs even with the cache off when something else depends on it.
    var hasDependents: Bool { dependents.withLock { !$0.isEmpty } }

    func lookup(_ key: String) -> (ResolvedCredentials?, generation: UInt64) {
        let now = ContinuousClock.now
        return state.withLock { state in
            if let entry = state.entries[key], entry.expires > now { return (entry.value, state.generation) }
            return (nil, state.generation)
        }
    }

    func store(_ key: String, _ value: ResolvedCredentials, generation: UInt64) {
        guard enabled else { return }
        let expires = ContinuousClock.now + ttl
        state.withLock { state in
            guard state.generation == generation else { return }
            if state.entries.count >= capacity { state.entries.removeAll(keepingCapacity: true) }
            state.entries[key] = Entry(value: value, expires: expires)
        }
    }

    public func invalidate(tenant: UUID) {
        let prefix = tenant.uuidString.lowercased() + "|"
        state.withLock { state in
            state.generation &+= 1
            state.entries = state.entries.filter { !$0.key.hasPrefix(prefix) }
        }
        forgetDependents()
    }

    public func invalidateAll() {
        state.withLock { state in
            state.generation &+= 1
            state.entries.removeAll()
        }
        forgetDependents()
    }

    public var count: Int { state.withLock { $0.entries.count } }

    /// Inside a write transaction: tells every process (at commit) that `tenant`'s credentials changed.
    static func notify(_ tx: Tx, tenant: UUID, logger: Logger) async throws {
        try await tx.query("SELECT pg_notify(\(channel), \(tenant.uuidString.lowercased()))", logger: logger)
    }
}

/// Listens for credential changes made by any process and drops the affected cache entries.
/// Reconnects after failures; clears the whole cache on each (re)connection, since notifications
/// sent while it was away are lost.
public struct CredentialInvalidationListener: Service {
    let db: DB
    let cache: CredentialCache
    let logger: Logger

    public init(db: DB, cache: CredentialCache, logger: Logger) {
        self.db = db
        self.cache = cache
        self.logger = logger
    }

    public func run() async throws {
        guard cache.enabled || cache.hasDependents else { return }
        try? await cancelWhenGracefulShutdown {
            while !Task.isCancelled {
                do {
                    try await db.client.withConnection { connection in
                        try await connection.listen(on: CredentialCache.channel) { notifications in
                            cache.invalidateAll()
                            for try await notification in notifications {
                                if let tenant = UUID(uuidString: notification.payload) {
                                    cache.invalidate(tenant: tenant)
                                } else {
                                    cache.invalidateAll()
                                }
                            }
                        }
                    }
                } catch {
                    if Task.isCancelled { break }
                    cache.invalidateAll()
                    logger.warning("credential change listener lost its connection; retrying", metadata: ["error": "\(Database.describe(error))"])
                    try? await Task.sleep(for: .seconds(1))
                }
            }
        }
    }
}

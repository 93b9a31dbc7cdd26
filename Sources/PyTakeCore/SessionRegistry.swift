import Foundation
import Logging
import PostgresNIO
import Synchronization

/// Answers "is this sign-in session still alive?" for access tokens, so that sign-out, a new
/// password or role, a deleted user or a suspended tenant end access within `recheckInterval`
/// instead of when the token expires. A session is alive while its refresh-token family has an
/// unrevoked, unexpired token. Positive answers are remembered for `recheckInterval` (0: always ask).
public final class SessionRegistry: Sendable {
    let db: DB
    let logger: Logger
    let recheckInterval: TimeInterval
    private let alive: Mutex<[UUID: Date]> = Mutex([:])

    public init(db: DB, logger: Logger, recheckInterval: TimeInterval) {
        self.db = db
        self.logger = logger
        self.recheckInterval = recheckInterval
    }

    public func isActive(_ sessionId: UUID) async throws -> Bool {
        let now = Date()
        if recheckInterval > 0, let checked = alive.withLock({ $0[sessionId] }), now.timeIntervalSince(checked) < recheckInterval {
            return true
        }
        let rows = try await db.unscoped.query("""
            SELECT EXISTS (SELECT 1 FROM refresh_tokens WHERE family_id = \(sessionId) AND revoked_at IS NULL AND expires_at > now())
            """, logger: logger)
        let active = try await rows.decode(Bool.self).first(where: { _ in true }) ?? false
        alive.withLock { alive in
            if active {
                if alive.count > 100_000 { alive.removeAll(keepingCapacity: true) }
                alive[sessionId] = now
            } else {
                alive[sessionId] = nil
            }
        }
        return active
    }
}

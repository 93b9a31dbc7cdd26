import Foundation
import Logging
import PostgresNIO

/// Fixed-window counters of failed sign-ins per account and per client address, kept in Postgres so
/// every server replica sees the same counts. Checked before any password hashing, so a flood of
/// guesses costs the server one small query each.
public struct LoginThrottle: Sendable {
    public struct Policy: Sendable, Equatable {
        public var maxFailuresPerAccount: Int
        public var maxFailuresPerIP: Int
        public var windowSeconds: Int
        public init(maxFailuresPerAccount: Int = 5, maxFailuresPerIP: Int = 30, windowSeconds: Int = 900) {
            self.maxFailuresPerAccount = maxFailuresPerAccount
            self.maxFailuresPerIP = maxFailuresPerIP
            self.windowSeconds = windowSeconds
        }
    }

    let db: DB
    let logger: Logger
    public let policy: Policy

    public init(db: DB, logger: Logger, policy: Policy) {
        self.db = db
        self.logger = logger
        self.policy = policy
    }

    static func accountKey(_ email: String) -> String { "account:" + email }
    static func ipKey(_ ip: String) -> String { "ip:" + ip }

    /// Counts this attempt against the account and the address *before* the password is checked,
    /// atomically, so parallel guesses cannot all slip under the limit. Returns the seconds to wait
    /// when either counter is over its limit, else nil. A successful sign-in calls `release`.
    public func reserve(email: String, ip: String) async throws -> Int? {
        let window = policy.windowSeconds
        let rows = try await db.unscoped.query("""
            INSERT INTO login_throttle AS t (key, failures, window_start)
            VALUES (\(Self.accountKey(email)), 1, now()), (\(Self.ipKey(ip)), 1, now())
            ON CONFLICT (key) DO UPDATE SET
                failures = CASE WHEN t.window_start <= now() - \(window) * interval '1 second' THEN 1 ELSE t.failures + 1 END,
                window_start = CASE WHEN t.window_start <= now() - \(window) * interval '1 second' THEN now() ELSE t.window_start END
            RETURNING key, failures,
                greatest(1, ceil(extract(epoch FROM window_start + \(window) * interval '1 second' - now())))::int8
            """, logger: logger)
        var wait: Int?
        for try await (key, attempts, remaining) in rows.decode((String, Int, Int).self) {
            let limit = key.hasPrefix("account:") ? policy.maxFailuresPerAccount : policy.maxFailuresPerIP
            if attempts > limit { wait = max(wait ?? 0, remaining) }
        }
        return wait
    }

    /// A successful sign-in: the account's counter starts over and the address gets back the
    /// attempt `reserve` counted, so only failures add up.
    public func release(email: String, ip: String) async throws {
        try await db.unscoped.query("""
            WITH cleared AS (DELETE FROM login_throttle WHERE key = \(Self.accountKey(email)))
            UPDATE login_throttle SET failures = greatest(failures - 1, 0) WHERE key = \(Self.ipKey(ip))
            """, logger: logger)
    }
}

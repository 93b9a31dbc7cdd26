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

    let db: PostgresClient
    let logger: Logger
    public let policy: Policy

    public init(db: PostgresClient, logger: Logger, policy: Policy) {
        self.db = db
        self.logger = logger
        self.policy = policy
    }

    static func accountKey(_ email: String) -> String { "account:" + email }
    static func ipKey(_ ip: String) -> String { "ip:" + ip }

    public struct State: Sendable {
        /// Seconds to wait when either counter is over its limit.
        public var retryAfter: Int?
        /// Whether the account has failures in the current window (to clear on success).
        public var accountHasFailures: Bool
    }

    public func check(email: String, ip: String) async throws -> State {
        let rows = try await db.query("""
            SELECT key, failures, greatest(1, ceil(extract(epoch FROM window_start + \(policy.windowSeconds) * interval '1 second' - now())))::int8
            FROM login_throttle
            WHERE key IN (\(Self.accountKey(email)), \(Self.ipKey(ip)))
              AND window_start > now() - \(policy.windowSeconds) * interval '1 second'
            """, logger: logger)
        var state = State(retryAfter: nil, accountHasFailures: false)
        for try await (key, failures, remaining) in rows.decode((String, Int, Int).self) {
            let isAccount = key.hasPrefix("account:")
            if isAccount { state.accountHasFailures = true }
            if failures >= (isAccount ? policy.maxFailuresPerAccount : policy.maxFailuresPerIP) {
                state.retryAfter = max(state.retryAfter ?? 0, remaining)
            }
        }
        return state
    }

    public func recordFailure(email: String, ip: String) async throws {
        for key in [Self.accountKey(email), Self.ipKey(ip)] {
            try await db.query("""
                INSERT INTO login_throttle AS t (key, failures, window_start) VALUES (\(key), 1, now())
                ON CONFLICT (key) DO UPDATE SET
                    failures = CASE WHEN t.window_start <= now() - \(policy.windowSeconds) * interval '1 second' THEN 1 ELSE t.failures + 1 END,
                    window_start = CASE WHEN t.window_start <= now() - \(policy.windowSeconds) * interval '1 second' THEN now() ELSE t.window_start END
                """, logger: logger)
        }
    }

    /// A successful sign-in clears the account's counter (the address keeps its own).
    public func recordSuccess(email: String) async throws {
        try await db.query("DELETE FROM login_throttle WHERE key = \(Self.accountKey(email))", logger: logger)
    }
}

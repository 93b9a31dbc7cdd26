import Foundation
import Synchronization

/// Token buckets keyed by a string (a user id, a client address), in this process's memory:
/// `burst` requests at once, refilled at `perMinute`. Behind a load balancer each replica keeps its
/// own buckets, so a client spread over N replicas gets up to N times the rate; the limit exists to
/// stop floods and runaway scripts, not to meter usage exactly.
///
/// Shards (16) keep lock contention low; idle keys are swept when a shard grows.
public final class RateLimiter: Sendable {
    public struct Decision: Sendable, Equatable {
        public var allowed: Bool
        /// The bucket's size (`RateLimit-Limit`).
        public var limit: Int
        /// Whole requests left now (`RateLimit-Remaining`).
        public var remaining: Int
        /// Seconds until the bucket is full again (`RateLimit-Reset`).
        public var resetSeconds: Int
        /// Seconds until one more request is allowed (`Retry-After`), when refused.
        public var retryAfter: Int
    }

    struct Bucket {
        var tokens: Double
        var updated: ContinuousClock.Instant
    }

    public let burst: Int
    public let perMinute: Int
    private let perSecond: Double
    final class Shard: Sendable {
        let buckets = Mutex<[String: Bucket]>([:])
    }
    private let shards: [Shard]
    /// A shard sweeps its full (idle) buckets when it holds more keys than this.
    private let sweepAbove: Int

    public init(perMinute: Int, burst: Int, shards: Int = 16, sweepAbove: Int = 10_000) {
        precondition(perMinute > 0 && burst > 0)
        self.perMinute = perMinute
        self.burst = burst
        self.perSecond = Double(perMinute) / 60
        self.sweepAbove = sweepAbove
        self.shards = (0..<max(1, shards)).map { _ in Shard() }
    }

    public func take(_ key: String, now: ContinuousClock.Instant = .now) -> Decision {
        var hasher = Hasher()
        hasher.combine(key)
        let shard = shards[Int(UInt(bitPattern: hasher.finalize()) % UInt(shards.count))]
        return shard.buckets.withLock { buckets in
            var bucket = buckets[key] ?? Bucket(tokens: Double(burst), updated: now)
            let elapsed = now - bucket.updated
            let seconds = Double(elapsed.components.seconds) + Double(elapsed.components.attoseconds) / 1e18
            bucket.tokens = min(Double(burst), bucket.tokens + max(0, seconds) * perSecond)
            bucket.updated = now
            let allowed = bucket.tokens >= 1
            if allowed { bucket.tokens -= 1 }
            buckets[key] = bucket
            if buckets.count > sweepAbove { sweep(&buckets, now: now) }
            let missing = Double(burst) - bucket.tokens
            return Decision(
                allowed: allowed, limit: burst, remaining: Int(bucket.tokens.rounded(.down)),
                resetSeconds: Int((missing / perSecond).rounded(.up)),
                retryAfter: allowed ? 0 : max(1, Int(((1 - bucket.tokens) / perSecond).rounded(.up))))
        }
    }

    /// Drops buckets that have refilled completely: they hold no information.
    private func sweep(_ buckets: inout [String: Bucket], now: ContinuousClock.Instant) {
        let full = Duration.seconds(Double(burst) / perSecond)
        buckets = buckets.filter { now - $0.value.updated < full }
    }

    public var keyCount: Int { shards.reduce(0) { $0 + $1.buckets.withLock { $0.count } } }
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the nearest address in
/// `X-Forwarded-For` that is not one of the trusted proxies (the header's left part is whatever
/// the client claimed and is never believed on its own).
public func clientAddress(peer: String, forwardedFor: [String], trustedProxies: Set<String>) -> String {
    guard trustedProxies.contains(peer), !forwardedFor.isEmpty else { return peer }
    let hops = forwardedFor.flatMap { $0.split(separator: ",") }.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    for hop in hops.reversed() where !trustedProxies.contains(hop) {
        return hop
    }
    return hops.first ?? peer
}

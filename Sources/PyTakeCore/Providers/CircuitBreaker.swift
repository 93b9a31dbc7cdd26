import Foundation
import Synchronization

/// One circuit breaker per provider instance, in this process: closed → open after `threshold`
/// consecutive failed sends → half-open after `cooldown`, when a single trial send decides whether
/// it closes again or reopens. Failures are sends that ended in a transient fault (timeouts,
/// connection errors, 5xx, 429) after their retries; a 4xx means the provider is up and answering.
public final class CircuitBreakers: Sendable {
    public enum State: String, Sendable {
        case closed, open
        case halfOpen = "half_open"
    }

    public struct Snapshot: Sendable, Equatable {
        public var state: State
        public var consecutiveFailures: Int
        /// When an open breaker lets a trial through.
        public var retryAt: Date?
        public var openedAt: Date?
    }

    struct Entry {
        var state: State = .closed
        var failures = 0
        var openedAt: ContinuousClock.Instant?
        var openedWall: Date?
        var trialInFlight = false
    }

    public let threshold: Int
    public let cooldown: Duration
    private let entries = Mutex<[String: Entry]>([:])

    public init(threshold: Int, cooldown: Duration) {
        self.threshold = threshold
        self.cooldown = cooldown
    }

    /// Permission to send: nil, or the seconds until an open breaker lets a trial through.
    public func acquire(_ key: String) -> Int? {
        let now = ContinuousClock.now
        return entries.withLock { entries -> Int? in
            var entry = entries[key] ?? Entry()
            defer { entries[key] = entry }
            switch entry.state {
            case .closed:
                return nil
            case .open:
                let reopen = entry.openedAt! + cooldown
                if now >= reopen {
                    entry.state = .halfOpen
                    entry.trialInFlight = true
                    return nil
                }
                return max(1, Int((reopen - now).components.seconds))
            case .halfOpen:
                if entry.trialInFlight { return max(1, Int(cooldown.components.seconds)) }
                entry.trialInFlight = true
                return nil
            }
        }
    }

    /// Returns true when this closed a breaker that was open or half-open.
    @discardableResult
    public func recordSuccess(_ key: String) -> Bool {
        entries.withLock { entries in
            let wasOpen = (entries[key]?.state ?? .closed) != .closed
            entries[key] = Entry()
            return wasOpen
        }
    }

    /// Returns true when this opened a closed breaker (a failed half-open trial reopens, not opens).
    @discardableResult
    public func recordFailure(_ key: String) -> Bool {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            var entry = entries[key] ?? Entry()
            let wasClosed = entry.state == .closed
            entry.failures += 1
            entry.trialInFlight = false
            if entry.state == .halfOpen || entry.failures >= threshold {
                entry.state = .open
                entry.openedAt = now
                entry.openedWall = Date()
            }
            entries[key] = entry
            return wasClosed && entry.state == .open
        }
    }

    /// A send that ended without a verdict on the provider's health (cancelled, refused locally).
    public func release(_ key: String) {
        entries.withLock { entries in entries[key]?.trialInFlight = false }
    }

    public func snapshot(_ key: String) -> Snapshot {
        let now = ContinuousClock.now
        return entries.withLock { entries in
            let entry = entries[key] ?? Entry()
            var state = entry.state
            var retryAt: Date?
            if entry.state == .open, let openedAt = entry.openedAt {
                let remaining = openedAt + cooldown - now
                if remaining <= .zero { state = .halfOpen } else {
                    retryAt = Date().addingTimeInterval(Double(remaining.components.seconds) + Double(remaining.components.attoseconds) / 1e18)
                }
            }
            return Snapshot(state: state, consecutiveFailures: entry.failures, retryAt: retryAt, openedAt: entry.openedWall)
        }
    }
}

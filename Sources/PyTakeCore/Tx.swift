import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A leased connection, in a transaction or not, whose statements fail with
/// `Database.ConnectionClosed` when the connection closes under them.
///
/// postgres-nio 1.33 leaves a statement written to a connection that has already closed waiting
/// forever: the channel's handlers are gone, so nothing ever answers the statement's promise, and
/// `withTransaction` itself writes `ROLLBACK` after a failure. A database restart between two
/// statements of a transaction, or a pool closing its connections at shutdown while a statement
/// was on its way, then stalled the task for good, and with it a request, a webhook writer or a
/// server's shutdown. Here each statement runs in a child task that the connection's close
/// answers for: the caller gets `ConnectionClosed` at once, and a statement that would never
/// have been answered is left behind (a small leak, only when a connection dies at that moment).
public struct Tx: Sendable {
    public let connection: PostgresConnection

    public init(_ connection: PostgresConnection) { self.connection = connection }

    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        let connection = self.connection
        return try await ClosedConnectionGuard.run(connection) {
            try await connection.query(query, logger: logger, file: file, line: line)
        }
    }

    /// Runs `query` as the prepared statement named by `key` and reads all its rows.
    func prepared<Key>(_ key: Key.Type, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        let connection = self.connection
        let name = Prepared<Key>.name
        PreparedSQL.register(name, query.sql)
        let bindings = query.binds
        return try await ClosedConnectionGuard.run(connection) {
            var rows: [PostgresRow] = []
            for try await row in try await connection.execute(Prepared<Key>(bindings: bindings), logger: logger) { rows.append(row) }
            return rows
        }
    }
}

extension Database {
    /// The connection closed before the database answered a statement (see `Tx`).
    public struct ConnectionClosed: Error, CustomStringConvertible {
        public var description: String { "the database connection closed before the statement was answered" }
    }
}

extension Tx {
    /// A transaction on this connection: BEGIN, `body`, COMMIT; ROLLBACK when `body` throws
    /// (unless the connection is gone). A failure is rethrown as itself (postgres-nio's
    /// `withTransaction` wraps it in `PostgresTransactionError`, which would hide domain errors
    /// and constraint violations), and no statement waits on a closed connection.
    public func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Tx) async throws -> sending Result
    ) async throws -> sending Result {
        try await query("BEGIN", logger: logger)
        let value: Result
        do {
            value = try await body(self)
        } catch {
            if !connection.isClosed { _ = try? await query("ROLLBACK", logger: logger) }
            throw error
        }
        try await query("COMMIT", logger: logger)
        return value
    }
}

extension PostgresClient {
    /// `Tx.transaction` on a pooled connection.
    public func transaction<Result>(
        logger: Logger,
        isolation: isolated (any Actor)? = #isolation,
        _ body: (Tx) async throws -> sending Result
    ) async throws -> sending Result {
        try await withConnection(isolation: isolation) { connection in
            try await Tx(connection).transaction(logger: logger, isolation: isolation, body)
        }
    }

    /// `body` on a pooled connection, outside a transaction, with `Tx`'s guard.
    public func withTx<Result: Sendable>(_ body: @Sendable (Tx) async throws -> Result) async throws -> Result {
        try await withConnection { connection in try await body(Tx(connection)) }
    }
}

/// Answers for statements whose connection closed (see `Tx`).
enum ClosedConnectionGuard {
    static func run<T: Sendable>(_ connection: PostgresConnection, _ statement: @escaping @Sendable () async throws -> T) async throws -> T {
        if connection.isClosed { throw Database.ConnectionClosed() }
        let waiter = Waiter<T>()
        let key = ObjectIdentifier(connection)
        registry.add(waiter, for: connection)
        defer { registry.remove(waiter, for: key) }
        return try await withCheckedThrowingContinuation { continuation in
            waiter.begin(continuation)
            Task {
                do { waiter.finish(.success(try await statement())) } catch { waiter.finish(.failure(error)) }
            }
        }
    }

    static let registry = Registry()

    protocol Failable: AnyObject, Sendable {
        func fail(_ error: any Error)
    }

    /// One answer for one caller: the statement's, or the connection's close, whichever is first.
    final class Waiter<T: Sendable>: Failable {
        private struct State {
            var continuation: CheckedContinuation<T, any Error>?
            var early: Result<T, any Error>?
            var done = false
        }
        private let state = Mutex(State())

        func begin(_ continuation: CheckedContinuation<T, any Error>) {
            let early = state.withLock { state -> Result<T, any Error>? in
                if let early = state.early { return early }
                state.continuation = continuation
                return nil
            }
            if let early { continuation.resume(with: early) }
        }

        func finish(_ result: Result<T, any Error>) {
            let continuation = state.withLock { state -> CheckedContinuation<T, any Error>? in
                guard !state.done else { return nil }
                state.done = true
                guard let continuation = state.continuation else {
                    state.early = result
                    return nil
                }
                state.continuation = nil
                return continuation
            }
            continuation?.resume(with: result)
        }

        func fail(_ error: any Error) { finish(.failure(error)) }
    }

    /// The statements waiting on each open connection; one close callback per connection.
    final class Registry: Sendable {
        private let waiting = Mutex<[ObjectIdentifier: [ObjectIdentifier: any Failable]]>([:])

        func add(_ waiter: any Failable, for connection: PostgresConnection) {
            let key = ObjectIdentifier(connection)
            let first = waiting.withLock { waiting -> Bool in
                let first = waiting[key] == nil
                waiting[key, default: [:]][ObjectIdentifier(waiter)] = waiter
                return first
            }
            // Runs at once when the connection has closed already.
            if first { connection.closeFuture.whenComplete { _ in self.closed(key) } }
        }

        func remove(_ waiter: any Failable, for key: ObjectIdentifier) {
            waiting.withLock { waiting in _ = waiting[key]?.removeValue(forKey: ObjectIdentifier(waiter)) }
        }

        private func closed(_ key: ObjectIdentifier) {
            let waiters = waiting.withLock { $0.removeValue(forKey: key) } ?? [:]
            for waiter in waiters.values { waiter.fail(Database.ConnectionClosed()) }
        }

        /// Whether `connection` has an entry (they go with their connection's close).
        func watches(_ connection: PostgresConnection) -> Bool { waiting.withLock { $0[ObjectIdentifier(connection)] != nil } }
    }
}

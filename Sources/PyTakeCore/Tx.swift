import Logging
import NIOCore
import PostgresNIO
import Synchronization

/// A leased connection, in a transaction or not, whose statements fail with
/// `Database.ConnectionClosed` instead of waiting forever when the connection has closed.
///
/// postgres-nio 1.33 leaves a statement written to a connection that has already closed waiting
/// forever: the channel's handlers are gone, so nothing ever answers the statement's promise, and
/// `withTransaction` itself writes `ROLLBACK` after a failure. A database restart between two
/// statements of a transaction, or a pool closing its connections at shutdown while a statement
/// was on its way, then stalled the task for good, and with it a request, a webhook writer or a
/// server's shutdown. Here a statement is written from the connection's own event loop right
/// after checking there that the connection is open: the channel cannot close in between (closing
/// runs on that loop too), and a connection that closes later fails the statements its handler
/// holds. It costs no extra thread hop: the write would have gone through that loop anyway.
public struct Tx: Sendable {
    public let connection: PostgresConnection

    public init(_ connection: PostgresConnection) { self.connection = connection }

    @discardableResult
    public func query(_ query: PostgresQuery, logger: Logger, file: String = #fileID, line: Int = #line) async throws -> PostgresRowSequence {
        let connection = self.connection
        return try await OpenConnectionGuard.run(connection) {
            try await connection.query(query, logger: logger, file: file, line: line)
        }
    }

    /// Runs `query` as the prepared statement named by `key` and reads all its rows.
    func prepared<Key>(_ key: Key.Type, _ query: PostgresQuery, logger: Logger) async throws -> [PostgresRow] {
        let connection = self.connection
        PreparedSQL.register(Prepared<Key>.name, query.sql)
        let statement = Prepared<Key>(bindings: query.binds)
        let sequence = try await OpenConnectionGuard.run(connection) { try await connection.execute(statement, logger: logger) }
        var rows: [PostgresRow] = []
        for try await row in sequence { rows.append(row) }
        return rows
    }
}

extension Database {
    /// A statement was not sent: its connection had closed (see `Tx`).
    public struct ConnectionClosed: Error, CustomStringConvertible {
        public var description: String { "the database connection had closed; the statement was not sent" }
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

/// Writes statements only to open connections (see `Tx`).
enum OpenConnectionGuard {
    /// Runs `statement` on `connection`'s event loop, after checking there that it is open.
    static func run<T>(_ connection: PostgresConnection, _ statement: () async throws -> T) async throws -> T {
        try await withTaskExecutorPreference(EventLoopTaskExecutor.for(connection.eventLoop)) {
            // The check and the write below must not be separated by a close (debug builds verify
            // that this runs on the loop).
            connection.eventLoop.assertInEventLoop()
            if connection.isClosed { throw Database.ConnectionClosed() }
            return try await statement()
        }
    }
}

/// Runs a task's nonisolated code on a NIO event loop (NIO 2.101 has no task executor of its own).
final class EventLoopTaskExecutor: TaskExecutor {
    let eventLoop: any EventLoop

    private init(_ eventLoop: any EventLoop) { self.eventLoop = eventLoop }

    func enqueue(_ job: consuming ExecutorJob) {
        let job = UnownedJob(job)
        eventLoop.execute { job.runSynchronously(on: self.asUnownedTaskExecutor()) }
    }

    func asUnownedTaskExecutor() -> UnownedTaskExecutor { UnownedTaskExecutor(ordinary: self) }

    /// One executor per event loop, kept for the life of the process (event loops are few and live as long).
    static func `for`(_ eventLoop: any EventLoop) -> EventLoopTaskExecutor {
        let key = ObjectIdentifier(eventLoop)
        return executors.withLock { executors in
            if let known = executors[key] { return known }
            let made = EventLoopTaskExecutor(eventLoop)
            executors[key] = made
            return made
        }
    }

    private static let executors = Mutex<[ObjectIdentifier: EventLoopTaskExecutor]>([:])
}

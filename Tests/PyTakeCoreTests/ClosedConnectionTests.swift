import Foundation
import Logging
import PostgresNIO
@testable import PyTakeCore
import PyTakeTestSupport
import Testing

/// A connection that dies under a statement or a transaction (a database restart, a pool closing
/// at shutdown) ends the caller's wait with an error instead of holding it forever (see `Tx`).
@Suite struct ClosedConnectionTests {
    let logger = Logger(label: "closed-connection-tests")

    struct Stalled: Error {}

    /// The backend process id of the connection `tx` is on.
    func backend(_ tx: Tx) async throws -> Int32 {
        try await tx.query("SELECT pg_backend_pid()", logger: logger).decode(Int32.self).first(where: { _ in true })!
    }

    func terminate(_ pid: Int32, using owner: PostgresClient) async throws {
        try await owner.query("SELECT pg_terminate_backend(\(pid))", logger: logger)
    }

    @Test func aTransactionWhoseConnectionDiedEndsWithoutWaiting() async throws {
        try await withTestDatabase { url, owner in
            try await Database.withClient(url: url, logger: logger) { db in
                let started = ContinuousClock.now
                let outcome: Result<Void, any Error> = await withTimeoutResult(.seconds(20)) {
                    try await db.transaction(logger: logger) { tx in
                        try await tx.query("CREATE TABLE t (n int)", logger: logger)
                        try await terminate(try await backend(tx), using: owner)
                        // The server has gone from under the transaction: this statement, and the
                        // ROLLBACK after it, must not wait for an answer that never comes.
                        try await Task.sleep(for: .milliseconds(300))
                        try await tx.query("INSERT INTO t VALUES (1)", logger: logger)
                    }
                }
                guard case .failure(let error) = outcome else {
                    Issue.record("the transaction committed on a terminated connection")
                    return
                }
                #expect(!(error is Stalled), "the transaction waited on a closed connection for 20 s")
                #expect(Database.isUnavailable(error), "\(Database.describe(error))")
                #expect(ContinuousClock.now - started < .seconds(10))
                // Nothing of the transaction stayed, and the pool serves the next caller.
                let exists = try await db.unscopedQuery("SELECT to_regclass('t') IS NOT NULL", logger: logger)
                #expect(exists == false)
            }
        }
    }

    @Test func aStatementNobodyAnswersIsEndedByTheConnectionsClose() async throws {
        try await withTestDatabase { url, owner in
            try await Database.withClient(url: url, logger: logger) { db in
                try await db.withTx { tx in
                    let pid = try await backend(tx)
                    #expect(ClosedConnectionGuard.registry.watches(tx.connection))
                    // A statement whose answer never comes, as postgres-nio leaves one written to a
                    // connection that has just closed.
                    let waiting = Task {
                        try await ClosedConnectionGuard.run(tx.connection) {
                            try await Task.sleep(for: .seconds(3600))
                            return 1
                        }
                    }
                    try await Task.sleep(for: .milliseconds(200))
                    try await terminate(pid, using: owner)
                    let outcome: Result<Int, any Error> = await withTimeoutResult(.seconds(20)) { try await waiting.value }
                    guard case .failure(let error) = outcome else {
                        Issue.record("a statement on a closed connection was answered: \(outcome)")
                        return
                    }
                    #expect(error is Database.ConnectionClosed, "\(error)")
                    #expect(!ClosedConnectionGuard.registry.watches(tx.connection), "the closed connection's entry is gone")
                    // A statement on the closed connection fails at once.
                    await #expect(throws: Database.ConnectionClosed.self) { try await tx.query("SELECT 1", logger: logger) }
                }
            }
        }
    }

    /// `body`'s result, or `Stalled` after `limit`.
    func withTimeoutResult<T: Sendable>(_ limit: Duration, _ body: @escaping @Sendable () async throws -> T) async -> Result<T, any Error> {
        do {
            return .success(try await withTimeout(limit, onTimeout: Stalled(), body))
        } catch {
            return .failure(error)
        }
    }
}

extension PostgresClient {
    fileprivate func unscopedQuery(_ sql: String, logger: Logger) async throws -> Bool? {
        try await query(PostgresQuery(unsafeSQL: sql), logger: logger).decode(Bool.self).first(where: { _ in true })
    }
}

import Foundation
import Logging
import NIOSSL
import PostgresNIO
import Synchronization

public enum Database {
    /// A pool for `url`; run it with `client.run()` (as a service or in a task group).
    public static func makeClient(url: DatabaseURL, poolSize: Int = 20, logger: Logger) -> PostgresClient {
        var configuration = PostgresClient.Configuration(
            host: url.host,
            port: url.port,
            username: url.username,
            password: url.password,
            database: url.database,
            tls: url.requireTLS ? .require(.makeClientConfiguration()) : .disable
        )
        configuration.options.maximumConnections = poolSize
        configuration.options.connectTimeout = .seconds(5)
        // Prepared statements (see `Prepared`) are planned for their actual arguments: PyTake's
        // statements take arrays whose length the generic plan cannot know.
        configuration.options.additionalStartupParameters = [("plan_cache_mode", "force_custom_plan")]
        Telemetry.poolConfigured(size: poolSize)
        let observed = Logger(label: logger.label) { _ in PoolObservingLogHandler(inner: logger) }
        return PostgresClient(configuration: configuration, backgroundLogger: observed)
    }

    /// SQLSTATE of a server error, if `error` is one.
    public static func sqlState(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.sqlState]
    }

    public static func constraint(of error: any Error) -> String? {
        (error as? PSQLError)?.serverInfo?[.constraintName]
    }

    /// For logs: the server's message and SQLSTATE, never the query's bound values (they can hold secrets).
    public static func describe(_ error: any Error) -> String {
        guard let error = error as? PSQLError else { return String(describing: error) }
        if let info = error.serverInfo {
            return "postgres \(info[.sqlState] ?? "?"): \(info[.message] ?? "")"
        }
        if let underlying = error.underlying { return "\(error.code): \(underlying)" }
        return "postgres client error \(error.code)"
    }

    public static func isUniqueViolation(_ error: any Error, constraint name: String) -> Bool {
        sqlState(of: error) == "23505" && constraint(of: error) == name
    }

    /// True when the failure means "the database is away", not "the query is wrong".
    public static func isUnavailable(_ error: any Error) -> Bool {
        // The pool's own errors (e.g. its circuit breaker tripped because connecting keeps failing)
        // live in a module postgres-nio does not export, so they are recognised by type name.
        if String(reflecting: type(of: error)).contains("ConnectionPoolError") { return true }
        if error is ConnectionClosed { return true }
        guard let error = error as? PSQLError else { return false }
        if error.code == .server {
            // 08: connection exception, 53: insufficient resources, 57: operator intervention (shutdown, starting up).
            let state = error.serverInfo?[.sqlState] ?? ""
            return state.hasPrefix("08") || state.hasPrefix("53") || state.hasPrefix("57")
        }
        return [.connectionError, .serverClosedConnection, .clientClosedConnection, .poolClosed, .uncleanShutdown, .sslUnsupported]
            .contains(error.code)
    }
}

extension AppError {
    /// The problem to show for any error: itself when it is one, 503 when the database is away, else 500.
    public static func from(_ error: any Error) -> AppError {
        if let error = error as? AppError { return error }
        if Database.isUnavailable(error) { return .databaseUnavailable }
        if let failure = error as? SecretBox.Failure {
            // The configured keys cannot read a stored secret: an operator problem, said plainly.
            return AppError(.internal, code: "secret_unreadable", "A stored secret cannot be decrypted: \(failure.description).")
        }
        // Validation should have caught these; if a value still reaches the database in a shape it
        // refuses, that is the client's input, not a server fault.
        switch Database.sqlState(of: error) {
        case let state? where state.hasPrefix("22"):
            return AppError(.badRequest, code: "invalid_request", "A value in the request is not acceptable (\(state)).")
        case "23514":
            return AppError(.unprocessable, code: "validation_failed", "A value in the request breaks a rule of the data (\(Database.constraint(of: error) ?? "check")).")
        default: break
        }
        return AppError(.internal, code: "internal_error", "An unexpected error occurred; it has been logged.")
    }
}

/// Encodes JSON objects for `jsonb` columns and back.
enum JSONColumn {
    static func encode<T: Encodable>(_ value: T) throws -> String {
        String(decoding: try encodeData(value), as: UTF8.self)
    }

    /// Sorted keys, dates in ISO 8601.
    static func encodeData<T: Encodable>(_ value: T) throws -> Data {
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        encoder.dateEncodingStrategy = .iso8601
        return try encoder.encode(value)
    }

    static func decode<T: Decodable>(_ type: T.Type, from text: String) throws -> T {
        try JSONDecoder().decode(type, from: Data(text.utf8))
    }
}

extension Database {
    /// Opens and closes one connection, so that start-up can say why the database is unusable
    /// (refused, wrong password, no such database) instead of waiting on a pool that keeps retrying.
    public static func checkReachable(_ url: DatabaseURL, logger: Logger) async throws(ConfigurationError) {
        do {
            let configuration = PostgresConnection.Configuration(
                host: url.host, port: url.port, username: url.username, password: url.password, database: url.database,
                tls: url.requireTLS ? .require(try NIOSSLContext(configuration: .makeClientConfiguration())) : .disable)
            let connection = try await PostgresConnection.connect(configuration: configuration, id: 0, logger: logger)
            try? await connection.close()
        } catch {
            throw ConfigurationError("cannot use the database at \(url.host):\(url.port)/\(url.database): \(describe(error))")
        }
    }

    /// Runs `body` with a pool that lives only as long as the call (tools, start-up tasks).
    @discardableResult
    public static func withClient<T: Sendable>(url: DatabaseURL, poolSize: Int = 2, logger: Logger,
                                               _ body: @Sendable (PostgresClient) async throws -> T) async throws -> T {
        // The pool may be asked for a connection before its run() task is scheduled; that is fine
        // here, so its background logger only speaks up for errors.
        var backgroundLogger = logger
        backgroundLogger.logLevel = .error
        let client = makeClient(url: url, poolSize: poolSize, logger: backgroundLogger)
        return try await withThrowingTaskGroup(of: Void.self) { group in
            group.addTask { await client.run() }
            defer { group.cancelAll() }
            return try await body(client)
        }
    }
}

/// A statement of a hot path, prepared once per connection (parsed and planned once) instead of
/// on every call: the engine's and the webhook's statements are large CTEs whose parse and plan
/// cost more than their execution. `Key` names the statement; its SQL is the text of the
/// interpolated `PostgresQuery`, which is the same on every call (only bindings vary).
struct Prepared<Key>: PostgresPreparedStatement {
    static var name: String { "pytake_" + String(describing: Key.self) }
    static var sql: String { PreparedSQL.text(name) }
    let bindings: PostgresBindings
    func makeBindings() throws -> PostgresBindings { bindings }
    func decodeRow(_ row: PostgresRow) throws -> PostgresRow { row }
}

enum PreparedSQL {
    private static let texts = Mutex<[String: String]>([:])

    static func register(_ name: String, _ sql: String) {
        texts.withLock { texts in
            if let known = texts[name] {
                precondition(known == sql, "prepared statement \(name) changed its text between calls")
            } else {
                texts[name] = sql
            }
        }
    }

    static func text(_ name: String) -> String { texts.withLock { $0[name] ?? "" } }
}

/// Runs `body`, reported as `onTimeout` when it takes longer than `limit`. The caller has its
/// answer at the limit even when `body` does not stop at once when cancelled (a statement waiting
/// on a database connection that died mid-query, which only the socket's end interrupts): `body`
/// is cancelled and left to finish on its own, instead of holding a request or a writer past its
/// deadline.
public func withTimeout<T: Sendable>(_ limit: Duration, onTimeout: @autoclosure @escaping @Sendable () -> any Error,
                                     _ body: @escaping @Sendable () async throws -> T) async throws -> T {
    let race = Race<T>()
    return try await withTaskCancellationHandler {
        try await withCheckedThrowingContinuation { continuation in
            race.begin(continuation)
            let work = Task {
                do { race.finish(.success(try await body())) } catch { race.finish(.failure(error)) }
            }
            let timer = Task {
                try? await Task.sleep(for: limit)
                if !Task.isCancelled { race.finish(.failure(onTimeout())) }
            }
            race.attach(work: work, timer: timer)
        }
    } onCancel: {
        race.finish(.failure(CancellationError()))
    }
}

/// The first of body, timer and caller's cancellation to finish answers; the others are cancelled.
private final class Race<T: Sendable>: Sendable {
    private struct State {
        var continuation: CheckedContinuation<T, any Error>?
        var done = false
        var work: Task<Void, Never>?
        var timer: Task<Void, Never>?
    }
    private let state = Mutex(State())

    func begin(_ continuation: CheckedContinuation<T, any Error>) {
        let early = state.withLock { state -> Bool in
            if state.done { return true }
            state.continuation = continuation
            return false
        }
        if early { continuation.resume(throwing: CancellationError()) }
    }

    func attach(work: Task<Void, Never>, timer: Task<Void, Never>) {
        let done = state.withLock { state -> Bool in
            state.work = work
            state.timer = timer
            return state.done
        }
        if done {
            work.cancel()
            timer.cancel()
        }
    }

    func finish(_ result: Result<T, any Error>) {
        let taken = state.withLock { state -> (CheckedContinuation<T, any Error>?, Task<Void, Never>?, Task<Void, Never>?)? in
            guard !state.done else { return nil }
            state.done = true
            defer { state.continuation = nil }
            return (state.continuation, state.work, state.timer)
        }
        guard let (continuation, work, timer) = taken else { return }
        timer?.cancel()
        work?.cancel()
        continuation?.resume(with: result)
    }
}

import CArgon2
import Foundation
import NIOPosix
import Synchronization

/// argon2id behind a small facade. Hashing is CPU-heavy (tens of milliseconds) and must never run
/// on an event loop, so it runs on NIO's blocking thread pool, at most `concurrency` at once.
public struct PasswordHasher: Sendable {
    public struct Parameters: Sendable, Equatable {
        /// OWASP minimum for argon2id: m = 19 MiB, t = 2, p = 1.
        public var memoryKiB: Int
        public var iterations: Int
        public var parallelism: Int
        public init(memoryKiB: Int = 19_456, iterations: Int = 2, parallelism: Int = 1) {
            self.memoryKiB = memoryKiB
            self.iterations = iterations
            self.parallelism = parallelism
        }
    }

    public static let minimumPasswordLength = 12
    public static let maximumPasswordLength = 128

    public let parameters: Parameters
    private let gate: AsyncSemaphore
    /// Verified against when the account does not exist, so the answer takes as long as for a real one.
    private let dummyHash: String

    public init(parameters: Parameters = .init(), concurrency: Int) {
        self.parameters = parameters
        self.gate = AsyncSemaphore(permits: max(1, concurrency))
        self.dummyHash = (try? Self.hashNow(randomToken(bytes: 24), parameters: parameters)) ?? ""
    }

    public func hash(_ password: String) async throws -> String {
        try await offload { try Self.hashNow(password, parameters: parameters) }
    }

    public func verify(_ password: String, against encoded: String) async throws -> Bool {
        try await offload { Self.verifyNow(password, encoded: encoded) }
    }

    /// Spends the same effort as a real verification and always answers false.
    public func verifyDummy(_ password: String) async throws -> Bool {
        _ = try await verify(password, against: dummyHash)
        return false
    }

    private func offload<T: Sendable>(_ work: @escaping @Sendable () throws -> T) async throws -> T {
        try await gate.withPermit {
            try await NIOThreadPool.singleton.runIfActive(work)
        }
    }

    static func hashNow(_ password: String, parameters: Parameters) throws -> String {
        var salt = [UInt8](repeating: 0, count: 16)
        var rng = SystemRandomNumberGenerator()
        for i in salt.indices { salt[i] = rng.next() }
        let hashLength = 32
        let encodedLength = argon2_encodedlen(
            UInt32(parameters.iterations), UInt32(parameters.memoryKiB), UInt32(parameters.parallelism),
            UInt32(salt.count), UInt32(hashLength), Argon2_id
        )
        var encoded = [CChar](repeating: 0, count: encodedLength)
        let bytes = Array(password.utf8)
        let status = argon2id_hash_encoded(
            UInt32(parameters.iterations), UInt32(parameters.memoryKiB), UInt32(parameters.parallelism),
            bytes, bytes.count, salt, salt.count, hashLength, &encoded, encodedLength
        )
        guard status == ARGON2_OK.rawValue else {
            throw PasswordHashError(message: String(cString: argon2_error_message(status)))
        }
        return String(decoding: encoded.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }

    static func verifyNow(_ password: String, encoded: String) -> Bool {
        let bytes = Array(password.utf8)
        return argon2id_verify(encoded, bytes, bytes.count) == ARGON2_OK.rawValue
    }
}

public struct PasswordHashError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { "argon2: \(message)" }
}

/// A counting semaphore for async code: bounds how many operations run at once. A waiter whose
/// task is cancelled (its request timed out or the client left) leaves the queue without running.
final class AsyncSemaphore: Sendable {
    private struct State {
        var permits: Int
        var nextWaiter = 0
        var waiters: [(id: Int, continuation: CheckedContinuation<Void, any Error>)] = []
    }
    private let state: Mutex<State>

    init(permits: Int) { state = Mutex(State(permits: permits)) }

    func withPermit<T>(_ body: () async throws -> T) async throws -> T {
        try await acquire()
        defer { release() }
        return try await body()
    }

    private func acquire() async throws {
        let id = state.withLock { state in
            state.nextWaiter += 1
            return state.nextWaiter
        }
        try await withTaskCancellationHandler {
            try await withCheckedThrowingContinuation { (continuation: CheckedContinuation<Void, any Error>) in
                let granted = state.withLock { state in
                    if Task.isCancelled { return false as Bool? }
                    if state.permits > 0 {
                        state.permits -= 1
                        return true
                    }
                    state.waiters.append((id, continuation))
                    return nil
                }
                switch granted {
                case true: continuation.resume()
                case false: continuation.resume(throwing: CancellationError())
                default: break
                }
            }
        } onCancel: {
            let cancelled = state.withLock { state -> CheckedContinuation<Void, any Error>? in
                guard let index = state.waiters.firstIndex(where: { $0.id == id }) else { return nil }
                return state.waiters.remove(at: index).continuation
            }
            cancelled?.resume(throwing: CancellationError())
        }
    }

    private func release() {
        let next = state.withLock { state -> CheckedContinuation<Void, any Error>? in
            if state.waiters.isEmpty {
                state.permits += 1
                return nil
            }
            return state.waiters.removeFirst().continuation
        }
        next?.resume()
    }
}

/// URL-safe random string with `bytes` bytes of entropy.
public func randomToken(bytes: Int) -> String {
    var rng = SystemRandomNumberGenerator()
    let data = Data((0..<bytes).map { _ in UInt8.random(in: .min ... .max, using: &rng) })
    return data.base64EncodedString()
        .replacingOccurrences(of: "+", with: "-")
        .replacingOccurrences(of: "/", with: "_")
        .replacingOccurrences(of: "=", with: "")
}

import AsyncHTTPClient
import CArgon2
import Foundation
import NIOCore

/// Sign-in latency through the API against raw argon2id hashing with the same parameters
/// (m = 19 MiB, t = 2, p = 1). Usage: pytake-bench-signin URL EMAIL PASSWORD [ROUNDS]
@main
enum SignInBench {
    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count >= 4 else {
            FileHandle.standardError.write(Data("usage: pytake-bench-signin URL EMAIL PASSWORD [ROUNDS]\n".utf8))
            exit(2)
        }
        let (url, email, password) = (args[1], args[2], args[3])
        let rounds = args.count > 4 ? Int(args[4]) ?? 60 : 60

        let salt = [UInt8](repeating: 7, count: 16)
        var output = [UInt8](repeating: 0, count: 32)
        let bytes = Array(password.utf8)
        let body = try JSONSerialization.data(withJSONObject: ["email": email, "password": password])

        func rawHash() -> Double {
            let start = ContinuousClock.now
            _ = argon2id_hash_raw(2, 19_456, 1, bytes, bytes.count, salt, salt.count, &output, output.count)
            return milliseconds(ContinuousClock.now - start)
        }

        func signIn() async throws -> Double {
            var request = HTTPClientRequest(url: url + "/api/v1/auth/login")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.body = .bytes(ByteBuffer(bytes: body))
            let start = ContinuousClock.now
            let response = try await HTTPClient.shared.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            let elapsed = milliseconds(ContinuousClock.now - start)
            guard response.status == .ok else {
                FileHandle.standardError.write(Data("sign-in answered \(response.status)\n".utf8))
                exit(1)
            }
            return elapsed
        }

        // Warm up connections and allocators, then alternate the two so that both see the same
        // machine (this host's speed drifts between runs).
        for _ in 0..<5 {
            _ = rawHash()
            _ = try await signIn()
        }
        var raw: [Double] = []
        var signIns: [Double] = []
        for _ in 0..<rounds {
            raw.append(rawHash())
            signIns.append(try await signIn())
        }
        let signIn = signIns

        let rawP50 = percentile(raw, 50)
        let signInP50 = percentile(signIn, 50)
        print(String(format: "raw argon2id (m=19456 KiB, t=2, p=1): p50 %.1f ms  p99 %.1f ms  (%d rounds)", rawP50, percentile(raw, 99), rounds))
        print(String(format: "POST /api/v1/auth/login:               p50 %.1f ms  p99 %.1f ms  (%d rounds)", signInP50, percentile(signIn, 99), rounds))
        print(String(format: "ratio sign-in / raw hash at p50:       %.2fx (target <= 1.30x)", signInP50 / rawP50))
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }

    static func percentile(_ values: [Double], _ p: Double) -> Double {
        let sorted = values.sorted()
        let index = min(sorted.count - 1, Int((p / 100 * Double(sorted.count - 1)).rounded()))
        return sorted[index]
    }
}

import AsyncHTTPClient
import Crypto
import Foundation
import NIOCore
import Synchronization

/// Drives `POST /meta/webhook` with signed deliveries, one message each, every body distinct,
/// spread over many customers. Prints messages/s, latency percentiles and how many deliveries were
/// acknowledged (compare with the stored count). Usage:
///   pytake-bench-webhook URL APP_SECRET PHONE_NUMBER_ID [SECONDS] [CONNECTIONS] [CUSTOMERS]
@main
enum WebhookBench {
    struct Totals {
        var latencies: [Double] = []
        var acknowledged = 0
        var stored = 0
        var errors: [String: Int] = [:]
    }

    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count >= 4 else {
            FileHandle.standardError.write(Data("usage: pytake-bench-webhook URL APP_SECRET PHONE_NUMBER_ID [SECONDS] [CONNECTIONS] [CUSTOMERS]\n".utf8))
            exit(2)
        }
        let url = args[1] + "/meta/webhook"
        let key = SymmetricKey(data: Data(args[2].utf8))
        let phoneNumberId = args[3]
        let seconds = args.count > 4 ? Int(args[4]) ?? 15 : 15
        let connections = args.count > 5 ? Int(args[5]) ?? 64 : 64
        let customers = args.count > 6 ? Int(args[6]) ?? 5000 : 5000

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: connections)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let run = String(UUID().uuidString.prefix(8))
        let start = ContinuousClock.now
        let load = Load(client: client, url: url, key: key, phoneNumberId: phoneNumberId, customers: customers, run: run,
                        deadline: start + .seconds(seconds), baseTime: Int(Date().timeIntervalSince1970))
        let totals = Mutex(Totals())
        await withTaskGroup(of: Totals.self) { group in
            for _ in 0..<connections { group.addTask { await load.worker() } }
            for await finished in group {
                totals.withLock { totals in
                    totals.latencies += finished.latencies
                    totals.acknowledged += finished.acknowledged
                    totals.stored += finished.stored
                    totals.errors.merge(finished.errors, uniquingKeysWith: +)
                }
            }
        }
        let elapsed = milliseconds(ContinuousClock.now - start) / 1000
        try await client.shutdown()
        let result = totals.withLock { $0 }
        let sorted = result.latencies.sorted()
        func p(_ q: Double) -> Double { sorted.isEmpty ? 0 : sorted[min(sorted.count - 1, Int(q / 100 * Double(sorted.count - 1)))] }
        print(String(format: "deliveries: %d in %.1f s, %d connections, %d distinct customers", sorted.count, elapsed, connections, min(customers, sorted.count)))
        print(String(format: "messages/s (acknowledged): %.0f   (target >= 4000)", Double(result.acknowledged) / elapsed))
        print(String(format: "latency: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms   (target p99 < 50 ms)", p(50), p(90), p(99), sorted.last ?? 0))
        print("acknowledged: \(result.acknowledged)  reported stored: \(result.stored)  errors: \(result.errors.isEmpty ? "none" : result.errors.map { "\($0.key)=\($0.value)" }.joined(separator: ", "))")
        print("ACKED=\(result.acknowledged) RUN=\(run)")
    }

    final class Load: Sendable {
        let client: HTTPClient
        let url: String
        let key: SymmetricKey
        let phoneNumberId: String
        let customers: Int
        let run: String
        let deadline: ContinuousClock.Instant
        let baseTime: Int
        let counter = Atomic<Int>(0)

        init(client: HTTPClient, url: String, key: SymmetricKey, phoneNumberId: String, customers: Int, run: String,
             deadline: ContinuousClock.Instant, baseTime: Int) {
            self.client = client
            self.url = url
            self.key = key
            self.phoneNumberId = phoneNumberId
            self.customers = customers
            self.run = run
            self.deadline = deadline
            self.baseTime = baseTime
        }

        func body(_ n: Int) -> [UInt8] {
            let customer = 5_511_900_000_000 + n % customers
            return Array("""
                {"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":{"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550001111","phone_number_id":"\(phoneNumberId)"},"contacts":[{"profile":{"name":"Cliente \(n % customers)"},"wa_id":"\(customer)"}],"messages":[{"from":"\(customer)","id":"wamid.bench-\(run)-\(n)","timestamp":"\(baseTime + n / 1000)","type":"text","text":{"body":"Mensagem \(n): quero saber o preço do plano"}}]}}]}]}
                """.utf8)
        }

        func worker() async -> Totals {
            var local = Totals()
            while ContinuousClock.now < deadline {
                let n = counter.add(1, ordering: .relaxed).newValue
                let bytes = body(n)
                let signature = "sha256=" + HMAC<SHA256>.authenticationCode(for: bytes, using: key).map { String(format: "%02x", $0) }.joined()
                var request = HTTPClientRequest(url: url)
                request.method = .POST
                request.headers.add(name: "Content-Type", value: "application/json")
                request.headers.add(name: "X-Hub-Signature-256", value: signature)
                request.body = .bytes(ByteBuffer(bytes: bytes))
                let sent = ContinuousClock.now
                do {
                    let response = try await client.execute(request, timeout: .seconds(30))
                    let answer = try await response.body.collect(upTo: 1 << 16)
                    local.latencies.append(WebhookBench.milliseconds(ContinuousClock.now - sent))
                    if response.status == .ok {
                        local.acknowledged += 1
                        let json = (try? JSONSerialization.jsonObject(with: Data(answer.readableBytesView))) as? [String: Any]
                        local.stored += json?["stored"] as? Int ?? 0
                    } else {
                        local.errors["HTTP \(response.status.code)", default: 0] += 1
                    }
                } catch {
                    local.errors["\(type(of: error))", default: 0] += 1
                }
            }
            return local
        }
    }

    static func milliseconds(_ duration: Duration) -> Double {
        Double(duration.components.seconds) * 1000 + Double(duration.components.attoseconds) / 1e15
    }
}

import AsyncHTTPClient
import Crypto
import Foundation
import Hummingbird
import NIOCore
import Synchronization

/// End-to-end flow engine throughput: simulated customers each send a signed webhook message
/// and wait for the bot's replies, which PyTake sends to a fake Graph API served here; then the
/// next message. Prints turns per second and the turn latency (webhook sent → last reply
/// received by the fake provider).
/// Usage: pytake-bench-engine BASE_URL APP_SECRET PHONE_NUMBER_ID GRAPH_PORT SECONDS CUSTOMERS REPLIES_PER_TURN
@main
enum EngineBench {
    final class Mailboxes: Sendable {
        private let waiting = Mutex<[String: (needed: Int, continuation: CheckedContinuation<Bool, Never>)]>([:])
        private let early = Mutex<[String: Int]>([:])
        let received = Atomic<Int>(0)

        func expect(_ to: String, replies: Int, timeout: Duration) async -> Bool {
            await withTaskGroup(of: Bool.self) { group in
                group.addTask {
                    await withCheckedContinuation { continuation in
                        let ready = self.early.withLock { early -> Bool in
                            let got = early.removeValue(forKey: to) ?? 0
                            if got >= replies { return true }
                            self.waiting.withLock { $0[to] = (replies - got, continuation) }
                            return false
                        }
                        if ready { continuation.resume(returning: true) }
                    }
                }
                group.addTask {
                    try? await Task.sleep(for: timeout)
                    self.cancel(to)
                    return false
                }
                let first = await group.next() ?? false
                group.cancelAll()
                return first
            }
        }

        func cancel(_ to: String) {
            let waiter = waiting.withLock { $0.removeValue(forKey: to) }
            waiter?.continuation.resume(returning: false)
        }

        func deliver(_ to: String) {
            received.add(1, ordering: .relaxed)
            let done = early.withLock { early -> CheckedContinuation<Bool, Never>? in
                waiting.withLock { waiting -> CheckedContinuation<Bool, Never>? in
                    guard var entry = waiting[to] else {
                        early[to, default: 0] += 1
                        return nil
                    }
                    entry.needed -= 1
                    if entry.needed > 0 {
                        waiting[to] = entry
                        return nil
                    }
                    waiting.removeValue(forKey: to)
                    return entry.continuation
                }
            }
            done?.resume(returning: true)
        }
    }

    static func main() async throws {
        let args = CommandLine.arguments
        guard args.count >= 8, let graphPort = Int(args[4]), let seconds = Int(args[5]), let customers = Int(args[6]),
              let repliesPerTurn = Int(args[7]) else {
            FileHandle.standardError.write(Data("usage: pytake-bench-engine BASE_URL APP_SECRET PHONE_NUMBER_ID GRAPH_PORT SECONDS CUSTOMERS REPLIES_PER_TURN\n".utf8))
            exit(2)
        }
        let (base, secret, phone) = (args[1], args[2], args[3])
        let mailboxes = Mailboxes()
        let sent = Atomic<Int>(0)

        // The fake Graph API: every send gets a fresh message id and wakes the customer it is for.
        let router = Router()
        router.post("/{version}/{phone}/messages") { request, _ -> Response in
            let body = try await request.body.collect(upTo: 1 << 20)
            let json = (try? JSONSerialization.jsonObject(with: Data(buffer: body))) as? [String: Any]
            let n = sent.add(1, ordering: .relaxed).newValue
            if let to = json?["to"] as? String { mailboxes.deliver(to) }
            return Response(status: .ok, headers: [.contentType: "application/json"],
                            body: .init(byteBuffer: ByteBuffer(string: #"{"messaging_product":"whatsapp","messages":[{"id":"wamid.engine-bench-\#(n)"}]}"#)))
        }
        let graph = Application(router: router, configuration: .init(address: .hostname("127.0.0.1", port: graphPort)))
        let server = Task { try await graph.runService() }
        try await Task.sleep(for: .milliseconds(500))

        var configuration = HTTPClient.Configuration()
        configuration.connectionPool = .init(idleTimeout: .seconds(60), concurrentHTTP1ConnectionsPerHostSoftLimit: customers + 8)
        let client = HTTPClient(eventLoopGroupProvider: .singleton, configuration: configuration)
        let run = String(UUID().uuidString.prefix(8)).lowercased()
        let key = SymmetricKey(data: Data(secret.utf8))

        func deliver(customer: Int, n: Int) async throws -> Bool {
            let from = String(5511_8000_0000 + customer)
            let body = """
                {"object":"whatsapp_business_account","entry":[{"id":"102290129340398","changes":[{"field":"messages","value":\
                {"messaging_product":"whatsapp","metadata":{"display_phone_number":"15550002222","phone_number_id":"\(phone)"},\
                "contacts":[{"profile":{"name":"Cliente \(customer)"},"wa_id":"\(from)"}],\
                "messages":[{"from":"\(from)","id":"wamid.engine-\(run)-\(customer)-\(n)","timestamp":"\(Int(Date().timeIntervalSince1970))",\
                "type":"text","text":{"body":"Mensagem \(n): quero saber o preco do plano"}}]}}]}]}
                """
            let mac = HMAC<SHA256>.authenticationCode(for: Data(body.utf8), using: key).map { String(format: "%02x", $0) }.joined()
            var request = HTTPClientRequest(url: base + "/meta/webhook")
            request.method = .POST
            request.headers.add(name: "Content-Type", value: "application/json")
            request.headers.add(name: "X-Hub-Signature-256", value: "sha256=" + mac)
            request.body = .bytes(ByteBuffer(string: body))
            let response = try await client.execute(request, timeout: .seconds(30))
            _ = try await response.body.collect(upTo: 1 << 16)
            return response.status == .ok
        }

        struct Tally: Sendable {
            var latencies: [Double] = []
            var timeouts = 0
            var refused = 0
        }
        let warmUp = Duration.seconds(3)
        let start = ContinuousClock.now
        let measureFrom = start + warmUp
        let end = measureFrom + .seconds(seconds)
        let tallies = await withTaskGroup(of: Tally.self) { group in
            for customer in 0..<customers {
                group.addTask {
                    var tally = Tally()
                    var n = 0
                    while ContinuousClock.now < end {
                        n += 1
                        let began = ContinuousClock.now
                        let to = String(5511_8000_0000 + customer)
                        guard (try? await deliver(customer: customer, n: n)) == true else {
                            tally.refused += 1
                            try? await Task.sleep(for: .milliseconds(50))
                            continue
                        }
                        let answered = await mailboxes.expect(to, replies: repliesPerTurn, timeout: .seconds(15))
                        if began >= measureFrom && ContinuousClock.now <= end {
                            if answered { tally.latencies.append(milliseconds(ContinuousClock.now - began)) } else { tally.timeouts += 1 }
                        }
                    }
                    return tally
                }
            }
            var all = Tally()
            for await tally in group {
                all.latencies += tally.latencies
                all.timeouts += tally.timeouts
                all.refused += tally.refused
            }
            return all
        }
        let turns = tallies.latencies.count
        print(String(format: "turns: %d in %d s = %.0f turns/s (%d customers in a closed loop, %d replies and 10 nodes per turn; target >= 500)",
                     turns, seconds, Double(turns) / Double(seconds), customers, repliesPerTurn))
        if turns > 0 {
            print(String(format: "turn latency, webhook sent -> last reply at the provider: p50 %.1f ms  p90 %.1f ms  p99 %.1f ms  max %.1f ms",
                         percentile(tallies.latencies, 50), percentile(tallies.latencies, 90), percentile(tallies.latencies, 99),
                         tallies.latencies.max() ?? 0))
        }
        print("replies received by the fake Graph API: \(mailboxes.received.load(ordering: .relaxed)); turns timed out: \(tallies.timeouts); webhooks refused: \(tallies.refused)")
        try await client.shutdown()
        server.cancel()
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

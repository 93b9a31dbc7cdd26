import Foundation
import HTTPTypes
import Hummingbird
import Logging
import NIOCore
import ServiceLifecycle
import Synchronization

/// A real HTTP server on loopback that plays a WhatsApp provider (Meta Graph, Uazapi, LancePilot):
/// it records every request and answers what the test scripted for each path.
public final class FakeProviderServer: Sendable {
    public struct Recorded: Sendable {
        public var method: String
        public var path: String
        /// Query parameters (the last value of each name).
        public var query: [String: String]
        /// Header names lowercased.
        public var headers: [String: String]
        public var body: Data
        public var json: [String: Any] { ((try? JSONSerialization.jsonObject(with: body)) as? [String: Any]) ?? [:] }
    }

    public enum Reply: Sendable {
        case json(Int, String, headers: [String: String] = [:])
        /// Answers nothing for this long (to trip client timeouts).
        case hang(seconds: Int)
        /// Meta's answer to a send, with a new message id each time (`wamid.fake-N`).
        case metaSent
        /// The same, after a pause (a slow provider).
        case metaSentAfter(milliseconds: Int)
        case jsonAfter(milliseconds: Int, Int, String)
    }

    struct State {
        var recorded: [Recorded] = []
        var scripted: [String: [Reply]] = [:]
        var defaults: [String: Reply] = [:]
        var sent = 0
    }

    private let state = Mutex(State())
    private let portBox = Mutex(0)
    private let task = Mutex<Task<Void, any Error>?>(nil)

    public var port: Int { portBox.withLock { $0 } }
    public var baseURL: String { "http://127.0.0.1:\(port)" }
    public var requests: [Recorded] { state.withLock { $0.recorded } }

    public init() {}

    /// Starts listening on an ephemeral loopback port; returns once it accepts connections.
    public static func start() async throws -> FakeProviderServer {
        let server = FakeProviderServer()
        let router = Router()
        router.on("**", method: .post) { request, context in try await server.handle(request, context) }
        router.on("**", method: .get) { request, context in try await server.handle(request, context) }
        var logger = Logger(label: "fake-provider")
        logger.logLevel = .critical  // cancelling the server at the end of a test logs noise
        let (stream, continuation) = AsyncStream<Int>.makeStream()
        let app = Application(
            router: router, configuration: .init(address: .hostname("127.0.0.1", port: 0)),
            onServerRunning: { channel in
                continuation.yield(channel.localAddress?.port ?? 0)
                continuation.finish()
            },
            logger: logger)
        let task = Task {
            try await ServiceGroup(configuration: .init(services: [app], gracefulShutdownSignals: [], logger: logger)).run()
        }
        server.task.withLock { $0 = task }
        for await port in stream { server.portBox.withLock { $0 = port } }
        return server
    }

    public func stop() {
        task.withLock { $0?.cancel() }
    }

    /// Replies for `path`, used once each in order; after them, the default for the path.
    public func enqueue(_ path: String, _ replies: Reply...) {
        state.withLock { $0.scripted[path, default: []].append(contentsOf: replies) }
    }

    public func setDefault(_ path: String, _ reply: Reply) {
        state.withLock { $0.defaults[path] = reply }
    }

    public func requests(to path: String) -> [Recorded] { requests.filter { $0.path == path } }

    public func reset() {
        state.withLock { $0 = State() }
    }

    private func handle(_ request: Request, _ context: BasicRequestContext) async throws -> Response {
        let body = try await request.body.collect(upTo: 1 << 20)
        var headers: [String: String] = [:]
        for field in request.headers { headers[field.name.canonicalName.lowercased()] = field.value }
        let path = request.uri.path
        let reply = state.withLock { state -> Reply in
            var query: [String: String] = [:]
            for (name, value) in request.uri.queryParameters { query[String(name)] = String(value) }
            state.recorded.append(Recorded(method: request.method.rawValue, path: path, query: query, headers: headers, body: Data(buffer: body)))
            if var queue = state.scripted[path], !queue.isEmpty {
                let next = queue.removeFirst()
                state.scripted[path] = queue
                return next
            }
            let reply = state.defaults[path] ?? .json(404, #"{"error":"nothing scripted for this path"}"#)
            func sent() -> String {
                state.sent += 1
                return #"{"messaging_product":"whatsapp","messages":[{"id":"wamid.fake-\#(state.sent)"}]}"#
            }
            if case .metaSent = reply { return .json(200, sent()) }
            if case .metaSentAfter(let pause) = reply { return .jsonAfter(milliseconds: pause, 200, sent()) }
            return reply
        }
        switch reply {
        case .json(let status, let text, let extra):
            var fields: HTTPFields = [.contentType: "application/json"]
            for (name, value) in extra { if let name = HTTPField.Name(name) { fields[name] = value } }
            return Response(status: .init(code: status), headers: fields, body: .init(byteBuffer: ByteBuffer(string: text)))
        case .hang(let seconds):
            try await Task.sleep(for: .seconds(seconds))
            return Response(status: .ok, body: .init(byteBuffer: ByteBuffer(string: "{}")))
        case .jsonAfter(let pause, let status, let text):
            try await Task.sleep(for: .milliseconds(pause))
            return Response(status: .init(code: status), headers: [.contentType: "application/json"], body: .init(byteBuffer: ByteBuffer(string: text)))
        case .metaSent, .metaSentAfter:
            return Response(status: .internalServerError)
        }
    }
}

import Foundation
import Synchronization

/// What a simulation produced: the chat as the customer would see it, and per turn the path of
/// nodes and the variables after each step.
public struct Simulation: Sendable {
    public struct Line: Sendable, Equatable {
        /// `customer`, `bot` or `system` (what happened without a message: a handoff, a wait).
        public var role: String
        public var text: String
        public var choices: [String]?
        public var nodeId: String?
    }

    public struct Turn: Sendable {
        public var input: String?
        public var replies: [String]
        public var path: [String]
        public var steps: [FlowStep]
        public var variables: [String: JSONValue]
        /// Where the flow stands after the turn: awaiting_input, waiting, handed_off, completed or failed.
        public var status: String
    }

    public var transcript: [Line] = []
    public var turns: [Turn] = []
    public var path: [String] = []
    public var variables: [String: JSONValue] = [:]
    public var status: String = "not_started"
    /// The last node the flow executed.
    public var endedAt: String?
    public var events: [FlowEvent] = []

    public var replies: [String] { transcript.filter { $0.role == "bot" }.map(\.text) }
}

/// A flow's test case: messages in, expectations out.
public struct FlowTestCase: Sendable, Decodable {
    public struct Expect: Sendable, Decodable {
        public var repliesContain: [String]?
        public var variables: [String: JSONValue]?
        public var endsAt: String?

        enum CodingKeys: String, CodingKey { case repliesContain = "replies_contain", variables, endsAt = "ends_at" }

        public init(from decoder: any Decoder) throws {
            let container = try decoder.container(keyedBy: CodingKeys.self)
            if let one = try? container.decode(String.self, forKey: .repliesContain) {
                repliesContain = [one]
            } else {
                repliesContain = try container.decodeIfPresent([String].self, forKey: .repliesContain)
            }
            variables = try container.decodeIfPresent([String: JSONValue].self, forKey: .variables)
            endsAt = try container.decodeIfPresent(String.self, forKey: .endsAt)
        }
    }

    public var describe: String
    public var messages: [String]
    public var variables: [String: JSONValue]?
    public var expect: Expect
}

public struct FlowTestReport: Sendable {
    public struct Case: Sendable {
        public var describe: String
        public var passed: Bool
        public var failures: [String]
        public var replies: [String]
        public var path: [String]
    }

    public var cases: [Case]
    public var passed: Bool { cases.allSatisfy(\.passed) }
}

/// Runs flows for the simulator and flow tests (publishing runs a draft's tests first).
public protocol FlowTester: Sendable {
    func simulate(tenantId: UUID, flowId: UUID, version: Int, definition: FlowDefinition, messages: [String],
                  variables: [String: JSONValue]) async throws -> Simulation
}

extension FlowTester {
    /// Parses the stored test cases; a case that does not parse fails with the reason.
    public func runTests(tenantId: UUID, flowId: UUID, definition: FlowDefinition, testCasesJSON: String) async throws -> FlowTestReport {
        let raw = (try? JSONDecoder().decode([JSONValue].self, from: Data(testCasesJSON.utf8))) ?? []
        var report = FlowTestReport(cases: [])
        for (index, item) in raw.enumerated() {
            let name = item["describe"]?.string ?? "case \(index + 1)"
            guard let data = try? JSONColumn.encodeData(item), let testCase = try? JSONDecoder().decode(FlowTestCase.self, from: data) else {
                report.cases.append(.init(describe: name, passed: false,
                                          failures: ["the case must be {describe, messages: [text], variables?, expect: {replies_contain?, variables?, ends_at?}}"],
                                          replies: [], path: []))
                continue
            }
            let simulation = try await simulate(tenantId: tenantId, flowId: flowId, version: 0, definition: definition,
                                                messages: testCase.messages, variables: testCase.variables ?? [:])
            report.cases.append(Self.check(testCase, simulation))
        }
        return report
    }

    static func check(_ testCase: FlowTestCase, _ simulation: Simulation) -> FlowTestReport.Case {
        var failures: [String] = []
        let replies = simulation.replies
        for expected in testCase.expect.repliesContain ?? [] where !replies.contains(where: { $0.contains(expected) }) {
            failures.append("no reply contains '\(expected)'")
        }
        for (name, expected) in (testCase.expect.variables ?? [:]).sorted(by: { $0.key < $1.key }) {
            let actual = simulation.variables[name]
            if actual != expected {
                let shown = actual.map { Template.render("{{v}}", ["v": $0]) } ?? "unset"
                failures.append("variable '\(name)' is \(shown), expected \(Template.render("{{v}}", ["v": expected]))")
            }
        }
        if let endsAt = testCase.expect.endsAt, simulation.endedAt != endsAt {
            failures.append("the flow stopped at '\(simulation.endedAt ?? "nothing")', expected '\(endsAt)'")
        }
        return .init(describe: testCase.describe, passed: failures.isEmpty, failures: failures, replies: replies, path: simulation.path)
    }
}

extension FlowEngine: FlowTester {
    /// Runs `definition` on `messages` (one turn each) without sending anything: modules run in
    /// simulation mode (`webhook_notify` does not post, the cache is the simulation's own), `wait`
    /// nodes are skipped over at once, a handoff pauses the bot for the rest of the simulation.
    public func simulate(tenantId: UUID, flowId: UUID, version: Int, definition: FlowDefinition, messages: [String],
                         variables: [String: JSONValue]) async throws -> Simulation {
        let tenant = try await tenants.get(tenantId)
        let clock = Mutex(Date())
        let lines = Mutex<[ChatLine]>([])
        // A conversation of its own, for conversation-scoped module state (the simulation's cache).
        let invoker = moduleInvoker(tenantId: tenantId, conversationId: UUID(), settings: tenant.modules, cache: MemoryModuleCache(),
                                    history: { limit in lines.withLock { Array($0.suffix(limit)) } }, simulation: true)
        let runner = FlowRunner(modules: invoker, now: { clock.withLock { $0 } }, trace: true)
        var result = Simulation()
        var state: FlowState?
        var paused = false
        let builtIn: [String: JSONValue] = ["customer_name": .string("Simulator"), "customer_phone": .string("5500000000000")]

        func record(_ turn: FlowRunner.Turn, input: String?) {
            for reply in turn.replies {
                result.transcript.append(.init(role: "bot", text: reply.text, choices: reply.choices, nodeId: reply.nodeId))
                lines.withLock { $0.append(ChatLine(role: "assistant", text: reply.text)) }
            }
            result.path += turn.path
            result.events += turn.events
            let status = turn.failed != nil ? "failed" : turn.completed ? "completed" : turn.state?.status.rawValue ?? "completed"
            let after = turn.state?.variables ?? turn.finalVariables ?? result.variables
            result.variables = after
            result.turns.append(.init(input: input, replies: turn.replies.map(\.text), path: turn.path, steps: turn.steps,
                                      variables: after, status: status))
            result.status = status
            if let last = turn.path.last { result.endedAt = last }
            if turn.handoff != nil {
                paused = true
                result.transcript.append(.init(role: "system", text: "Handed over to an agent: the bot stays silent from here."))
            }
        }

        for message in messages {
            result.transcript.append(.init(role: "customer", text: message))
            lines.withLock { $0.append(ChatLine(role: "user", text: message)) }
            if paused { continue }
            var context = builtIn.merging(["last_message": .string(message)]) { $1 }
            if state == nil { context = variables.merging(context) { $1 } }
            var turn = await runner.turn(definition: definition, flowId: flowId, version: version, state: state, input: message, context: context)
            record(turn, input: message)
            state = turn.state
            // Waits pass at once: the simulator's clock jumps to the end of each.
            var skips = 0
            while let waiting = state, waiting.status == .waiting, let until = waiting.waitUntil, skips < 50 {
                skips += 1
                clock.withLock { $0 = until }
                result.transcript.append(.init(role: "system", text: "Waited until the timer of '\(waiting.node)' ran out.", nodeId: waiting.node))
                turn = await runner.turn(definition: definition, flowId: flowId, version: version, state: state, input: nil,
                                         context: builtIn.merging(["last_message": .string(message)]) { $1 })
                record(turn, input: nil)
                state = turn.state
            }
        }
        return result
    }
}

import Foundation
import Logging
import PostgresNIO

public struct Flow: Sendable {
    public var id: UUID
    public var tenantId: UUID
    public var name: String
    public var trigger: FlowTrigger
    public var draft: FlowDefinition
    public var testCasesJSON: String
    public var draftRevision: Int
    public var publishedVersion: Int?
    public var createdAt: Date
    public var updatedAt: Date
    /// Validation of the draft (warnings while editing; errors at publish).
    public var problems: [FlowProblem]
}

public struct FlowVersion: Sendable {
    public var flowId: UUID
    public var version: Int
    public var trigger: FlowTrigger
    public var definition: FlowDefinition
    public var copiedFrom: Int?
    public var publishedBy: UUID?
    public var publishedAt: Date
}

public struct FlowDraft: Sendable {
    public var name: String?
    public var trigger: FlowTrigger?
    public var definition: FlowDefinition?
    public var testCasesJSON: String?
    public init(name: String? = nil, trigger: FlowTrigger? = nil, definition: FlowDefinition? = nil, testCasesJSON: String? = nil) {
        self.name = name
        self.trigger = trigger
        self.definition = definition
        self.testCasesJSON = testCasesJSON
    }
}

/// Flows of a tenant: every tenant role reads, tenant_admin and platform_admin write. Drafts are
/// saved with optimistic concurrency; publishing freezes the draft as version N+1.
public struct FlowService: Sendable {
    let db: DB
    let logger: Logger
    let modules: any ModuleCatalog
    /// Runs simulations and test cases (the flow engine).
    let tester: (any FlowTester)?
    /// Told about publishes, so new conversations of this process start the new version at once.
    let catalog: FlowCatalog?

    public init(db: DB, logger: Logger, modules: any ModuleCatalog, tester: (any FlowTester)? = nil, catalog: FlowCatalog? = nil) {
        self.db = db
        self.logger = logger
        self.modules = modules
        self.tester = tester
        self.catalog = catalog
    }

    static let maxSimulatedMessages = 50

    /// Runs the draft (or a published `version`) on `messages` without sending anything.
    public func simulate(tenantId: UUID, id: UUID, version: Int?, messages: [String], variables: [String: JSONValue],
                         identity: Identity) async throws -> Simulation {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        var v = Validator()
        v.check((1...Self.maxSimulatedMessages).contains(messages.count), "messages", "must list 1 to \(Self.maxSimulatedMessages) messages")
        v.check(messages.allSatisfy { $0.unicodeScalars.count <= 4096 && !$0.containsNUL }, "messages", "each message is at most 4096 characters")
        v.check(variables.count <= 100 && variables.keys.allSatisfy(FlowValidator.isIdentifier), "variables",
                "at most 100 variables, named with letters, digits and _")
        try v.finish()
        let flow = try await get(tenantId: tenantId, id: id, identity: identity)
        var definition = flow.draft
        if let version {
            let published = if let catalog { try await catalog.definition(flowId: id, version: version, tenant: tenantId) }
                else { try await db.tenant(tenantId).transaction(logger: logger, { try await versions($0, flowId: id) }).first(where: { $0.version == version })?.definition }
            guard let published else { throw AppError(.notFound, code: "not_found", "Version \(version) of this flow does not exist.") }
            definition = published
        }
        guard let tester else { throw AppError(.unavailable, code: "engine_unavailable", "The flow engine is not running in this process.") }
        return try await tester.simulate(tenantId: tenantId, flowId: id, version: version ?? 0, definition: definition,
                                         messages: messages, variables: variables)
    }

    /// Runs the draft's test cases.
    public func runTests(tenantId: UUID, id: UUID, identity: Identity) async throws -> FlowTestReport {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        let flow = try await get(tenantId: tenantId, id: id, identity: identity)
        guard let tester else { throw AppError(.unavailable, code: "engine_unavailable", "The flow engine is not running in this process.") }
        return try await tester.runTests(tenantId: tenantId, flowId: id, definition: flow.draft, testCasesJSON: flow.testCasesJSON)
    }

    static let columns = """
        id, tenant_id, name, trigger::text, draft::text, test_cases::text, draft_revision, published_version,
        created_at, updated_at, ((extract(epoch FROM created_at) * 1000000)::int8)::text AS cursor_time
        """
    static let maxNodes = 500
    /// Node ids and types, edge ends and outcomes.
    static let maxNameLength = 64

    func checkShape(_ draft: FlowDraft, into v: inout Validator) {
        if let name = draft.name {
            v.check(!name.isBlank && name.unicodeScalars.count <= 200 && !name.containsNUL,
                    "name", "must be 1 to 200 characters and not blank")
        }
        if let definition = draft.definition {
            v.check(definition.nodes.count <= Self.maxNodes && definition.edges.count <= Self.maxNodes * 4,
                    "definition", "may have at most \(Self.maxNodes) nodes and \(Self.maxNodes * 4) edges")
            // Names longer than this are not drafts in progress but garbage; ids that are merely
            // malformed are validation problems (`invalid_node_id`), reported but saved.
            func fits(_ text: String) -> Bool { text.unicodeScalars.count <= Self.maxNameLength }
            v.check(definition.nodes.allSatisfy { fits($0.id) && fits($0.type) }, "definition.nodes",
                    "node ids and types are at most \(Self.maxNameLength) characters")
            v.check(definition.edges.allSatisfy { fits($0.from) && fits($0.outcome) && fits($0.to) }, "definition.edges",
                    "edge ends and outcomes are at most \(Self.maxNameLength) characters")
        }
        if let trigger = draft.trigger {
            v.check((trigger.keywords ?? []).count <= 50 && (trigger.keywords ?? []).allSatisfy { $0.unicodeScalars.count <= 100 }
                        && (trigger.pattern ?? "").unicodeScalars.count <= 500, "trigger", "at most 50 keywords of 100 characters, a pattern of 500")
        }
        if let tests = draft.testCasesJSON {
            let parsed = try? JSONDecoder().decode([JSONValue].self, from: Data(tests.utf8))
            v.check(parsed != nil && parsed!.count <= 100 && parsed!.allSatisfy { $0.object != nil }, "test_cases", "must be a list of at most 100 objects")
        }
    }

    public func create(tenantId: UUID, _ draft: FlowDraft, identity: Identity, actor: AuditActor) async throws -> Flow {
        try Access.require(identity, .administer, tenant: tenantId)
        var v = Validator()
        v.check(draft.name != nil, "name", "is required")
        checkShape(draft, into: &v)
        try v.finish()
        let definition = draft.definition ?? .empty
        let trigger = draft.trigger ?? FlowTrigger(type: .default)
        return try await nameConflict(draft.name!) {
            try await db.tenant(tenantId).transaction(logger: logger) { tx in
                try await ProviderService.lockLiveTenant(tx, tenantId, logger: logger)
                let rows = try await tx.query("""
                    INSERT INTO flows (tenant_id, name, trigger, draft, test_cases)
                    VALUES (\(tenantId), \(draft.name!), \(trigger.json)::jsonb, \(definition.json)::jsonb, \(draft.testCasesJSON ?? "[]")::jsonb)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                let flow = try await decode(rows).first!.flow
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "flow.create",
                                          targetType: "flow", targetId: flow.id.uuidString.lowercased(), details: ["name": flow.name])
                return flow
            }
        }
    }

    public func get(tenantId: UUID, id: UUID, identity: Identity) async throws -> Flow {
        try Access.require(identity, .read, tenant: tenantId, what: "Flow")
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM flows WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL
              AND EXISTS (SELECT 1 FROM clients c WHERE c.id = flows.tenant_id AND c.status <> 'deleted')
            """, logger: logger)
        guard let flow = try await decode(rows).first?.flow else { throw AppError.notFound("Flow") }
        return flow
    }

    public func list(tenantId: UUID, page: PageRequest, identity: Identity) async throws -> Page<Flow> {
        try Access.require(identity, .read, tenant: tenantId)
        guard try await TenantStore.exists(client: db, logger: logger, id: tenantId) else {
            throw AppError.notFound("Tenant")
        }
        let after = try Cursor.decodeTimeAndID(page.cursor)
        let rows = try await db.tenant(tenantId).query("""
            SELECT \(unescaped: Self.columns) FROM flows
            WHERE tenant_id = \(tenantId) AND deleted_at IS NULL
              AND (\(after?.time)::timestamptz IS NULL OR (created_at, id) > (\(after?.time)::timestamptz, \(after?.id)))
            ORDER BY created_at, id LIMIT \(page.limit + 1)
            """, logger: logger)
        return Page.overfetched(try await decode(rows), limit: page.limit, item: \.flow, cursor: { [$0.cursor, $0.flow.id.uuidString] })
    }

    /// Saves the draft when `ifMatch` is its current revision; 409 `draft_conflict` otherwise.
    public func save(tenantId: UUID, id: UUID, _ draft: FlowDraft, ifMatch: Int, identity: Identity, actor: AuditActor) async throws -> Flow {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        var v = Validator()
        checkShape(draft, into: &v)
        try v.finish()
        return try await nameConflict(draft.name ?? "") {
            try await db.tenant(tenantId).transaction(logger: logger) { tx in
                try await ProviderService.lockLiveTenant(tx, tenantId, logger: logger)
                let rows = try await tx.query("""
                    UPDATE flows SET
                        name = coalesce(\(draft.name), name),
                        trigger = coalesce(\(draft.trigger?.json)::jsonb, trigger),
                        draft = coalesce(\(draft.definition?.json)::jsonb, draft),
                        test_cases = coalesce(\(draft.testCasesJSON)::jsonb, test_cases),
                        draft_revision = draft_revision + 1, updated_at = now()
                    WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL AND draft_revision = \(ifMatch)
                    RETURNING \(unescaped: Self.columns)
                    """, logger: logger)
                guard let flow = try await decode(rows).first?.flow else {
                    let current = try await tx.query("""
                        SELECT draft_revision FROM flows WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL
                        """, logger: logger)
                    guard let revision = try await current.decode(Int.self).first(where: { _ in true }) else { throw AppError.notFound("Flow") }
                    throw AppError(.conflict, code: "draft_conflict",
                                   "The draft changed since revision \(ifMatch) (it is at revision \(revision)); reload it and apply your changes again.")
                }
                try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "flow.save",
                                          targetType: "flow", targetId: id.uuidString.lowercased(), details: ["revision": String(flow.draftRevision)])
                return flow
            }
        }
    }

    public func delete(tenantId: UUID, id: UUID, identity: Identity, actor: AuditActor) async throws {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        try await db.tenant(tenantId).transaction(logger: logger) { tx in
            try await ProviderService.lockLiveTenant(tx, tenantId, logger: logger)
            let rows = try await tx.query("""
                UPDATE flows SET deleted_at = now(), updated_at = now()
                WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL RETURNING id
                """, logger: logger)
            guard try await rows.decode(UUID.self).first(where: { _ in true }) != nil else { throw AppError.notFound("Flow") }
            try await AuditLog.record(tx, logger: logger, tenantId: tenantId, actor: actor, action: "flow.delete",
                                      targetType: "flow", targetId: id.uuidString.lowercased())
        }
        catalog?.invalidate(tenant: tenantId)
    }

    public func validate(tenantId: UUID, id: UUID, identity: Identity) async throws -> [FlowProblem] {
        try await get(tenantId: tenantId, id: id, identity: identity).problems
    }

    /// Freezes the draft as version N+1; 422 `flow_invalid` listing every problem when it has any,
    /// 422 `flow_tests_failed` when one of its test cases fails.
    public func publish(tenantId: UUID, id: UUID, identity: Identity, actor: AuditActor) async throws -> FlowVersion {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        let draft = try await get(tenantId: tenantId, id: id, identity: identity)
        if !draft.problems.isEmpty {
            var error = AppError(.unprocessable, code: "flow_invalid", "The draft has \(draft.problems.count) problem(s); fix them before publishing.")
            error.flowProblems = draft.problems
            throw error
        }
        // Tests run outside the transaction (modules may take seconds); the draft must not change meanwhile.
        if let tester, draft.testCasesJSON.trimmingCharacters(in: .whitespaces) != "[]" {
            let report = try await tester.runTests(tenantId: tenantId, flowId: id, definition: draft.draft, testCasesJSON: draft.testCasesJSON)
            let failing = report.cases.filter { !$0.passed }
            if !failing.isEmpty {
                var error = AppError(.unprocessable, code: "flow_tests_failed",
                                     "\(failing.count) of \(report.cases.count) test case(s) fail; the draft is not published.")
                error.flowProblems = failing.map { FlowProblem("test_failed", "'\($0.describe)': \($0.failures.joined(separator: "; "))") }
                throw error
            }
        }
        let version = try await db.tenant(tenantId).transaction(logger: logger) { tx in
            let rows = try await tx.query("""
                SELECT \(unescaped: Self.columns) FROM flows WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL FOR UPDATE
                """, logger: logger)
            guard let flow = try await decode(rows).first?.flow else { throw AppError.notFound("Flow") }
            guard flow.draftRevision == draft.draftRevision else {
                throw AppError(.conflict, code: "draft_conflict", "The draft changed while it was being checked; publish again.")
            }
            return try await insertVersion(tx, flow: flow, trigger: flow.trigger, definition: flow.draft, copiedFrom: nil,
                                           identity: identity, actor: actor)
        }
        catalog?.invalidate(tenant: tenantId)
        return version
    }

    /// Republishes an older version as version N+1.
    public func rollback(tenantId: UUID, id: UUID, to version: Int, identity: Identity, actor: AuditActor) async throws -> FlowVersion {
        try Access.require(identity, .administer, tenant: tenantId, what: "Flow")
        let published = try await db.tenant(tenantId).transaction(logger: logger) { tx in
            try await ProviderService.lockLiveTenant(tx, tenantId, logger: logger)
            let rows = try await tx.query("""
                SELECT \(unescaped: Self.columns) FROM flows WHERE tenant_id = \(tenantId) AND id = \(id) AND deleted_at IS NULL FOR UPDATE
                """, logger: logger)
            guard let flow = try await decode(rows).first?.flow else { throw AppError.notFound("Flow") }
            guard let old = try await versions(tx, flowId: id).first(where: { $0.version == version }) else {
                throw AppError(.notFound, code: "not_found", "Version \(version) of this flow does not exist.")
            }
            return try await insertVersion(tx, flow: flow, trigger: old.trigger, definition: old.definition, copiedFrom: version,
                                           identity: identity, actor: actor)
        }
        catalog?.invalidate(tenant: tenantId)
        return published
    }

    public func versions(tenantId: UUID, id: UUID, identity: Identity) async throws -> [FlowVersion] {
        _ = try await get(tenantId: tenantId, id: id, identity: identity)
        return try await db.tenant(tenantId).transaction(logger: logger) { connection in try await versions(connection, flowId: id) }
    }

    func insertVersion(_ tx: Tx, flow: Flow, trigger: FlowTrigger, definition: FlowDefinition, copiedFrom: Int?,
                       identity: Identity, actor: AuditActor) async throws -> FlowVersion {
        let version = (flow.publishedVersion ?? 0) + 1
        try await tx.query("""
            INSERT INTO flow_versions (flow_id, version, tenant_id, trigger, definition, copied_from, published_by)
            VALUES (\(flow.id), \(version), \(flow.tenantId), \(trigger.json)::jsonb, \(definition.json)::jsonb, \(copiedFrom), \(identity.userId))
            """, logger: logger)
        try await tx.query("UPDATE flows SET published_version = \(version), updated_at = now() WHERE id = \(flow.id)", logger: logger)
        var details = ["version": String(version)]
        if let copiedFrom { details["copied_from"] = String(copiedFrom) }
        try await AuditLog.record(tx, logger: logger, tenantId: flow.tenantId, actor: actor, action: copiedFrom == nil ? "flow.publish" : "flow.rollback",
                                  targetType: "flow", targetId: flow.id.uuidString.lowercased(), details: details)
        return FlowVersion(flowId: flow.id, version: version, trigger: trigger, definition: definition, copiedFrom: copiedFrom,
                           publishedBy: identity.userId, publishedAt: Date())
    }

    func versions(_ connection: Tx, flowId: UUID) async throws -> [FlowVersion] {
        let rows = try await connection.query("""
            SELECT version, trigger::text, definition::text, copied_from, published_by, published_at
            FROM flow_versions WHERE flow_id = \(flowId) ORDER BY version DESC
            """, logger: logger)
        var result: [FlowVersion] = []
        for try await (version, trigger, definition, copied, by, at) in rows.decode((Int, String, String, Int?, UUID?, Date).self) {
            result.append(FlowVersion(flowId: flowId, version: version,
                                      trigger: (try? JSONDecoder().decode(FlowTrigger.self, from: Data(trigger.utf8))) ?? FlowTrigger(type: .default),
                                      definition: (try? FlowDefinition.decode(definition)) ?? .empty, copiedFrom: copied, publishedBy: by, publishedAt: at))
        }
        return result
    }

    private func nameConflict<T: Sendable>(_ name: String, _ body: () async throws -> T) async throws -> T {
        do {
            return try await body()
        } catch where Database.isUniqueViolation(error, constraint: "flows_name_key") {
            throw AppError(.conflict, code: "flow_name_taken", "This tenant already has a flow named '\(name)'.")
        }
    }

    func decode(_ rows: some AsyncSequence<PostgresRow, any Error> & Sendable) async throws -> [(flow: Flow, cursor: String)] {
        typealias Row = (UUID, UUID, String, String, String, String, Int, Int?, Date, Date, String)
        var result: [(Flow, String)] = []
        for try await r in rows.decode(Row.self) {
            let trigger = (try? JSONDecoder().decode(FlowTrigger.self, from: Data(r.3.utf8))) ?? FlowTrigger(type: .default)
            let definition = (try? FlowDefinition.decode(r.4)) ?? .empty
            result.append((Flow(id: r.0, tenantId: r.1, name: r.2, trigger: trigger, draft: definition, testCasesJSON: r.5,
                                draftRevision: r.6, publishedVersion: r.7, createdAt: r.8, updatedAt: r.9,
                                problems: FlowValidator.validate(definition, trigger: trigger, modules: modules)), r.10))
        }
        return result
    }
}

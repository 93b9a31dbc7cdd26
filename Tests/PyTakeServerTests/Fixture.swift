import Foundation
import HummingbirdTesting
import PyTakeCore
import PyTakeTestSupport

/// Two tenants and a user of every role, with access tokens.
struct Fixture: Sendable {
    enum Who: String, CaseIterable, Sendable {
        case platformAdmin, adminA, agentA, viewerA, adminB
    }

    let app: TestApp
    let tenantA: Tenant
    let tenantB: Tenant
    let users: [Who: User]
    let tokens: [Who: String]

    static func make(_ app: TestApp) async throws -> Fixture {
        let a = try await app.createTenant(slug: "tenant-a")
        let b = try await app.createTenant(slug: "tenant-b")
        var users: [Who: User] = [:]
        users[.platformAdmin] = try await app.createUser("root@pytake.test", role: .platformAdmin, tenant: nil)
        users[.adminA] = try await app.createUser("admin@a.test", role: .tenantAdmin, tenant: a.id)
        users[.agentA] = try await app.createUser("agent@a.test", role: .agent, tenant: a.id)
        users[.viewerA] = try await app.createUser("viewer@a.test", role: .viewer, tenant: a.id)
        users[.adminB] = try await app.createUser("admin@b.test", role: .tenantAdmin, tenant: b.id)
        var tokens: [Who: String] = [:]
        for (who, user) in users { tokens[who] = try await app.token(for: user) }
        return Fixture(app: app, tenantA: a, tenantB: b, users: users, tokens: tokens)
    }

    var a: String { tenantA.id.uuidString.lowercased() }
    var b: String { tenantB.id.uuidString.lowercased() }
    func id(_ who: Who) -> String { users[who]!.id.uuidString.lowercased() }
    func token(_ who: Who) -> String { tokens[who]! }
}

func uniqueEmail(_ prefix: String = "user") -> String {
    "\(prefix)-\(UUID().uuidString.prefix(8).lowercased())@example.test"
}

import Foundation
import OpenAPIRuntime
import PostgresNIO
import PyTakeAPI
import PyTakeCore

/// Implements every operation of `openapi.yaml` by translating between the generated types and
/// the services of PyTakeCore. Errors are thrown as `AppError` and become problem+json upstream.
struct APIHandler: APIProtocol {
    let services: AppServices

    private var scope: RequestScope { RequestScope.current }

    // MARK: operations

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        let db = services.db
        let logger = services.logger
        let reachable = await withTaskGroup(of: Bool.self) { group in
            group.addTask { (try? await db.query("SELECT 1", logger: logger)) != nil }
            group.addTask {
                try? await Task.sleep(for: .seconds(2))
                return false
            }
            let first = await group.next() ?? false
            group.cancelAll()
            return first
        }
        guard reachable else { throw AppError.databaseUnavailable }
        return .ok(.init(body: .json(.init(status: .ok))))
    }

    func login(_ input: Operations.Login.Input) async throws -> Operations.Login.Output {
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let pair = try await services.auth.login(email: body.email, password: body.password, ip: scope.clientIP, requestId: scope.requestId)
        return .ok(.init(body: .json(Self.tokenPair(pair))))
    }

    func refreshTokens(_ input: Operations.RefreshTokens.Input) async throws -> Operations.RefreshTokens.Output {
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        return .ok(.init(body: .json(Self.tokenPair(try await services.auth.refresh(body.refreshToken, requestId: scope.requestId)))))
    }

    func logout(_ input: Operations.Logout.Input) async throws -> Operations.Logout.Output {
        let identity = try scope.identity()
        var refreshToken: String?
        if case .json(let body) = input.body { refreshToken = body.refreshToken }
        try await services.auth.logout(identity: identity, refreshToken: refreshToken, requestId: scope.requestId)
        return .noContent(.init())
    }

    func getMe(_ input: Operations.GetMe.Input) async throws -> Operations.GetMe.Output {
        let identity = try scope.identity()
        return .ok(.init(body: .json(.init(
            id: identity.userId.lowercasedString, email: identity.email,
            role: .init(rawValue: identity.role.rawValue)!, tenantId: identity.tenantId?.lowercasedString
        ))))
    }

    func listTenants(_ input: Operations.ListTenants.Input) async throws -> Operations.ListTenants.Output {
        let identity = try scope.identity()
        let query = TenantQuery(
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor),
            search: input.query.q.flatMap { $0.isEmpty ? nil : $0 },
            status: input.query.status.flatMap { TenantStatus(rawValue: $0.rawValue) }
        )
        let page = try await services.tenants.list(query, identity: identity)
        return .ok(.init(body: .json(.init(items: try page.items.map(Self.tenant), nextCursor: page.nextCursor))))
    }

    func createTenant(_ input: Operations.CreateTenant.Input) async throws -> Operations.CreateTenant.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let tenant = try await services.tenants.create(TenantInput(
            name: body.name, slug: body.slug, timezone: body.timezone,
            status: body.status.flatMap { TenantStatus(rawValue: $0.rawValue) },
            toolsConfigJSON: try body.toolsConfig.map { try Self.json($0.additionalProperties) },
            apiURL: body.apiUrl, token: body.token,
            whatsappProvider: body.whatsappProvider.flatMap { ProviderType(rawValue: $0.rawValue) }
        ), identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(try Self.tenant(tenant))))
    }

    func getTenant(_ input: Operations.GetTenant.Input) async throws -> Operations.GetTenant.Output {
        let identity = try scope.identity()
        let tenant = try await services.tenants.get(try Self.uuid(input.path.tenantId, "tenantId"), identity: identity)
        return .ok(.init(body: .json(try Self.tenant(tenant))))
    }

    func updateTenant(_ input: Operations.UpdateTenant.Input) async throws -> Operations.UpdateTenant.Output {
        let identity = try scope.identity()
        let id = try Self.uuid(input.path.tenantId, "tenantId")
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        var patch = TenantPatch()
        patch.name = body.name
        patch.slug = body.slug
        patch.timezone = body.timezone
        patch.status = body.status.flatMap { TenantStatus(rawValue: $0.rawValue) }
        patch.toolsConfigJSON = try body.toolsConfig.map { try Self.json($0.additionalProperties) }
        patch.apiURL = body.apiUrl
        patch.token = body.token
        patch.whatsappProvider = body.whatsappProvider.flatMap { ProviderType(rawValue: $0.rawValue) }
        patch.clear = Set((body.clear ?? []).compactMap { TenantPatch.Clearable(rawValue: $0.rawValue) })
        let tenant = try await services.tenants.update(id, patch, identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(try Self.tenant(tenant))))
    }

    func deleteTenant(_ input: Operations.DeleteTenant.Input) async throws -> Operations.DeleteTenant.Output {
        let identity = try scope.identity()
        try await services.tenants.delete(try Self.uuid(input.path.tenantId, "tenantId"), identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func listUsers(_ input: Operations.ListUsers.Input) async throws -> Operations.ListUsers.Output {
        let identity = try scope.identity()
        let page = try await services.users.list(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"),
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor), identity: identity)
        return .ok(.init(body: .json(.init(items: page.items.map(Self.user), nextCursor: page.nextCursor))))
    }

    func createUser(_ input: Operations.CreateUser.Input) async throws -> Operations.CreateUser.Output {
        let identity = try scope.identity()
        let tenantId = try Self.uuid(input.path.tenantId, "tenantId")
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let user = try await services.users.create(
            email: body.email, password: body.password, role: Role(rawValue: body.role.rawValue)!,
            tenantId: tenantId, identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(Self.user(user))))
    }

    func getUser(_ input: Operations.GetUser.Input) async throws -> Operations.GetUser.Output {
        let identity = try scope.identity()
        let user = try await services.users.get(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), userId: try Self.uuid(input.path.userId, "userId"),
            identity: identity)
        return .ok(.init(body: .json(Self.user(user))))
    }

    func updateUser(_ input: Operations.UpdateUser.Input) async throws -> Operations.UpdateUser.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let user = try await services.users.update(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), userId: try Self.uuid(input.path.userId, "userId"),
            UserPatch(email: body.email, password: body.password, role: body.role.flatMap { Role(rawValue: $0.rawValue) }),
            identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(Self.user(user))))
    }

    func deleteUser(_ input: Operations.DeleteUser.Input) async throws -> Operations.DeleteUser.Output {
        let identity = try scope.identity()
        try await services.users.delete(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), userId: try Self.uuid(input.path.userId, "userId"),
            identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func listAuditLog(_ input: Operations.ListAuditLog.Input) async throws -> Operations.ListAuditLog.Output {
        let identity = try scope.identity()
        let page = try await AuditLog.list(
            client: services.db, logger: services.logger, identity: identity,
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"),
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor))
        let items = try page.items.map { entry in
            Components.Schemas.AuditEntry(
                id: entry.id, tenantId: entry.tenantId?.lowercasedString, actorId: entry.actorId?.lowercasedString,
                actorEmail: entry.actorEmail, action: entry.action, targetType: entry.targetType, targetId: entry.targetId,
                requestId: entry.requestId, details: .init(additionalProperties: try Self.object(entry.detailsJSON)),
                createdAt: entry.createdAt)
        }
        return .ok(.init(body: .json(.init(items: items, nextCursor: page.nextCursor))))
    }

    // MARK: translation

    static let unsupportedBody = AppError(.badRequest, code: "invalid_request", "The request body must be application/json.")

    static func uuid(_ value: String, _ name: String) throws(AppError) -> UUID {
        guard let id = UUID(uuidString: value) else { throw AppError.invalidParameter(name, "must be a UUID") }
        return id
    }

    static func tokenPair(_ pair: TokenPair) -> Components.Schemas.TokenPair {
        .init(accessToken: pair.accessToken, refreshToken: pair.refreshToken, tokenType: .bearer, expiresIn: pair.expiresIn)
    }

    static func tenant(_ tenant: Tenant) throws -> Components.Schemas.Tenant {
        .init(
            id: tenant.id.lowercasedString, name: tenant.name, slug: tenant.slug, timezone: tenant.timezone,
            status: .init(rawValue: tenant.status.rawValue)!,
            toolsConfig: .init(additionalProperties: try object(tenant.toolsConfigJSON)),
            apiUrl: tenant.apiURL, tokenMasked: tenant.tokenMasked,
            whatsappProvider: tenant.whatsappProvider.flatMap { .init(rawValue: $0.rawValue) },
            createdAt: tenant.createdAt, updatedAt: tenant.updatedAt)
    }

    static func user(_ user: User) -> Components.Schemas.User {
        .init(id: user.id.lowercasedString, email: user.email, role: .init(rawValue: user.role.rawValue)!,
              tenantId: user.tenantId?.lowercasedString, createdAt: user.createdAt, updatedAt: user.updatedAt)
    }

    static func object(_ json: String) throws -> OpenAPIObjectContainer {
        try JSONDecoder().decode(OpenAPIObjectContainer.self, from: Data(json.utf8))
    }

    static func json(_ object: OpenAPIObjectContainer) throws -> String {
        String(decoding: try JSONEncoder().encode(object), as: UTF8.self)
    }
}

extension UUID {
    var lowercasedString: String { uuidString.lowercased() }
}

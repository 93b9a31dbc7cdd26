import Foundation
import OpenAPIRuntime
import PostgresNIO
import PyTakeAPI
import PyTakeCore

/// Implements every operation of `openapi.yaml` by translating between the generated types and
/// the services of PyTakeCore. Errors are thrown as `AppError` and become problem+json upstream.
struct APIHandler: APIProtocol {
    let services: AppServices

    var scope: RequestScope { RequestScope.current }

    // MARK: operations

    func getHealth(_ input: Operations.GetHealth.Input) async throws -> Operations.GetHealth.Output {
        .ok(.init(body: .json(.init(status: .ok))))
    }

    func getMetrics(_ input: Operations.GetMetrics.Input) async throws -> Operations.GetMetrics.Output {
        if let expected = services.settings.metricsToken {
            let given = scope.bearerToken ?? ""
            guard MetaRoutes.constantTimeEqual(given, expected) else {
                throw AppError(.unauthorized, code: "unauthorized", "Send the metrics token as 'Authorization: Bearer <token>'.")
            }
        }
        return .ok(.init(body: .plainText(HTTPBody(Telemetry.render()))))
    }

    func getReadiness(_ input: Operations.GetReadiness.Input) async throws -> Operations.GetReadiness.Output {
        let db = services.db
        let logger = services.logger
        // withTimeout answers at the limit even while the statement is still waiting.
        let reachable = (try? await withTimeout(.seconds(2), onTimeout: AppError.databaseUnavailable) {
            try await db.unscoped.query("SELECT 1", logger: logger)
        }) != nil
        guard reachable else { throw AppError.databaseUnavailable }
        return .ok(.init(body: .json(.init(status: .ok))))
    }

    func login(_ input: Operations.Login.Input) async throws -> Operations.Login.Output {
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let pair = try await services.auth.login(email: body.email, password: body.password, ip: scope.clientIP, requestId: scope.requestId)
        if body.refreshInCookie == true {
            RefreshCookie.set(pair.refreshToken, scope: scope, maxAge: services.settings.refreshTokenTTL)
            return .ok(.init(body: .json(Self.tokenPair(pair, withRefreshToken: false))))
        }
        return .ok(.init(body: .json(Self.tokenPair(pair))))
    }

    func refreshTokens(_ input: Operations.RefreshTokens.Input) async throws -> Operations.RefreshTokens.Output {
        var bodyToken: String?
        switch input.body {
        case .json(let body): bodyToken = body.refreshToken
        case nil: break
        }
        if let bodyToken {
            return .ok(.init(body: .json(Self.tokenPair(try await services.auth.refresh(bodyToken, requestId: scope.requestId)))))
        }
        // A browser session: the token is in the HttpOnly cookie, which the browser attaches to any
        // request, so the request must also carry a header only our own page's script can add.
        guard let cookie = scope.refreshCookie else {
            // No credential at all: the same answer as a request without an access token.
            throw AppError(.unauthorized, code: "refresh_token_missing", "Send refresh_token in the body, or the pytake_refresh cookie.")
        }
        guard input.headers.xPyTakeCSRF == "1" else {
            throw AppError(.forbidden, code: "csrf_header_missing", "A refresh from the cookie needs the header X-PyTake-CSRF: 1.")
        }
        let pair = try await services.auth.refresh(cookie, requestId: scope.requestId)
        RefreshCookie.set(pair.refreshToken, scope: scope, maxAge: services.settings.refreshTokenTTL)
        return .ok(.init(body: .json(Self.tokenPair(pair, withRefreshToken: false))))
    }

    func logout(_ input: Operations.Logout.Input) async throws -> Operations.Logout.Output {
        let identity = try scope.identity()
        var refreshToken: String?
        if case .json(let body) = input.body { refreshToken = body.refreshToken }
        if refreshToken == nil, let cookie = scope.refreshCookie {
            refreshToken = cookie
        }
        if scope.refreshCookie != nil { RefreshCookie.clear(scope: scope) }
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
            name: body.name, slug: body.slug, timezone: body.timezone?.rawValue,
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
        patch.timezone = body.timezone?.rawValue
        patch.status = body.status.flatMap { TenantStatus(rawValue: $0.rawValue) }
        patch.toolsConfigJSON = try body.toolsConfig.map { try Self.json($0.additionalProperties) }
        patch.apiURL = body.apiUrl
        patch.token = body.token
        patch.whatsappProvider = body.whatsappProvider.flatMap { ProviderType(rawValue: $0.rawValue) }
        try Self.requireDistinct(body.clear)
        patch.clear = Set((body.clear ?? []).compactMap { TenantPatch.Clearable(rawValue: $0.rawValue) })
        let tenant = try await services.tenants.update(id, patch, identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(try Self.tenant(tenant))))
    }

    func deleteTenant(_ input: Operations.DeleteTenant.Input) async throws -> Operations.DeleteTenant.Output {
        let identity = try scope.identity()
        try await services.tenants.delete(try Self.uuid(input.path.tenantId, "tenantId"), identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func restoreTenant(_ input: Operations.RestoreTenant.Input) async throws -> Operations.RestoreTenant.Output {
        let identity = try scope.identity()
        let tenant = try await services.tenants.restore(try Self.uuid(input.path.tenantId, "tenantId"), identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(try Self.tenant(tenant))))
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

    /// `clear` lists (`uniqueItems` in the contract).
    static func requireDistinct<Item: Hashable>(_ clear: [Item]?) throws(AppError) {
        guard let clear, Set(clear).count != clear.count else { return }
        throw AppError.validation([.init(field: "clear", message: "lists a field more than once")])
    }

    static func uuid(_ value: String, _ name: String) throws(AppError) -> UUID {
        guard let id = UUID(uuidString: value) else { throw AppError.invalidParameter(name, "must be a UUID") }
        return id
    }

    static func tokenPair(_ pair: TokenPair, withRefreshToken: Bool = true) -> Components.Schemas.TokenPair {
        .init(accessToken: pair.accessToken, refreshToken: withRefreshToken ? pair.refreshToken : nil, tokenType: .bearer,
              expiresIn: pair.expiresIn)
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

// MARK: providers

extension APIHandler {
    func listProviders(_ input: Operations.ListProviders.Input) async throws -> Operations.ListProviders.Output {
        let identity = try scope.identity()
        let query = ProviderQuery(
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor),
            type: input.query.providerType.flatMap { ProviderType(rawValue: $0.rawValue) }, active: input.query.active)
        let page = try await services.providers.list(tenantId: try Self.uuid(input.path.tenantId, "tenantId"), query, identity: identity)
        return .ok(.init(body: .json(.init(items: page.items.map { provider(identity, $0) }, nextCursor: page.nextCursor))))
    }

    func createProvider(_ input: Operations.CreateProvider.Input) async throws -> Operations.CreateProvider.Output {
        let identity = try scope.identity()
        let tenantId = try Self.uuid(input.path.tenantId, "tenantId")
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let created = try await services.providers.create(tenantId: tenantId, ProviderInput(
            type: ProviderType(rawValue: body.providerType.rawValue)!, name: body.name, active: body.active, priority: body.priority,
            apiURL: body.apiUrl, token: body.token, appSecret: body.config?.appSecret, config: Self.config(body.config)
        ), identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(provider(identity, created))))
    }

    func getProvider(_ input: Operations.GetProvider.Input) async throws -> Operations.GetProvider.Output {
        let identity = try scope.identity()
        let found = try await services.providers.get(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.providerId, "providerId"), identity: identity)
        return .ok(.init(body: .json(provider(identity, found))))
    }

    func updateProvider(_ input: Operations.UpdateProvider.Input) async throws -> Operations.UpdateProvider.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        var patch = ProviderPatch()
        patch.name = body.name
        patch.active = body.active
        patch.priority = body.priority
        patch.apiURL = body.apiUrl
        patch.token = body.token
        patch.appSecret = body.config?.appSecret
        patch.config = body.config.map { Self.config($0) }
        try Self.requireDistinct(body.clear)
        patch.clear = Set((body.clear ?? []).compactMap { ProviderPatch.Clearable(rawValue: $0.rawValue) })
        let updated = try await services.providers.update(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.providerId, "providerId"),
            patch, identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(provider(identity, updated))))
    }

    func deleteProvider(_ input: Operations.DeleteProvider.Input) async throws -> Operations.DeleteProvider.Output {
        let identity = try scope.identity()
        try await services.providers.delete(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.providerId, "providerId"),
            identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func sendTestMessage(_ input: Operations.SendTestMessage.Input) async throws -> Operations.SendTestMessage.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let (provider, receipt) = try await services.outbound.sendTestMessage(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), providerId: try Self.uuid(input.path.providerId, "providerId"),
            to: body.to, text: body.text, identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(.init(
            providerType: .init(rawValue: provider.type.rawValue)!, providerId: provider.id.lowercasedString,
            providerMessageId: receipt.providerMessageId))))
    }

    func resolveCredentials(_ input: Operations.ResolveCredentials.Input) async throws -> Operations.ResolveCredentials.Output {
        let identity = try scope.identity()
        let resolved = try await services.outbound.resolver.resolve(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), type: ProviderType(rawValue: input.path.providerType.rawValue)!,
            providerId: try input.query.providerId.map { try Self.uuid($0, "provider_id") }, identity: identity)
        let seesSecrets = identity.role == .platformAdmin || identity.role == .tenantAdmin
        func source(_ value: ResolvedCredentials.Source?) -> Components.Schemas.CredentialSource? {
            value.flatMap { .init(rawValue: $0.rawValue) }
        }
        return .ok(.init(body: .json(.init(
            providerType: .init(rawValue: resolved.providerType.rawValue)!, providerId: resolved.providerId?.lowercasedString,
            providerName: resolved.providerName, apiUrl: resolved.apiURL, tokenMasked: seesSecrets ? resolved.tokenMasked : nil,
            source: .init(apiUrl: source(resolved.apiURLSource), token: source(resolved.tokenSource)), mixed: resolved.isMixed))))
    }

    static func config(_ input: Components.Schemas.ProviderConfigInput?) -> ProviderConfig {
        guard let input else { return ProviderConfig() }
        return ProviderConfig(phoneNumberId: input.phoneNumberId, displayPhoneNumber: input.displayPhoneNumber, wabaId: input.wabaId,
                              businessId: input.businessId, instance: input.instance, workspaceId: input.workspaceId)
    }

    /// Secrets, even masked, are shown to tenant_admin and platform_admin only.
    func provider(_ identity: Identity, _ provider: Provider) -> Components.Schemas.Provider {
        let seesSecrets = identity.role == .platformAdmin || identity.role == .tenantAdmin
        let breaker = services.outbound.senders.breakerState(provider.id.lowercasedString)
        let config = provider.config
        return .init(
            id: provider.id.lowercasedString, tenantId: provider.tenantId.lowercasedString,
            providerType: .init(rawValue: provider.type.rawValue)!, name: provider.name, active: provider.active, priority: provider.priority,
            apiUrl: provider.apiURL, tokenMasked: seesSecrets ? maskSecret(provider.token) : nil,
            config: .init(phoneNumberId: config.phoneNumberId, displayPhoneNumber: config.displayPhoneNumber, wabaId: config.wabaId,
                          businessId: config.businessId,
                          appSecretMasked: seesSecrets ? provider.appSecret.map(maskSecret) : nil,
                          instance: config.instance, workspaceId: config.workspaceId),
            breaker: .init(state: .init(rawValue: breaker.state.rawValue)!, consecutiveFailures: breaker.consecutiveFailures,
                           openedAt: breaker.openedAt, retryAt: breaker.retryAt),
            createdAt: provider.createdAt, updatedAt: provider.updatedAt)
    }
}

// MARK: conversations, customers, Embedded Signup

extension APIHandler {
    func listConversations(_ input: Operations.ListConversations.Input) async throws -> Operations.ListConversations.Output {
        let identity = try scope.identity()
        let query = ConversationQuery(
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor),
            status: input.query.status.flatMap { ConversationStatus(rawValue: $0.rawValue) }, botPaused: input.query.botPaused,
            assigneeId: try input.query.assigneeId.map { try Self.uuid($0, "assignee_id") })
        let page = try await services.conversations.list(tenantId: try Self.uuid(input.path.tenantId, "tenantId"), query, identity: identity)
        return .ok(.init(body: .json(.init(items: page.items.map(Self.conversation), nextCursor: page.nextCursor))))
    }

    func getConversation(_ input: Operations.GetConversation.Input) async throws -> Operations.GetConversation.Output {
        let identity = try scope.identity()
        let found = try await services.conversations.get(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.conversationId, "conversationId"), identity: identity)
        return .ok(.init(body: .json(Self.conversation(found))))
    }

    func listMessages(_ input: Operations.ListMessages.Input) async throws -> Operations.ListMessages.Output {
        let identity = try scope.identity()
        let page = try await services.conversations.messages(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), conversationId: try Self.uuid(input.path.conversationId, "conversationId"),
            page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor), identity: identity)
        return .ok(.init(body: .json(.init(items: try page.items.map(Self.message), nextCursor: page.nextCursor))))
    }

    func replyToConversation(_ input: Operations.ReplyToConversation.Input) async throws -> Operations.ReplyToConversation.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let sent = try await services.conversations.reply(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), conversationId: try Self.uuid(input.path.conversationId, "conversationId"),
            text: body.text, identity: identity)
        return .created(.init(body: .json(try Self.message(sent))))
    }

    func handoverConversation(_ input: Operations.HandoverConversation.Input) async throws -> Operations.HandoverConversation.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let updated = try await services.conversations.handover(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), conversationId: try Self.uuid(input.path.conversationId, "conversationId"),
            paused: body.paused, assigneeId: try body.assigneeId.map { try Self.uuid($0, "assignee_id") }, identity: identity)
        return .ok(.init(body: .json(Self.conversation(updated))))
    }

    func closeConversation(_ input: Operations.CloseConversation.Input) async throws -> Operations.CloseConversation.Output {
        let identity = try scope.identity()
        let closed = try await services.conversations.close(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), conversationId: try Self.uuid(input.path.conversationId, "conversationId"),
            identity: identity)
        return .ok(.init(body: .json(Self.conversation(closed))))
    }

    func eraseCustomer(_ input: Operations.EraseCustomer.Input) async throws -> Operations.EraseCustomer.Output {
        let identity = try scope.identity()
        try await services.conversations.eraseCustomer(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), customerId: try Self.uuid(input.path.customerId, "customerId"),
            identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func createSignupSession(_ input: Operations.CreateSignupSession.Input) async throws -> Operations.CreateSignupSession.Output {
        let identity = try scope.identity()
        let session = try await services.signup.createSession(tenantId: try Self.uuid(input.path.tenantId, "tenantId"), identity: identity)
        // The redirect flow completes only in this browser: it must present this HttpOnly cookie.
        let secure = services.settings.meta.redirectURL?.lowercased().hasPrefix("https://") == true ? "; Secure" : ""
        scope.extraHeaders.add(.setCookie, "\(MetaRoutes.signupCookie)=\(session.browserNonce); Path=\(MetaRoutes.callbackPath); Max-Age=\(Int(MetaSignup.stateLifetime)); HttpOnly; SameSite=Lax\(secure)")
        return .created(.init(body: .json(.init(appId: session.appId, configId: session.configId, graphVersion: session.graphVersion,
                                                sdkUrl: services.settings.meta.sdkURL, state: session.state, expiresAt: session.expiresAt))))
    }

    func completeEmbeddedSignup(_ input: Operations.CompleteEmbeddedSignup.Input) async throws -> Operations.CompleteEmbeddedSignup.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let created = try await services.signup.complete(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), code: body.code, state: body.state, wabaId: body.wabaId,
            phoneNumberId: body.phoneNumberId, businessId: body.businessId, identity: identity)
        return .ok(.init(body: .json(provider(identity, created))))
    }

    static func conversation(_ c: Conversation) -> Components.Schemas.Conversation {
        .init(id: c.id.lowercasedString, tenantId: c.tenantId.lowercasedString,
              customer: .init(id: c.customer.id.lowercasedString, waId: c.customer.waId, profileName: c.customer.profileName, erased: c.customer.erased),
              providerId: c.providerId?.lowercasedString, status: .init(rawValue: c.status.rawValue)!, botPaused: c.botPaused,
              assigneeId: c.assigneeId?.lowercasedString, lastMessageAt: c.lastMessageAt, lastInboundAt: c.lastInboundAt,
              unreadCount: c.unreadCount, openedAt: c.openedAt, closedAt: c.closedAt)
    }

    static func message(_ m: ChatMessage) throws -> Components.Schemas.Message {
        .init(id: m.id.lowercasedString, conversationId: m.conversationId.lowercasedString,
              direction: .init(rawValue: m.direction)!, providerMessageId: m.providerMessageId, _type: m.type, body: m.body,
              payload: .init(additionalProperties: try object(m.payloadJSON)), status: .init(rawValue: m.status)!,
              errorCode: m.errorCode, errorTitle: m.errorTitle, sentBy: m.sentBy?.lowercasedString, occurredAt: m.occurredAt)
    }
}

// MARK: flows

extension APIHandler {
    /// Generated and core flow types share their JSON shape: convert through it.
    static func bridge<From: Encodable, To: Decodable>(_ value: From, to: To.Type) throws -> To {
        try JSONDecoder().decode(To.self, from: try JSONEncoder().encode(value))
    }

    static func flow(_ flow: Flow) throws -> Components.Schemas.Flow {
        .init(id: flow.id.lowercasedString, tenantId: flow.tenantId.lowercasedString, name: flow.name,
              trigger: try bridge(flow.trigger, to: Components.Schemas.FlowTrigger.self),
              definition: try bridge(flow.draft, to: Components.Schemas.FlowDefinition.self),
              testCases: try JSONDecoder().decode([Components.Schemas.FlowTestCase].self, from: Data(flow.testCasesJSON.utf8)),
              revision: flow.draftRevision, publishedVersion: flow.publishedVersion,
              problems: flow.problems.map(problem), createdAt: flow.createdAt, updatedAt: flow.updatedAt)
    }

    static func problem(_ p: FlowProblem) -> Components.Schemas.FlowProblem {
        .init(code: p.code, message: p.message, nodeId: p.nodeId)
    }

    static func version(_ v: FlowVersion) throws -> Components.Schemas.FlowVersion {
        .init(flowId: v.flowId.lowercasedString, version: v.version, trigger: try bridge(v.trigger, to: Components.Schemas.FlowTrigger.self),
              definition: try bridge(v.definition, to: Components.Schemas.FlowDefinition.self), copiedFrom: v.copiedFrom,
              publishedBy: v.publishedBy?.lowercasedString, publishedAt: v.publishedAt)
    }

    static func draft(name: String?, trigger: Components.Schemas.FlowTrigger?, definition: Components.Schemas.FlowDefinition?,
                      testCases: [Components.Schemas.FlowTestCase]?) throws -> FlowDraft {
        FlowDraft(name: name, trigger: try trigger.map { try bridge($0, to: FlowTrigger.self) },
                  definition: try definition.map { try bridge($0, to: FlowDefinition.self) },
                  testCasesJSON: try testCases.map { String(decoding: try JSONEncoder().encode($0), as: UTF8.self) })
    }

    func listFlows(_ input: Operations.ListFlows.Input) async throws -> Operations.ListFlows.Output {
        let identity = try scope.identity()
        let page = try await services.flows.list(tenantId: try Self.uuid(input.path.tenantId, "tenantId"),
                                                 page: try PageRequest(limit: input.query.limit, cursor: input.query.cursor), identity: identity)
        return .ok(.init(body: .json(.init(items: try page.items.map(Self.flow), nextCursor: page.nextCursor))))
    }

    func createFlow(_ input: Operations.CreateFlow.Input) async throws -> Operations.CreateFlow.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let created = try await services.flows.create(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"),
            try Self.draft(name: body.name, trigger: body.trigger, definition: body.definition, testCases: body.testCases),
            identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(try Self.flow(created))))
    }

    func getFlow(_ input: Operations.GetFlow.Input) async throws -> Operations.GetFlow.Output {
        let identity = try scope.identity()
        let found = try await services.flows.get(tenantId: try Self.uuid(input.path.tenantId, "tenantId"),
                                                 id: try Self.uuid(input.path.flowId, "flowId"), identity: identity)
        return .ok(.init(body: .json(try Self.flow(found))))
    }

    func saveFlowDraft(_ input: Operations.SaveFlowDraft.Input) async throws -> Operations.SaveFlowDraft.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        // A missing If-Match never reaches here: the generated decoder refuses it, and
        // RequestMiddleware answers 428 `revision_required` (see `missingPrecondition`).
        guard let revision = Self.revision(ifMatch: input.headers.ifMatch) else {
            throw AppError.invalidParameter("If-Match", "must be a draft revision number: 3, \"3\" or W/\"3\"")
        }
        let saved = try await services.flows.save(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"),
            try Self.draft(name: body.name, trigger: body.trigger, definition: body.definition, testCases: body.testCases),
            ifMatch: revision, identity: identity, actor: try scope.actor())
        return .ok(.init(body: .json(try Self.flow(saved))))
    }

    /// `3`, `"3"` or `W/"3"` with 1 to 9 digits (the contract's If-Match pattern).
    static func revision(ifMatch header: String) -> Int? {
        var text = Substring(header)
        if text.hasPrefix("W/") { text = text.dropFirst(2) }
        if text.hasPrefix("\""), text.hasSuffix("\""), text.count >= 2 {
            text = text.dropFirst().dropLast()
        } else if header.hasPrefix("W/") {
            return nil
        }
        guard (1...9).contains(text.utf8.count), text.utf8.allSatisfy({ (0x30...0x39).contains($0) }) else { return nil }
        return Int(text)
    }

    func deleteFlow(_ input: Operations.DeleteFlow.Input) async throws -> Operations.DeleteFlow.Output {
        let identity = try scope.identity()
        try await services.flows.delete(tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"),
                                        identity: identity, actor: try scope.actor())
        return .noContent(.init())
    }

    func publishFlow(_ input: Operations.PublishFlow.Input) async throws -> Operations.PublishFlow.Output {
        let identity = try scope.identity()
        let published = try await services.flows.publish(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"),
            identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(try Self.version(published))))
    }

    func listFlowVersions(_ input: Operations.ListFlowVersions.Input) async throws -> Operations.ListFlowVersions.Output {
        let identity = try scope.identity()
        let versions = try await services.flows.versions(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"), identity: identity)
        return .ok(.init(body: .json(.init(items: try versions.map(Self.version)))))
    }

    func rollbackFlow(_ input: Operations.RollbackFlow.Input) async throws -> Operations.RollbackFlow.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let published = try await services.flows.rollback(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"),
            to: body.version, identity: identity, actor: try scope.actor())
        return .created(.init(body: .json(try Self.version(published))))
    }

    func validateFlow(_ input: Operations.ValidateFlow.Input) async throws -> Operations.ValidateFlow.Output {
        let identity = try scope.identity()
        let problems = try await services.flows.validate(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"), identity: identity)
        return .ok(.init(body: .json(.init(valid: problems.isEmpty, problems: problems.map(Self.problem)))))
    }

    /// A JSON object of ours as the generated types carry free-form objects.
    static func container(_ value: some Encodable) throws -> OpenAPIObjectContainer {
        try JSONDecoder().decode(OpenAPIObjectContainer.self, from: JSONEncoder().encode(value))
    }

    func simulateFlow(_ input: Operations.SimulateFlow.Input) async throws -> Operations.SimulateFlow.Output {
        let identity = try scope.identity()
        guard case .json(let body) = input.body else { throw Self.unsupportedBody }
        let variables = try body.variables.map { try JSONDecoder().decode([String: JSONValue].self, from: JSONEncoder().encode($0.additionalProperties)) } ?? [:]
        let result = try await services.flows.simulate(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"),
            version: body.version, messages: body.messages, variables: variables, identity: identity)
        typealias S = Components.Schemas
        return .ok(.init(body: .json(S.SimulationResult(
            transcript: result.transcript.map { S.SimulationLine(role: .init(rawValue: $0.role) ?? .system, text: $0.text, choices: $0.choices, nodeId: $0.nodeId) },
            turns: try result.turns.map { turn in
                S.SimulationTurn(input: turn.input, replies: turn.replies, path: turn.path,
                                 steps: try turn.steps.map { S.SimulationStep(nodeId: $0.nodeId, _type: $0.type, outcome: $0.outcome,
                                                                              variables: .init(additionalProperties: try Self.container($0.variables))) },
                                 variables: .init(additionalProperties: try Self.container(turn.variables)),
                                 status: .init(rawValue: turn.status) ?? .failed)
            },
            path: result.path, variables: .init(additionalProperties: try Self.container(result.variables)),
            status: .init(rawValue: result.status) ?? .failed, endedAt: result.endedAt))))
    }

    func testFlow(_ input: Operations.TestFlow.Input) async throws -> Operations.TestFlow.Output {
        let identity = try scope.identity()
        let report = try await services.flows.runTests(
            tenantId: try Self.uuid(input.path.tenantId, "tenantId"), id: try Self.uuid(input.path.flowId, "flowId"), identity: identity)
        return .ok(.init(body: .json(.init(passed: report.passed, cases: report.cases.map {
            .init(describe: $0.describe, passed: $0.passed, failures: $0.failures, replies: $0.replies, path: $0.path)
        }))))
    }
}

// MARK: modules

extension APIHandler {
    func listModules(_ input: Operations.ListModules.Input) async throws -> Operations.ListModules.Output {
        _ = try scope.identity()
        let items = try services.modules.manifests.map { manifest in
            Components.Schemas.ModuleManifest(
                name: manifest.name, version: manifest.version, description: manifest.description,
                with: .init(additionalProperties: try Self.container(manifest.with)),
                input: .init(additionalProperties: try Self.container(manifest.input)),
                output: .init(additionalProperties: try Self.container(manifest.output)))
        }
        return .ok(.init(body: .json(.init(items: items))))
    }
}

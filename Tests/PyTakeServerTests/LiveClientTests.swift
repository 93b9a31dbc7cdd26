import AsyncHTTPClient
import Foundation
import HTTPTypes
import HummingbirdTesting
import OpenAPIAsyncHTTPClient
import OpenAPIRuntime
import PyTakeAPI
import PyTakeCore
import PyTakeTestSupport
import Testing

/// Adds the bearer token to every request of the generated client.
struct BearerAuth: ClientMiddleware {
    let token: String
    func intercept(
        _ request: HTTPRequest, body: HTTPBody?, baseURL: URL, operationID: String,
        next: @Sendable (HTTPRequest, HTTPBody?, URL) async throws -> (HTTPResponse, HTTPBody?)
    ) async throws -> (HTTPResponse, HTTPBody?) {
        var request = request
        request.headerFields[.authorization] = "Bearer \(token)"
        return try await next(request, body, baseURL)
    }
}

/// Drives a real PyTake HTTP server on a loopback port with the Swift client generated from openapi.yaml.
@Suite struct LiveClientTests {
    @Test func generatedClientSignsInAndManagesTenantsAndUsers() async throws {
        try await TestApp.run(.live) { app, testClient in
            _ = try await app.createUser("root@pytake.test", role: .platformAdmin, tenant: nil)
            let port = try #require(testClient.port)
            let serverURL = URL(string: "http://127.0.0.1:\(port)")!
            let transport = AsyncHTTPClientTransport(configuration: .init(client: HTTPClient.shared, timeout: .seconds(30)))

            let anonymous = Client(serverURL: serverURL, transport: transport)
            let signIn = try await anonymous.login(body: .json(.init(email: "root@pytake.test", password: TestApp.password)))
            let pair = try signIn.ok.body.json
            #expect(pair.tokenType == .bearer)

            let badSignIn = try await anonymous.login(body: .json(.init(email: "root@pytake.test", password: "wrong password!!")))
            let problem = try badSignIn.unauthorized.body.applicationProblemJson
            #expect(problem.code == "invalid_credentials")

            let client = Client(serverURL: serverURL, transport: transport, middlewares: [BearerAuth(token: pair.accessToken)])
            let me = try await client.getMe().ok.body.json
            #expect(me.role == .platformAdmin)
            #expect(me.tenantId == nil)

            let tenant = try await client.createTenant(body: .json(.init(
                name: "Acme", slug: "acme", timezone: .americaSaoPaulo,
                toolsConfig: .init(additionalProperties: try OpenAPIObjectContainer(unvalidatedValue: ["debounce_seconds": 5])),
                token: "legacy-token-abcd1234"
            ))).created.body.json
            #expect(tenant.tokenMasked == "••••1234")
            #expect(tenant.status == .active)

            let fetched = try await client.getTenant(path: .init(tenantId: tenant.id)).ok.body.json
            #expect(fetched.name == "Acme")
            #expect(fetched.toolsConfig.additionalProperties.value["debounce_seconds"] as? Int == 5)

            let user = try await client.createUser(
                path: .init(tenantId: tenant.id),
                body: .json(.init(email: "agent@acme.test", password: "a long enough password", role: .agent))
            ).created.body.json
            let users = try await client.listUsers(path: .init(tenantId: tenant.id)).ok.body.json
            #expect(users.items.map(\.id) == [user.id])

            let missing = try await client.getTenant(path: .init(tenantId: UUID().uuidString))
            #expect(try missing.notFound.body.applicationProblemJson.code == "not_found")

            let invalid = try await client.updateTenant(path: .init(tenantId: tenant.id), body: .json(.init(slug: "-acme")))
            #expect(try invalid.unprocessableContent.body.applicationProblemJson.errors?.first?.field == "slug")

            let audit = try await client.listAuditLog(path: .init(tenantId: tenant.id), query: .init(limit: 10)).ok.body.json
            #expect(audit.items.map(\.action) == ["user.create", "tenant.create"])

            // Metrics and job runs, as the contract describes them on the wire.
            try await app.db.query("""
                WITH cu AS (INSERT INTO customers (tenant_id, wa_id) VALUES (\(UUID(uuidString: tenant.id)!), '5511970000001') RETURNING id, tenant_id),
                cv AS (INSERT INTO active_conversations (tenant_id, customer_id) SELECT tenant_id, id FROM cu RETURNING id, tenant_id)
                INSERT INTO conversation_events (tenant_id, conversation_id, type, occurred_at)
                SELECT tenant_id, id, t, '2026-10-01T15:00:00Z'::timestamptz FROM cv, unnest(ARRAY['conversation_started', 'message_received']) AS t
                UNION ALL SELECT tenant_id, id, 'message_sent', '2026-10-01T15:00:04Z'::timestamptz FROM cv
                """, logger: app.services.logger)
            let services = SchedulerServices(settings: app.services.settings, db: app.services.db,
                                             secrets: try Bootstrap.secretBox(settings: app.services.settings), logger: app.services.logger)
            let run = try await services.runner.runOnce(services.job(named: "metrics")!, options: JobOptions(), wait: .seconds(10))
            await services.shutdown()
            #expect(run.status == "succeeded")
            let daily = try await client.getDailyMetrics(path: .init(tenantId: tenant.id), query: .init(from: "2026-09-30", to: "2026-10-01"))
                .ok.body.json
            #expect(daily.timezone == "America/Sao_Paulo" && daily.days.map(\.day) == ["2026-09-30", "2026-10-01"])
            #expect(daily.days[1].messagesIn == 1 && daily.days[1].firstResponseMedianSeconds == 4 && daily.days[0].firstResponseMedianSeconds == nil)
            #expect(daily.totals.messagesOut == 1 && daily.computedThrough != nil)
            let badRange = try await client.getDailyMetrics(path: .init(tenantId: tenant.id), query: .init(from: "2026-10-02", to: "2026-10-01"))
            #expect(try badRange.unprocessableContent.body.applicationProblemJson.errors?.first?.field == "to")
            let overview = try await client.getMetricsOverview(query: .init(from: "2026-10-01", to: "2026-10-01")).ok.body.json
            #expect(overview.tenants == 1 && overview.timezone == nil && overview.totals.conversationsStarted == 1)
            let runs = try await client.listJobRuns(query: .init(job: "metrics", status: .succeeded, limit: 1)).ok.body.json
            #expect(runs.items.first?.id == run.runId && runs.items.first?.trigger == .manual && runs.items.first?.finishedAt != nil)
            #expect(runs.items.first?.counts.additionalProperties["tenants_rebuilt"] == 1)

            let refreshed = try await anonymous.refreshTokens(body: .json(.init(refreshToken: try #require(pair.refreshToken)))).ok.body.json
            #expect(refreshed.refreshToken != pair.refreshToken)
            #expect(try await client.logout(body: .json(.init(refreshToken: refreshed.refreshToken))) == .noContent(.init()))
        }
    }
}

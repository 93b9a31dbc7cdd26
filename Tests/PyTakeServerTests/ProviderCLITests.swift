import Foundation
import HummingbirdTesting
import Logging
import PostgresNIO
import PyTakeCore
import PyTakeTestSupport
import Testing

/// `pytake-admin keys …` and `pytake-admin providers …` against a live database.
@Suite struct ProviderCLITests {
    static let newKey = "bmV3LWVuY3J5cHRpb24ta2V5LWZvci10ZXN0czMyYnk="

    static func rawSecrets(_ app: TestApp) async throws -> [String] {
        let rows = try await app.db.query("""
            SELECT token FROM clients WHERE token IS NOT NULL
            UNION ALL SELECT tools_config #>> '{whatsapp,key}' FROM clients WHERE tools_config #>> '{whatsapp,key}' IS NOT NULL
            UNION ALL SELECT token FROM client_providers
            UNION ALL SELECT app_secret FROM client_providers WHERE app_secret IS NOT NULL
            """, logger: app.services.logger)
        var values: [String] = []
        for try await value in rows.decode(String.self) { values.append(value) }
        return values
    }

    @Test func rotationReSealsEverySecretAndAWrongKeyIsAClearError() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            _ = try await client.call(.patch, "/api/v1/tenants/\(f.a)", token: f.token(.platformAdmin), json: [
                "token": "legacy-token-0000aaaa", "whatsapp_provider": "uazapi", "api_url": "https://legacy.example",
                "tools_config": ["whatsapp": ["key": "tools-key-0000bbbb"]],
            ])
            _ = try await client.call(.post, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA), json: [
                "provider_type": "meta", "name": "m", "token": "EAAG-token-0000cccc",
                "config": ["phone_number_id": "777", "app_secret": "app-secret-0000dddd"],
            ])
            // A value an older system wrote in clear: still readable, sealed by the rotation.
            try await app.db.query("UPDATE clients SET token = 'clear-legacy-0000eeee', whatsapp_provider = 'uazapi' WHERE id = \(f.tenantB.id)",
                                   logger: app.services.logger)
            let oldID = try SecretBox(current: TestApp.encryptionKey).currentKeyID
            let newID = try SecretBox(current: Self.newKey).currentKeyID

            let before = try await AdminCLITests.admin(["keys", "status"], database: app.url)
            #expect(before.status == 0, "\(before.output)")
            #expect(before.output.contains("clients.token") && before.output.contains("NOT ENCRYPTED"), "\(before.output)")

            let rotated = try await AdminCLITests.admin(["keys", "rotate", "--batch-size", "1"], database: app.url, environment: [
                "PYTAKE_ENCRYPTION_KEY": Self.newKey, "PYTAKE_ENCRYPTION_OLD_KEYS": TestApp.encryptionKey,
            ])
            #expect(rotated.status == 0, "\(rotated.output)")
            #expect(rotated.output.contains("clients.token: 2 re-sealed under key \(newID)"), "\(rotated.output)")
            #expect(rotated.output.contains("client_providers.app_secret: 1 re-sealed"))
            let raw = try await Self.rawSecrets(app)
            #expect(raw.count == 5)
            #expect(raw.allSatisfy { $0.hasPrefix("v1:\(newID):") }, "\(raw)")
            #expect(!raw.contains { $0.contains("0000") })

            // Every secret reads back with the new key alone.
            let newBox = try SecretBox(current: Self.newKey)
            let resolver = CredentialResolver(db: app.services.db, logger: app.services.logger, secrets: newBox, outbound: app.services.settings.outbound)
            #expect(try await resolver.resolve(tenantId: f.tenantA.id, type: .meta).appSecret == "app-secret-0000dddd")
            #expect(try await resolver.resolve(tenantId: f.tenantA.id, type: .uazapi).token == "legacy-token-0000aaaa")
            #expect(try await resolver.resolve(tenantId: f.tenantB.id, type: .uazapi).token == "clear-legacy-0000eeee")
            _ = try await app.db.query("UPDATE clients SET token = NULL WHERE id = \(f.tenantA.id)", logger: app.services.logger)
            #expect(try await resolver.resolve(tenantId: f.tenantA.id, type: .uazapi).token == "tools-key-0000bbbb")

            let again = try await AdminCLITests.admin(["keys", "rotate"], database: app.url, environment: ["PYTAKE_ENCRYPTION_KEY": Self.newKey])
            #expect(again.status == 0 && again.output.contains("client_providers.token: 0 re-sealed"), "\(again.output)")
            let after = try await AdminCLITests.admin(["keys", "status"], database: app.url, environment: ["PYTAKE_ENCRYPTION_KEY": Self.newKey])
            #expect(!after.output.contains("NOT ENCRYPTED") && !after.output.contains("old key") && after.output.contains(newID), "\(after.output)")

            // The running server still only knows the old key: a clear error naming the key, no secret.
            let unreadable = try await client.call(.get, "/api/v1/tenants/\(f.a)/providers", token: f.token(.adminA))
            #expect(unreadable.status == .internalServerError && unreadable.code == "secret_unreadable", "\(unreadable.text)")
            #expect(unreadable.text.contains(newID) && !unreadable.text.contains("0000"))
            #expect(oldID != newID)

            // Rotating with a key set that cannot read the stored values stops, changing nothing.
            let wrong = try await AdminCLITests.admin(["keys", "rotate"], database: app.url,
                                                      environment: ["PYTAKE_ENCRYPTION_KEY": SecretBox.generateKey()])
            #expect(wrong.status == 1 && wrong.output.contains("not configured"), "\(wrong.output)")
            #expect(try await Self.rawSecrets(app).allSatisfy { $0.hasPrefix("v1:\(newID):") })
        }
    }

    @Test func legacyCredentialsMoveToProviderRowsIdempotently() async throws {
        try await TestApp.run { app, client in
            let f = try await Fixture.make(app)
            let root = f.token(.platformAdmin)
            func tenant(_ slug: String, _ body: [String: Any]) async throws -> String {
                let created = try await client.call(.post, "/api/v1/tenants", token: root, json: ["name": slug, "slug": slug].merging(body) { a, _ in a })
                #expect(created.status == .created, "\(created.text)")
                return created.json["id"] as? String ?? ""
            }
            let uaz = try await tenant("legacy-uaz", ["api_url": "https://uaz.example", "token": "uaz-legacy-token-0001", "whatsapp_provider": "uazapi"])
            let meta = try await tenant("legacy-meta", ["token": "EAAG-legacy-0002", "whatsapp_provider": "meta"])
            let unset = try await tenant("legacy-unset", ["tools_config": ["whatsapp": ["url": "https://tools.example", "key": "tools-key-0003"]]])
            _ = try await tenant("modern", [:])

            let report = try await AdminCLITests.admin(["providers", "legacy-report"], database: app.url)
            #expect(report.status == 0, "\(report.output)")
            #expect(report.output.contains("legacy-uaz \(uaz) whatsapp_provider=uazapi fields=api_url,token served-from-legacy=uazapi"), "\(report.output)")
            #expect(report.output.contains("legacy-unset \(unset) whatsapp_provider=(empty)"))
            #expect(report.output.contains("3 tenant(s) still depend on legacy columns"))

            let dry = try await AdminCLITests.admin(["providers", "migrate-legacy", "--dry-run"], database: app.url)
            #expect(dry.output.contains("legacy-uaz \(uaz): would create a uazapi provider (dry run)"), "\(dry.output)")
            #expect(dry.output.contains("legacy-meta \(meta): skipped: meta needs tools_config.whatsapp.phone_number_id"))
            #expect(dry.output.contains("legacy-unset \(unset): skipped: whatsapp_provider is empty"))
            #expect(try await app.count("client_providers") == 0)

            let run = try await AdminCLITests.admin(["providers", "migrate-legacy"], database: app.url)
            #expect(run.status == 0 && run.output.contains("legacy-uaz \(uaz): created uazapi provider"), "\(run.output)")
            #expect(run.output.contains("3 tenant(s) with legacy credentials, 1 provider(s) created"))
            let rerun = try await AdminCLITests.admin(["providers", "migrate-legacy"], database: app.url)
            #expect(rerun.output.contains("legacy-uaz \(uaz): already migrated (legacy-uazapi exists)"), "\(rerun.output)")
            #expect(try await app.count("client_providers") == 1)

            let one = try await AdminCLITests.admin(["providers", "migrate-legacy", "--tenant", unset, "--type-when-unset", "uazapi"], database: app.url)
            #expect(one.output.contains("legacy-unset \(unset): created uazapi provider"), "\(one.output)")
            #expect(!one.output.contains("legacy-uaz "), "only the tenant asked for")

            // The copies now win resolution, with the same values.
            let resolved = try await client.call(.get, "/api/v1/tenants/\(uaz)/credentials/uazapi", token: root)
            #expect((resolved.json["source"] as? [String: Any])?["token"] as? String == "client_providers")
            #expect(resolved.json["api_url"] as? String == "https://uaz.example" && resolved.json["token_masked"] as? String == "••••0001")
            let copied = try await client.call(.get, "/api/v1/tenants/\(unset)/credentials/uazapi", token: root)
            #expect(copied.json["api_url"] as? String == "https://tools.example" && copied.json["token_masked"] as? String == "••••0003")

            let after = try await AdminCLITests.admin(["providers", "legacy-report"], database: app.url)
            #expect(!after.output.contains("legacy-uaz "), "\(after.output)")
            #expect(after.output.contains("legacy-meta") && after.output.contains("served-from-legacy=meta,lancepilot"))
            #expect(after.output.contains("2 tenant(s) still depend on legacy columns"))
        }
    }
}

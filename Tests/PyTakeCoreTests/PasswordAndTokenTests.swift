import Crypto
import Foundation
import JWTKit
import PyTakeCore
import Testing

@Suite struct PasswordHasherTests {
    @Test func hashesWithArgon2idAtLeastOWASPParameters() async throws {
        let hasher = PasswordHasher(concurrency: 2)
        let hash = try await hasher.hash("correct horse battery staple")
        #expect(hash.hasPrefix("$argon2id$v=19$m=19456,t=2,p=1$"))
        #expect(try await hasher.verify("correct horse battery staple", against: hash))
        #expect(try await !hasher.verify("correct horse battery stapler", against: hash))
        #expect(try await hasher.hash("correct horse battery staple") != hash, "salted")
        #expect(try await !hasher.verifyDummy("anything at all"))
    }

    @Test func garbageHashNeverVerifies() async throws {
        #expect(try await !PasswordHasher(concurrency: 1).verify("password", against: "not-a-hash"))
    }
}

@Suite struct TokenServiceTests {
    static let secret = Array("0123456789abcdef0123456789abcdef-token-tests".utf8)
    let identity = Identity(userId: UUID(), email: "a@b.example", role: .tenantAdmin, tenantId: UUID(), sessionId: UUID())

    func service(secret: [UInt8] = TokenServiceTests.secret, issuer: String = "pytake", audience: String = "pytake-api", ttl: Int = 900) async -> TokenService {
        await TokenService(secret: secret, issuer: issuer, audience: audience, accessTTL: ttl, refreshTTL: 3600)
    }

    func refresh(_ tokens: TokenService) async throws -> String {
        try await tokens.refreshToken(userId: identity.userId, tokenId: UUID(), familyId: UUID(), expiresAt: Date().addingTimeInterval(3600))
    }

    static func b64(_ data: Data) -> String {
        data.base64EncodedString().replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
    }

    static func b64(_ json: String) -> String { b64(Data(json.utf8)) }

    static func sign(_ header: String, _ payload: String, key: [UInt8] = secret) -> String {
        let input = b64(header) + "." + b64(payload)
        let mac = HMAC<SHA256>.authenticationCode(for: Data(input.utf8), using: SymmetricKey(data: key))
        return input + "." + b64(Data(mac))
    }

    func payload(_ overrides: [String: Any] = [:]) -> String {
        var claims: [String: Any] = [
            "sub": identity.userId.uuidString.lowercased(), "iss": "pytake", "aud": ["pytake-api"],
            "exp": Date().timeIntervalSince1970 + 600, "iat": Date().timeIntervalSince1970,
            "jti": UUID().uuidString, "email": identity.email, "role": "tenant_admin",
            "tid": identity.tenantId!.uuidString.lowercased(), "sid": identity.sessionId!.uuidString.lowercased(),
        ]
        claims.merge(overrides) { _, new in new }
        return String(decoding: try! JSONSerialization.data(withJSONObject: claims), as: UTF8.self)
    }

    @Test func roundTripsAnAccessToken() async throws {
        let tokens = await service()
        let token = try await tokens.accessToken(for: identity)
        #expect(await tokens.verifyAccess(token) == identity)
        // A hand-made token with the same claims and key also verifies: the tests below change one thing each.
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload())) == identity)
    }

    @Test func aRememberedTokenStillExpires() async throws {
        // 2 s: `exp` may be rounded down to whole seconds, and both first looks must fall before it.
        let tokens = await service(ttl: 2)
        let token = try await tokens.accessToken(for: identity)
        #expect(await tokens.verifyAccess(token) == identity)
        #expect(await tokens.verifyAccess(token) == identity, "second look, from the cache")
        try await Task.sleep(for: .milliseconds(2_100))
        #expect(await tokens.verifyAccess(token) == nil)
    }

    @Test func rejectsAlgNone() async throws {
        let tokens = await service()
        let unsigned = Self.b64(#"{"alg":"none","typ":"at+jwt"}"#) + "." + Self.b64(payload()) + "."
        #expect(await tokens.verifyAccess(unsigned) == nil)
        let noneWithSignature = Self.sign(#"{"alg":"none","typ":"at+jwt"}"#, payload())
        #expect(await tokens.verifyAccess(noneWithSignature) == nil)
    }

    @Test func rejectsOtherAlgorithmsEvenWithAValidMAC() async throws {
        let tokens = await service()
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS512","typ":"at+jwt"}"#, payload())) == nil)
    }

    @Test func rejectsTamperedPayload() async throws {
        let tokens = await service()
        let token = try await tokens.accessToken(for: identity)
        let parts = token.split(separator: ".").map(String.init)
        let forged = parts[0] + "." + Self.b64(payload(["role": "platform_admin", "tid": NSNull()])) + "." + parts[2]
        #expect(await tokens.verifyAccess(forged) == nil)
    }

    @Test func rejectsWrongKey() async throws {
        let other = await service(secret: Array("another-secret-that-is-long-enough-for-hs256".utf8))
        let token = try await other.accessToken(for: identity)
        #expect(await service().verifyAccess(token) == nil)
    }

    @Test func rejectsExpired() async throws {
        let tokens = await service()
        let expired = try await tokens.accessToken(for: identity, now: Date().addingTimeInterval(-3600))
        #expect(await tokens.verifyAccess(expired) == nil)
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload(["exp": Date().timeIntervalSince1970 - 5]))) == nil)
    }

    @Test func rejectsWrongAudienceIssuerOrType() async throws {
        let tokens = await service()
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload(["aud": ["someone-else"]]))) == nil)
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload(["iss": "evil"]))) == nil)
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"JWT"}"#, payload())) == nil)
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256"}"#, payload())) == nil)
        let otherAudience = await service(audience: "other-api")
        #expect(await otherAudience.verifyAccess(try await tokens.accessToken(for: identity)) == nil)
        let otherIssuer = await service(issuer: "other-issuer")
        #expect(await otherIssuer.verifyAccess(try await tokens.accessToken(for: identity)) == nil)
    }

    @Test func accessAndRefreshTokensAreNotInterchangeable() async throws {
        let tokens = await service()
        let access = try await tokens.accessToken(for: identity)
        let refresh = try await refresh(tokens)
        #expect(await tokens.verifyRefresh(refresh) != nil)
        #expect(await tokens.verifyAccess(refresh) == nil, "refresh token used as access token")
        #expect(await tokens.verifyRefresh(access) == nil, "access token used as refresh token")
    }

    @Test func accessTokensBelongToASession() async throws {
        let tokens = await service()
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload(["sid": NSNull()]))) == nil)
        await #expect(throws: TokenError.self) {
            try await tokens.accessToken(for: Identity(userId: UUID(), email: "x@y.example", role: .agent, tenantId: UUID()))
        }
    }

    @Test func rejectsAPlatformRoleInsideATenant() async throws {
        let tokens = await service()
        #expect(await tokens.verifyAccess(Self.sign(#"{"alg":"HS256","typ":"at+jwt"}"#, payload(["role": "platform_admin"]))) == nil)
    }
}

@Suite struct SettingsTests {
    @Test func defaultsWithoutDatabaseURLUseTheEmbeddedCluster() throws {
        let settings = try Settings.from(environment: [:])
        #expect(settings.databaseURL == nil)
        #expect(settings.httpPort == 8080)
        #expect(settings.jwtSecret == nil)
        #expect(settings.argon2 == .init(memoryKiB: 19_456, iterations: 2, parallelism: 1))
    }

    @Test func reportsBadValuesInOneLine() {
        let cases: [([String: String], String)] = [
            (["HTTP_PORT": "eighty"], "HTTP_PORT"),
            (["HTTP_PORT": "70000"], "HTTP_PORT"),
            (["LOG_LEVEL": "loud"], "LOG_LEVEL"),
            (["DATABASE_URL": "mysql://x"], "DATABASE_URL"),
            (["DATABASE_URL": "postgres://u@h:5432/db"], "JWT_SECRET is required"),
            (["DATABASE_URL": "postgres://u@h:5432/db", "JWT_SECRET": "short"], "at least 32 bytes"),
            (["ARGON2_MEMORY_KIB": "1024"], "ARGON2_MEMORY_KIB"),
            (["PYTAKE_EMBEDDED_PG_PORT": "port"], "PYTAKE_EMBEDDED_PG_PORT"),
            (["DATABASE_URL": "postgres://u@h:5432/db", "JWT_SECRET": String(repeating: "s", count: 40)], "PYTAKE_ENCRYPTION_KEY is required"),
            (["PYTAKE_ENCRYPTION_KEY": "not-base64-32-bytes"], "PYTAKE_ENCRYPTION_KEY must be 32 random bytes"),
        ]
        for (environment, expected) in cases {
            do {
                _ = try Settings.from(environment: environment)
                Issue.record("accepted \(environment)")
            } catch {
                #expect(error.description.contains(expected), "\(error.description)")
                #expect(!error.description.contains("\n"))
            }
        }
    }

    @Test func parsesDatabaseURLs() throws {
        let url = try DatabaseURL(parsing: "postgresql://app:p%40ss@db.internal:6543/pytake?sslmode=require")
        #expect(url == DatabaseURL(host: "db.internal", port: 6543, username: "app", password: "p@ss", database: "pytake", requireTLS: true))
        #expect(try DatabaseURL(parsing: url.string) == url)
    }
}

import Foundation
import JWTKit
import Synchronization

/// Issues and verifies JWTs per RFC 8725: HS256 only (pinned; the header's `alg` is never trusted),
/// `iss`, `aud`, `exp` and `typ` checked. Access tokens carry `typ: at+jwt` (RFC 9068) and refresh
/// tokens `typ: rt+jwt`, so neither is accepted in place of the other.
public struct TokenService: Sendable {
    public enum Kind: String, Sendable {
        case access = "at+jwt"
        case refresh = "rt+jwt"
    }

    public struct AccessClaims: RegisteredClaims, Equatable {
        public var sub: SubjectClaim
        public var iss: IssuerClaim
        public var aud: AudienceClaim
        public var exp: ExpirationClaim
        public var iat: IssuedAtClaim
        public var jti: IDClaim
        public var email: String
        public var role: String
        public var tid: String?
        /// Session: the refresh-token family this access token was issued with.
        public var sid: String

        public func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    public struct RefreshClaims: RegisteredClaims, Equatable {
        public var sub: SubjectClaim
        public var iss: IssuerClaim
        public var aud: AudienceClaim
        public var exp: ExpirationClaim
        public var iat: IssuedAtClaim
        /// The refresh token's row in `refresh_tokens`.
        public var jti: IDClaim
        public var fam: String

        public func verify(using algorithm: some JWTAlgorithm) async throws {
            try exp.verifyNotExpired()
        }
    }

    public let issuer: String
    public let audience: String
    public let accessTTL: Int
    public let refreshTTL: Int
    private let keys: JWTKeyCollection
    /// Clients send the same access token for its whole life; verifying it once is enough.
    private let verifiedAccess = VerifiedTokenCache(capacity: 10_000)

    public init(secret: [UInt8], issuer: String, audience: String, accessTTL: Int, refreshTTL: Int) async {
        self.issuer = issuer
        self.audience = audience
        self.accessTTL = accessTTL
        self.refreshTTL = refreshTTL
        self.keys = JWTKeyCollection()
        await keys.add(hmac: HMACKey(from: secret), digestAlgorithm: .sha256)
    }

    /// Signs an access token for `identity`, which must carry the session it belongs to.
    public func accessToken(for identity: Identity, now: Date = Date()) async throws -> String {
        guard let sessionId = identity.sessionId else { throw TokenError.noSession }
        let claims = AccessClaims(
            sub: .init(value: identity.userId.uuidString.lowercased()),
            iss: .init(value: issuer),
            aud: .init(value: [audience]),
            exp: .init(value: now.addingTimeInterval(TimeInterval(accessTTL))),
            iat: .init(value: now),
            jti: .init(value: UUID().uuidString.lowercased()),
            email: identity.email,
            role: identity.role.rawValue,
            tid: identity.tenantId?.uuidString.lowercased(),
            sid: sessionId.uuidString.lowercased()
        )
        return try await keys.sign(claims, header: ["typ": .string(Kind.access.rawValue)])
    }

    public func refreshToken(userId: UUID, tokenId: UUID, familyId: UUID, expiresAt: Date, now: Date = Date()) async throws -> String {
        let claims = RefreshClaims(
            sub: .init(value: userId.uuidString.lowercased()),
            iss: .init(value: issuer),
            aud: .init(value: [audience]),
            exp: .init(value: expiresAt),
            iat: .init(value: now),
            jti: .init(value: tokenId.uuidString.lowercased()),
            fam: familyId.uuidString.lowercased()
        )
        return try await keys.sign(claims, header: ["typ": .string(Kind.refresh.rawValue)])
    }

    /// The identity in a valid access token, or nil for anything else (forged, expired, wrong kind).
    public func verifyAccess(_ token: String) async -> Identity? {
        if let cached = verifiedAccess.identity(for: token) { return cached }
        guard let claims = await verify(token, kind: .access, as: AccessClaims.self),
              let userId = UUID(uuidString: claims.sub.value),
              let role = Role(rawValue: claims.role),
              let sessionId = UUID(uuidString: claims.sid)
        else { return nil }
        let tenantId = claims.tid.flatMap(UUID.init(uuidString:))
        guard (role == .platformAdmin) == (tenantId == nil) else { return nil }
        let identity = Identity(userId: userId, email: claims.email, role: role, tenantId: tenantId, sessionId: sessionId)
        verifiedAccess.remember(token, identity: identity, expires: claims.exp.value)
        return identity
    }

    public func verifyRefresh(_ token: String) async -> RefreshClaims? {
        await verify(token, kind: .refresh, as: RefreshClaims.self)
    }

    private struct Header: Decodable {
        var alg: String?
        var typ: String?
    }

    private func verify<Claims: RegisteredClaims>(_ token: String, kind: Kind, as type: Claims.Type) async -> Claims? {
        let parts = token.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 3,
              let headerData = Data(base64URLEncoded: String(parts[0])),
              let header = try? JSONDecoder().decode(Header.self, from: headerData),
              header.alg == "HS256", header.typ == kind.rawValue
        else { return nil }
        guard let claims = try? await keys.verify(token, as: Claims.self) else { return nil }
        guard claims.iss.value == issuer, claims.aud.value.contains(audience) else { return nil }
        return claims
    }
}

public enum TokenError: Error {
    /// Access tokens are only issued within a sign-in session.
    case noSession
}

/// Access tokens already verified, until they expire. Holds only tokens that passed every check,
/// so a lookup can never accept something verification would refuse (until `exp`, as without it).
final class VerifiedTokenCache: Sendable {
    private let entries: Mutex<[String: (identity: Identity, expires: Date)]> = Mutex([:])
    private let capacity: Int

    init(capacity: Int) { self.capacity = capacity }

    func identity(for token: String, now: Date = Date()) -> Identity? {
        entries.withLock { entries in
            guard let entry = entries[token] else { return nil }
            if entry.expires > now { return entry.identity }
            entries[token] = nil
            return nil
        }
    }

    func remember(_ token: String, identity: Identity, expires: Date) {
        entries.withLock { entries in
            if entries.count >= capacity {
                let now = Date()
                entries = entries.filter { $0.value.expires > now }
                // Still full of live tokens: start over rather than grow without bound.
                if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
            }
            entries[token] = (identity, expires)
        }
    }
}

/// The claims every PyTake token carries and every verification checks.
public protocol RegisteredClaims: JWTPayload {
    var iss: IssuerClaim { get }
    var aud: AudienceClaim { get }
}

extension Data {
    init?(base64URLEncoded string: String) {
        var base64 = string.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
        while base64.count % 4 != 0 { base64 += "=" }
        self.init(base64Encoded: base64)
    }
}

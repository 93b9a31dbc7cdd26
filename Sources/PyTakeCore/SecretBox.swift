import Crypto
import Foundation

/// Encrypts secrets for storage (AES-256-GCM). A value is stored as `v1:<key id>:<base64 of
/// nonce‖ciphertext‖tag>`, bound to where it lives (`context`, e.g. "clients.token:<tenant id>")
/// so a ciphertext copied to another row or column does not decrypt. Values are always sealed
/// with the current key; older keys stay readable so keys can be rotated without downtime.
public struct SecretBox: Sendable {
    public struct Failure: Error, CustomStringConvertible {
        public let description: String
    }

    public let currentKeyID: String
    private let keys: [String: SymmetricKey]

    /// `current` and `previous` are base64-encoded 32-byte keys.
    public init(current: String, previous: [String] = []) throws(ConfigurationError) {
        func parse(_ text: String) throws(ConfigurationError) -> SymmetricKey {
            guard let data = Data(base64Encoded: text.trimmingCharacters(in: .whitespacesAndNewlines)), data.count == 32 else {
                throw ConfigurationError("PYTAKE_ENCRYPTION_KEY must be 32 random bytes in base64 (generate one with: openssl rand -base64 32)")
            }
            return SymmetricKey(data: data)
        }
        let currentKey = try parse(current)
        var keys: [String: SymmetricKey] = [:]
        for text in previous where !text.trimmingCharacters(in: .whitespaces).isEmpty {
            let key = try parse(text)
            keys[Self.id(of: key)] = key
        }
        currentKeyID = Self.id(of: currentKey)
        keys[currentKeyID] = currentKey
        self.keys = keys
    }

    /// A short, non-secret fingerprint naming a key inside stored values.
    static func id(of key: SymmetricKey) -> String {
        key.withUnsafeBytes { SHA256.hash(data: Data($0)) }.prefix(4).map { String(format: "%02x", $0) }.joined()
    }

    public static func generateKey() -> String {
        SymmetricKey(size: .bits256).withUnsafeBytes { Data($0).base64EncodedString() }
    }

    public func seal(_ secret: String, context: String) throws -> String {
        let box = try AES.GCM.seal(Data(secret.utf8), using: keys[currentKeyID]!, authenticating: Data(context.utf8))
        return "v1:\(currentKeyID):" + box.combined!.base64EncodedString()
    }

    public func open(_ stored: String, context: String) throws -> String {
        let parts = stored.split(separator: ":", maxSplits: 2).map(String.init)
        guard parts.count == 3, parts[0] == "v1", let data = Data(base64Encoded: parts[2]) else {
            throw Failure(description: "a stored secret (\(context.split(separator: ":").first ?? "")) is not in the expected format")
        }
        guard let key = keys[parts[1]] else {
            throw Failure(description: "a stored secret was sealed with key \(parts[1]), which is not configured (PYTAKE_ENCRYPTION_KEY / PYTAKE_ENCRYPTION_OLD_KEYS)")
        }
        do {
            let box = try AES.GCM.SealedBox(combined: data)
            return String(decoding: try AES.GCM.open(box, using: key, authenticating: Data(context.utf8)), as: UTF8.self)
        } catch {
            throw Failure(description: "a stored secret does not decrypt with key \(parts[1]): wrong key or tampered value")
        }
    }

    /// Whether `stored` is a sealed value (as opposed to a clear one written before PyTake sealed it).
    public static func isSealed(_ stored: String) -> Bool {
        stored.hasPrefix("v1:")
    }

    /// For legacy columns that may still hold values written in clear by older systems: those are
    /// returned as they are (and `pytake-admin keys rotate` seals them); sealed ones are opened.
    public func openLegacy(_ stored: String, context: String) throws -> String {
        Self.isSealed(stored) ? try open(stored, context: context) : stored
    }

    /// The key id a sealed value names, nil for a clear value.
    public static func keyID(of stored: String) -> String? {
        let parts = stored.split(separator: ":", maxSplits: 2)
        return parts.count == 3 && parts[0] == "v1" ? String(parts[1]) : nil
    }

    public func isCurrent(_ stored: String) -> Bool {
        stored.hasPrefix("v1:\(currentKeyID):")
    }
}

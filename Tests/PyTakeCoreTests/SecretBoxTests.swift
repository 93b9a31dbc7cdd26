import Foundation
import PyTakeCore
import Testing

@Suite struct SecretBoxTests {
    let oldKey = SecretBox.generateKey()
    let newKey = SecretBox.generateKey()

    @Test func sealsWithTheCurrentKeyAndNeverStoresTheSecret() throws {
        let box = try SecretBox(current: newKey)
        let sealed = try box.seal("tok_live_abcdefgh1234", context: "clients.token:t1")
        #expect(sealed.hasPrefix("v1:\(box.currentKeyID):"))
        #expect(!sealed.contains("tok_live"))
        #expect(try box.open(sealed, context: "clients.token:t1") == "tok_live_abcdefgh1234")
        #expect(try box.seal("same", context: "c") != box.seal("same", context: "c"), "a fresh nonce every time")
    }

    @Test func aSealedValueOnlyOpensWhereItWasStored() throws {
        let box = try SecretBox(current: newKey)
        let sealed = try box.seal("secret", context: "clients.token:tenant-1")
        #expect(throws: SecretBox.Failure.self) { try box.open(sealed, context: "clients.token:tenant-2") }
    }

    @Test func olderKeysStayReadableDuringRotation() throws {
        let before = try SecretBox(current: oldKey)
        let sealed = try before.seal("secret", context: "c")
        let rotating = try SecretBox(current: newKey, previous: [oldKey])
        #expect(try rotating.open(sealed, context: "c") == "secret")
        #expect(!rotating.isCurrent(sealed))
        #expect(rotating.isCurrent(try rotating.seal("secret", context: "c")))
    }

    @Test func aMissingOrWrongKeyOrTamperingIsAClearError() throws {
        let sealed = try SecretBox(current: oldKey).seal("secret", context: "c")
        let other = try SecretBox(current: newKey)
        do {
            _ = try other.open(sealed, context: "c")
            Issue.record("opened with the wrong key")
        } catch {
            #expect(String(describing: error).contains("not configured"))
        }
        // Flip one bit of the ciphertext itself (editing a base64 character could touch only padding bits).
        let prefix = sealed.prefix(while: { $0 != ":" }) + ":" + sealed.split(separator: ":")[1] + ":"
        var payload = try #require(Data(base64Encoded: String(sealed.split(separator: ":")[2])))
        payload[payload.count / 2] ^= 0x01
        let tampered = String(prefix) + payload.base64EncodedString()
        #expect(throws: SecretBox.Failure.self) { try SecretBox(current: oldKey).open(tampered, context: "c") }
        #expect(throws: SecretBox.Failure.self) { try other.open("plaintext-token", context: "c") }
        #expect(throws: ConfigurationError.self) { try SecretBox(current: "too-short") }
    }
}

import Foundation
@testable import PyTakeCore
import Testing

@Suite struct MetaWebhookParsingTests {
    @Test func messagesAreCutFromTheBodyExactlyAsSent() throws {
        // Escaped quotes and braces inside strings, a nested "messages" key inside a message, and
        // unusual spacing must not confuse the scanner.
        let body = #"""
            {"object":"whatsapp_business_account","entry":[{"id":"1","changes":[{"field":"messages","value":
              {"metadata":{"phone_number_id":"123","display_phone_number":"+1 555 000"},
               "messages":[ {"from":"551","id":"wamid.A","timestamp":"1763800000","type":"text","text":{"body":"a \"quoted\" {brace] \\ \u00e9"}},
                 {"from":"552","id":"wamid.B","type":"custom","custom":{"messages":[1,2,{"x":null}]},"n":-1.5e3,"t":true}
               ]}}]}]}
            """#
        let parsed = try MetaWebhook.parse(Array(body.utf8)).get()
        let messages = parsed.changes.flatMap(\.messages)
        #expect(messages.map(\.id) == ["wamid.A", "wamid.B"])
        #expect(messages[0].body == "a \"quoted\" {brace] \\ é")
        #expect(messages[0].payloadJSON == #"{"from":"551","id":"wamid.A","timestamp":"1763800000","type":"text","text":{"body":"a \"quoted\" {brace] \\ \u00e9"}}"#)
        #expect(messages[1].payloadJSON.hasPrefix(#"{"from":"552""#) && messages[1].payloadJSON.hasSuffix(#""t":true}"#))
        #expect(parsed.changes.first?.phoneNumberId == "123" && parsed.changes.first?.displayNumber == "1555000")
        #expect(messages[0].timestamp == Date(timeIntervalSince1970: 1_763_800_000))
    }

    @Test func nulCharactersCannotFailADeliveryForever() throws {
        let body = #"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"metadata":{"phone_number_id":"1"},"messages":[{"from":"5","id":"w","type":"text","text":{"body":"a\u0000b"}}]}}]}]}"#
        let message = try #require(try MetaWebhook.parse(Array(body.utf8)).get().changes.first?.messages.first)
        #expect(message.body == "a\u{FFFD}b")
        #expect(!message.payloadJSON.contains("\\u0000"))
    }

    @Test func malformedPayloadsAreNamed() {
        for body in ["", "[]", "{\"entry\":[]}", "{\"object\":\"whatsapp_business_account\",\"entry\":[{\"changes\":[{\"value\":{\"messages\":[{\"type\":\"text\"}]}}]}]}",
                     "{\"object\":\"whatsapp_business_account\",\"entry\":[}"] {
            guard case .failure(.malformed) = MetaWebhook.parse(Array(body.utf8)) else {
                Issue.record("accepted: \(body)")
                continue
            }
        }
    }

    @Test func signaturesAreHexHMACsOfTheExactBytes() {
        let body = Array(#"{"object":"whatsapp_business_account"}"#.utf8)
        let signature = MetaWebhook.signature(body, secret: "s3cret")
        #expect(MetaWebhook.signatureMatches(signature, body: body, secret: "s3cret"))
        #expect(MetaWebhook.signatureMatches(signature.uppercased().replacingOccurrences(of: "SHA256=", with: "sha256="), body: body, secret: "s3cret"))
        #expect(!MetaWebhook.signatureMatches(signature, body: body + [0x20], secret: "s3cret"))
        #expect(!MetaWebhook.signatureMatches(signature, body: body, secret: "other"))
        #expect(!MetaWebhook.signatureMatches(String(signature.dropLast(2)), body: body, secret: "s3cret"))
        #expect(!MetaWebhook.signatureMatches("sha1=" + signature.dropFirst(7), body: body, secret: "s3cret"))
    }
}

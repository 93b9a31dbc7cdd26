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

    @Test func escapesAreDecodedLikeAnyJSONParserWould() throws {
        let body = #"{"object":"whatsapp_business_account","entry":[{"changes":[{"value":{"metadata":{"phone_number_id":123},"contacts":[{"wa_id":"5","profile":{"name":"Jos\u00e9 \ud83d\ude00"}}],"messages":[{"from":5,"id":"w\/1","timestamp":1763800000,"type":"text","text":{"body":"l1\nl2\t\"q\" \\ \/ \ud83d\ude00 😀"}}],"statuses":[{"id":"s1","status":"failed","timestamp":"1","errors":[{"code":131047,"title":"Re-engagement"},{"code":1}]},{"id":"s2","status":"bogus"}]}}]}]}"#
        let parsed = try MetaWebhook.parse(Array(body.utf8)).get()
        let change = try #require(parsed.changes.first)
        #expect(change.phoneNumberId == "123" && change.profiles["5"] == "José 😀")
        let message = try #require(change.messages.first)
        #expect(message.from == "5" && message.id == "w/1" && message.body == "l1\nl2\t\"q\" \\ / 😀 😀")
        // The same text as Foundation decodes it.
        let reference = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any]
        let value = ((reference?["entry"] as? [[String: Any]])?.first?["changes"] as? [[String: Any]])?.first?["value"] as? [String: Any]
        let referenceText = ((value?["messages"] as? [[String: Any]])?.first?["text"] as? [String: Any])?["body"] as? String
        #expect(message.body == referenceText)
        #expect(change.statuses.count == 1 && change.statuses.first?.errorCode == "131047" && change.statuses.first?.errorTitle == "Re-engagement")
    }

    @Test func invalidJSONIsRefusedWhereverItIs() {
        let valid = #"{"object":"whatsapp_business_account","entry":[]}"#
        #expect((try? MetaWebhook.parse(Array(valid.utf8)).get()) != nil)
        for body in [#"{"object":"x","entry":[],"extra":tru}"#, #"{"object":"x"} trailing"#, #"{"object":"x","n":01.}"#,
                     #"{"object":"x","s":"bad \q escape"}"#, #"{"object":"x","s":"unterminated}"#, #"{"object":"x",}"#,
                     "{\"object\":\"x\",\"s\":\"raw\ncontrol\"}", String(repeating: "[", count: 100) + String(repeating: "]", count: 100)] {
            if case .success = MetaWebhook.parse(Array(body.utf8)) { Issue.record("accepted: \(body)") }
        }
    }
}

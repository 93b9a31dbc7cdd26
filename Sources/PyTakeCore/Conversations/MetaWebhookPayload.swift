import Foundation

/// Decoding of Meta's webhook envelope. Fields are read with Codable (no `Any` casts), and each
/// message is kept exactly as received: its bytes are cut out of the body by `RawSpans`, not
/// re-serialised (which cost more than everything else a delivery does).
enum MetaPayload {
    struct Envelope: Decodable {
        var object: String
        var entry: [Entry]?
    }

    struct Entry: Decodable {
        var changes: [Change]?
    }

    struct Change: Decodable {
        var value: Value?
    }

    struct Value: Decodable {
        var metadata: Metadata?
        var contacts: [Contact]?
        var messages: [Message]?
        var statuses: [Status]?
    }

    struct Metadata: Decodable {
        var display_phone_number: Lenient?
        var phone_number_id: Lenient?
    }

    struct Contact: Decodable {
        var wa_id: Lenient?
        var profile: Profile?
        struct Profile: Decodable { var name: String? }
    }

    struct Text: Decodable { var body: String? }
    struct Caption: Decodable { var caption: String? }
    struct Button: Decodable { var text: String? }
    struct Reply: Decodable { var title: String? }
    struct Interactive: Decodable {
        var button_reply: Reply?
        var list_reply: Reply?
    }
    struct Location: Decodable {
        var name: String?
        var address: String?
    }

    struct Message: Decodable {
        var from: Lenient?
        var id: String?
        var timestamp: Lenient?
        var type: String?
        var text: Text?
        var image: Caption?
        var video: Caption?
        var document: Caption?
        var button: Button?
        var interactive: Interactive?
        var location: Location?

        /// The human-readable part of a message, by type; nil when it has none.
        var body: String? {
            let text: String? = switch type {
            case "text": self.text?.body
            case "image": image?.caption
            case "video": video?.caption
            case "document": document?.caption
            case "button": button?.text
            case "interactive": interactive?.button_reply?.title ?? interactive?.list_reply?.title
            case "location": location?.name ?? location?.address
            default: nil
            }
            return text.map { String($0.prefix(65_536)) }
        }
    }

    struct Status: Decodable {
        var id: String?
        var status: String?
        var timestamp: Lenient?
        var errors: [StatusError]?
    }

    struct StatusError: Decodable {
        var code: Lenient?
        var title: String?
        var message: String?
    }

    /// A string that may arrive as a JSON string or number (Meta is consistent; be lenient anyway).
    struct Lenient: Decodable {
        var value: String
        init(from decoder: any Decoder) throws {
            let container = try decoder.singleValueContainer()
            if let string = try? container.decode(String.self) {
                value = string
            } else if let int = try? container.decode(Int64.self) {
                value = String(int)
            } else {
                value = String(try container.decode(Double.self))
            }
        }
    }
}

/// Byte ranges of the elements of every `entry[].changes[].value.messages` array, in document
/// order: a small JSON scanner that skips values without building them.
struct RawSpans {
    let bytes: [UInt8]
    var index = 0
    var spans: [Range<Int>] = []

    static func messages(in bytes: [UInt8]) -> [Range<Int>]? {
        var scanner = RawSpans(bytes: bytes)
        guard (try? scanner.value(path: [])) != nil else { return nil }
        return scanner.spans
    }

    enum Failure: Error { case malformed }

    mutating func whitespace() {
        while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x0A || bytes[index] == 0x0D || bytes[index] == 0x09 { index += 1 }
    }

    /// Path elements: object keys, and "[]" for array elements.
    mutating func value(path: [String]) throws {
        whitespace()
        guard index < bytes.count else { throw Failure.malformed }
        switch bytes[index] {
        case UInt8(ascii: "{"):
            index += 1
            whitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "}") { index += 1; return }
            while true {
                whitespace()
                let key = try string()
                whitespace()
                guard index < bytes.count, bytes[index] == UInt8(ascii: ":") else { throw Failure.malformed }
                index += 1
                // Only the envelope's own keys matter; below a message nothing is tracked.
                try value(path: path.count < 8 ? path + [key] : path)
                whitespace()
                guard index < bytes.count else { throw Failure.malformed }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "}") else { throw Failure.malformed }
                index += 1
                return
            }
        case UInt8(ascii: "["):
            index += 1
            whitespace()
            if index < bytes.count, bytes[index] == UInt8(ascii: "]") { index += 1; return }
            let isMessages = path == ["entry", "[]", "changes", "[]", "value", "messages"]
            while true {
                whitespace()
                let start = index
                try value(path: path.count < 8 ? path + ["[]"] : path)
                if isMessages { spans.append(start..<index) }
                whitespace()
                guard index < bytes.count else { throw Failure.malformed }
                if bytes[index] == UInt8(ascii: ",") { index += 1; continue }
                guard bytes[index] == UInt8(ascii: "]") else { throw Failure.malformed }
                index += 1
                return
            }
        case UInt8(ascii: "\""):
            _ = try string(keep: false)
        default:
            // Numbers, true, false, null: up to the next delimiter.
            let start = index
            while index < bytes.count, !",}] \n\r\t".utf8.contains(bytes[index]) { index += 1 }
            guard index > start else { throw Failure.malformed }
        }
    }

    /// A string (the cursor is on its opening quote); its text only when `keep` (for keys).
    mutating func string(keep: Bool = true) throws -> String {
        guard index < bytes.count, bytes[index] == UInt8(ascii: "\"") else { throw Failure.malformed }
        index += 1
        let start = index
        var escaped = false
        while index < bytes.count {
            let byte = bytes[index]
            if byte == UInt8(ascii: "\\") { escaped = true; index += 2; continue }
            if byte == UInt8(ascii: "\"") {
                defer { index += 1 }
                guard keep else { return "" }
                // Keys PyTake follows are plain ASCII; an escaped key is simply not one of them.
                return escaped ? "\u{0}" : String(decoding: bytes[start..<index], as: UTF8.self)
            }
            index += 1
        }
        throw Failure.malformed
    }
}

import Foundation

/// A single pass over Meta's webhook body that validates the JSON and extracts only what PyTake
/// stores, cutting each message out of the body exactly as received. Profiling showed generic
/// decoding (JSONSerialization, then JSONDecoder) as the largest cost of a delivery; this reads
/// each byte once and allocates only the strings it keeps.
struct WebhookScanner {
    enum Failure: Error { case malformed(String) }

    let bytes: UnsafeBufferPointer<UInt8>
    var index = 0
    var object: String?
    var changes: [MetaWebhook.ParsedChange] = []
    var depth = 0

    static func scan(_ body: [UInt8]) -> Result<MetaWebhook.ParsedPayload, MetaWebhookError> {
        body.withUnsafeBufferPointer { buffer in
            var scanner = WebhookScanner(bytes: buffer)
            do {
                try scanner.root()
                scanner.whitespace()
                guard scanner.index == buffer.count else { throw Failure.malformed("trailing characters after the JSON value") }
                guard let object = scanner.object else { return .failure(.malformed("'object' is missing")) }
                return .success(MetaWebhook.ParsedPayload(object: object, changes: scanner.changes))
            } catch Failure.malformed(let why) {
                return .failure(.malformed(why))
            } catch {
                return .failure(.malformed("the body is not JSON"))
            }
        }
    }

    // MARK: the envelope

    mutating func root() throws {
        try objectFields { scanner, key in
            switch key {
            case "object": scanner.object = try scanner.text()
            case "entry": try scanner.elements { scanner in try scanner.entry() }
            default: try scanner.skip()
            }
        }
    }

    mutating func entry() throws {
        try objectFields { scanner, key in
            if key == "changes" { try scanner.elements { scanner in try scanner.change() } } else { try scanner.skip() }
        }
    }

    mutating func change() throws {
        try objectFields { scanner, key in
            if key == "value" { try scanner.value() } else { try scanner.skip() }
        }
    }

    mutating func value() throws {
        var change = MetaWebhook.ParsedChange()
        var isObject = false
        try objectFields(allowNull: true) { scanner, key in
            isObject = true
            switch key {
            case "metadata":
                try scanner.objectFields(allowNull: true) { scanner, key in
                    switch key {
                    case "phone_number_id": change.phoneNumberId = try scanner.scalar().nonEmpty
                    case "display_phone_number": change.displayNumber = try scanner.scalar().map(MetaWebhook.digits).nonEmpty
                    default: try scanner.skip()
                    }
                }
            case "contacts":
                try scanner.elements { scanner in
                    var waId: String?
                    var name: String?
                    try scanner.objectFields { scanner, key in
                        switch key {
                        case "wa_id": waId = try scanner.scalar()
                        case "profile":
                            try scanner.objectFields(allowNull: true) { scanner, key in
                                if key == "name" { name = try scanner.text() } else { try scanner.skip() }
                            }
                        default: try scanner.skip()
                        }
                    }
                    if let waId, let name { change.profiles[waId] = String(String.UnicodeScalarView(name.unicodeScalars.prefix(256))) }
                }
            case "messages":
                try scanner.elements { scanner in change.messages.append(try scanner.message()) }
            case "statuses":
                try scanner.elements { scanner in
                    if let status = try scanner.status() { change.statuses.append(status) }
                }
            default: try scanner.skip()
            }
        }
        if isObject { changes.append(change) }
    }

    mutating func message() throws -> MetaWebhook.ParsedMessage {
        whitespace()
        let start = index
        var from: String?, id: String?, timestamp: String?, type: String?
        var texts: [String: String] = [:]
        try objectFields { scanner, key in
            switch key {
            case "from": from = try scanner.scalar()
            case "id": id = try scanner.text()
            case "timestamp": timestamp = try scanner.scalar()
            case "type": type = try scanner.text()
            case "text", "image", "video", "document", "button", "location":
                try scanner.objectFields(allowNull: true) { scanner, field in
                    if ["body", "caption", "text", "name", "address"].contains(field) {
                        if let value = try scanner.text() { texts[key + "." + field] = value }
                    } else {
                        try scanner.skip()
                    }
                }
            case "interactive":
                try scanner.objectFields(allowNull: true) { scanner, kind in
                    guard kind == "button_reply" || kind == "list_reply" else { return try scanner.skip() }
                    try scanner.objectFields(allowNull: true) { scanner, field in
                        if field == "title" {
                            if let value = try scanner.text() { texts["interactive.title"] = value }
                        } else {
                            try scanner.skip()
                        }
                    }
                }
            default: try scanner.skip()
            }
        }
        // Lengths in code points, as the database's CHECKs count them.
        guard let from, !from.isEmpty, from.unicodeScalars.count <= 64, let id, !id.isEmpty, id.unicodeScalars.count <= 256 else {
            throw Failure.malformed("a message lacks 'from' or 'id'")
        }
        let kind = String(String.UnicodeScalarView((type ?? "unknown").unicodeScalars.prefix(64)))
        let body: String? = switch kind {
        case "text": texts["text.body"]
        case "image", "video", "document": texts[kind + ".caption"]
        case "button": texts["button.text"]
        case "interactive": texts["interactive.title"]
        case "location": texts["location.name"] ?? texts["location.address"]
        default: nil
        }
        let raw = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        return MetaWebhook.ParsedMessage(
            from: MetaWebhook.cleanText(from), id: MetaWebhook.cleanText(id), type: kind.isEmpty ? "unknown" : MetaWebhook.cleanText(kind),
            body: body.map { MetaWebhook.cleanText(String($0.prefix(65_536))) }, payloadJSON: MetaWebhook.cleanJSON(raw),
            timestamp: MetaWebhook.timestamp(timestamp))
    }

    mutating func status() throws -> MetaWebhook.ParsedStatus? {
        var id: String?, status: String?, timestamp: String?, code: String?, title: String?
        var first = true
        try objectFields { scanner, key in
            switch key {
            case "id": id = try scanner.text()
            case "status": status = try scanner.text()
            case "timestamp": timestamp = try scanner.scalar()
            case "errors":
                try scanner.elements { scanner in
                    defer { first = false }
                    guard first else { return try scanner.skip() }
                    try scanner.objectFields(allowNull: true) { scanner, field in
                        switch field {
                        case "code": code = try scanner.scalar()
                        case "title": title = try scanner.text() ?? title
                        case "message": if title == nil { title = try scanner.text() } else { try scanner.skip() }
                        default: try scanner.skip()
                        }
                    }
                }
            default: try scanner.skip()
            }
        }
        guard let id, !id.isEmpty, id.unicodeScalars.count <= 256, let status, MetaWebhook.statusNames.contains(status) else { return nil }
        return MetaWebhook.ParsedStatus(
            id: MetaWebhook.cleanText(id), status: status, errorCode: code.map { MetaWebhook.cleanText(String($0.prefix(64))) },
            errorTitle: title.map { MetaWebhook.cleanText(String($0.prefix(500))) }, timestamp: MetaWebhook.timestamp(timestamp))
    }

    // MARK: JSON

    mutating func whitespace() {
        while index < bytes.count {
            switch bytes[index] {
            case 0x20, 0x0A, 0x0D, 0x09: index += 1
            default: return
            }
        }
    }

    func peek() throws -> UInt8 {
        guard index < bytes.count else { throw Failure.malformed("the body ends too early") }
        return bytes[index]
    }

    mutating func expect(_ byte: UInt8) throws {
        whitespace()
        guard try peek() == byte else { throw Failure.malformed("expected '\(Character(UnicodeScalar(byte)))' at byte \(index)") }
        index += 1
    }

    mutating func literal(_ word: StaticString) throws {
        let count = word.utf8CodeUnitCount
        guard index + count <= bytes.count, memcmp(bytes.baseAddress! + index, word.utf8Start, count) == 0 else {
            throw Failure.malformed("invalid literal at byte \(index)")
        }
        index += count
    }

    /// `{ "key": value, … }`, calling `field` for each key with the cursor on its value. `allowNull`
    /// accepts `null` in place of the object.
    mutating func objectFields(allowNull: Bool = false, _ field: (inout WebhookScanner, String) throws -> Void) throws {
        whitespace()
        if allowNull, try peek() == UInt8(ascii: "n") { return try literal("null") }
        try expect(UInt8(ascii: "{"))
        depth += 1
        guard depth <= 64 else { throw Failure.malformed("nested too deeply") }
        defer { depth -= 1 }
        whitespace()
        if try peek() == UInt8(ascii: "}") { index += 1; return }
        while true {
            whitespace()
            guard try peek() == UInt8(ascii: "\"") else { throw Failure.malformed("expected a key at byte \(index)") }
            let key = try string(keep: true) ?? ""
            try expect(UInt8(ascii: ":"))
            whitespace()
            try field(&self, key)
            whitespace()
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "}"): index += 1; return
            default: throw Failure.malformed("expected ',' or '}' at byte \(index)")
            }
        }
    }

    /// `[ value, … ]` (or `null`), calling `element` with the cursor on each value.
    mutating func elements(_ element: (inout WebhookScanner) throws -> Void) throws {
        whitespace()
        if try peek() == UInt8(ascii: "n") { return try literal("null") }
        try expect(UInt8(ascii: "["))
        depth += 1
        guard depth <= 64 else { throw Failure.malformed("nested too deeply") }
        defer { depth -= 1 }
        whitespace()
        if try peek() == UInt8(ascii: "]") { index += 1; return }
        while true {
            whitespace()
            try element(&self)
            whitespace()
            switch try peek() {
            case UInt8(ascii: ","): index += 1
            case UInt8(ascii: "]"): index += 1; return
            default: throw Failure.malformed("expected ',' or ']' at byte \(index)")
            }
        }
    }

    /// A string value (nil for `null`); any other JSON value here is skipped and reads as nil.
    mutating func text() throws -> String? {
        whitespace()
        if try peek() == UInt8(ascii: "\"") { return try string(keep: true) }
        try skip()
        return nil
    }

    /// A string or a number, as text (Meta sends ids and timestamps as strings; numbers are accepted).
    mutating func scalar() throws -> String? {
        whitespace()
        switch try peek() {
        case UInt8(ascii: "\""): return try string(keep: true)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = index
            try number()
            return String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<index]), as: UTF8.self)
        default:
            try skip()
            return nil
        }
    }

    /// Any JSON value, validated and not kept.
    mutating func skip() throws {
        whitespace()
        switch try peek() {
        case UInt8(ascii: "{"): try objectFields { scanner, _ in try scanner.skip() }
        case UInt8(ascii: "["): try elements { scanner in try scanner.skip() }
        case UInt8(ascii: "\""): _ = try string(keep: false)
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        default: try number()
        }
    }

    mutating func number() throws {
        let start = index
        if index < bytes.count, bytes[index] == UInt8(ascii: "-") { index += 1 }
        func digits(_ scanner: inout WebhookScanner) -> Int {
            let from = scanner.index
            while scanner.index < scanner.bytes.count, (0x30...0x39).contains(scanner.bytes[scanner.index]) { scanner.index += 1 }
            return scanner.index - from
        }
        let integerStart = index
        let integerDigits = digits(&self)
        guard integerDigits > 0 else { throw Failure.malformed("invalid value at byte \(start)") }
        if integerDigits > 1 && bytes[integerStart] == UInt8(ascii: "0") { throw Failure.malformed("a number with a leading zero at byte \(start)") }
        if index < bytes.count, bytes[index] == UInt8(ascii: ".") {
            index += 1
            guard digits(&self) > 0 else { throw Failure.malformed("invalid number at byte \(start)") }
        }
        if index < bytes.count, bytes[index] == UInt8(ascii: "e") || bytes[index] == UInt8(ascii: "E") {
            index += 1
            if index < bytes.count, bytes[index] == UInt8(ascii: "+") || bytes[index] == UInt8(ascii: "-") { index += 1 }
            guard digits(&self) > 0 else { throw Failure.malformed("invalid number at byte \(start)") }
        }
    }

    /// A string (cursor on its opening quote), decoded with its escapes when `keep`.
    mutating func string(keep: Bool) throws -> String? {
        index += 1
        let start = index
        var escaped = false
        while true {
            guard index < bytes.count else { throw Failure.malformed("unterminated string") }
            let byte = bytes[index]
            if byte == UInt8(ascii: "\"") { break }
            if byte < 0x20 { throw Failure.malformed("control character in a string at byte \(index)") }
            if byte == UInt8(ascii: "\\") {
                escaped = true
                index += 2
            } else {
                index += 1
            }
        }
        let end = index
        index += 1
        guard keep else {
            if escaped { _ = try Self.unescape(UnsafeBufferPointer(rebasing: bytes[start..<end])) }
            return nil
        }
        let raw = UnsafeBufferPointer(rebasing: bytes[start..<end])
        return escaped ? try Self.unescape(raw) : String(decoding: raw, as: UTF8.self)
    }

    static func unescape(_ raw: UnsafeBufferPointer<UInt8>) throws -> String {
        var out: [UInt8] = []
        out.reserveCapacity(raw.count)
        var i = 0
        func hex4(_ at: Int) throws -> UInt32 {
            guard at + 4 <= raw.count else { throw Failure.malformed("bad \\u escape") }
            var value: UInt32 = 0
            for b in raw[at..<(at + 4)] {
                let digit: UInt32 = switch b {
                case 0x30...0x39: UInt32(b - 0x30)
                case 0x61...0x66: UInt32(b - 0x61 + 10)
                case 0x41...0x46: UInt32(b - 0x41 + 10)
                default: throw Failure.malformed("bad \\u escape")
                }
                value = value << 4 | digit
            }
            return value
        }
        while i < raw.count {
            let b = raw[i]
            guard b == UInt8(ascii: "\\") else { out.append(b); i += 1; continue }
            guard i + 1 < raw.count else { throw Failure.malformed("bad escape") }
            let e = raw[i + 1]
            i += 2
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"): out.append(e)
            case UInt8(ascii: "b"): out.append(0x08)
            case UInt8(ascii: "f"): out.append(0x0C)
            case UInt8(ascii: "n"): out.append(0x0A)
            case UInt8(ascii: "r"): out.append(0x0D)
            case UInt8(ascii: "t"): out.append(0x09)
            case UInt8(ascii: "u"):
                var scalar = try hex4(i)
                i += 4
                if (0xD800...0xDBFF).contains(scalar), i + 6 <= raw.count, raw[i] == UInt8(ascii: "\\"), raw[i + 1] == UInt8(ascii: "u") {
                    let low = try hex4(i + 2)
                    if (0xDC00...0xDFFF).contains(low) {
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        i += 6
                    }
                }
                out.append(contentsOf: String(Character(UnicodeScalar(scalar) ?? "\u{FFFD}")).utf8)
            default: throw Failure.malformed("bad escape")
            }
        }
        return String(decoding: out, as: UTF8.self)
    }
}

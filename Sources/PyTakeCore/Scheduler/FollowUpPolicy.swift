import Foundation

/// A tenant's follow-up rules, from `tools_config.followup`:
/// `{"enabled": true, "after_hours": 24, "max_attempts": 2, "message": "Hi {{customer_name}}…",
///   "quiet_hours": {"start": "22:00", "end": "08:00"}, "template": {"name": "…", "language": "pt_BR"}}`.
public struct FollowUpPolicy: Sendable, Equatable {
    public struct Template: Sendable, Equatable {
        public var name: String
        public var language: String
        /// The provider's components/parameters as JSON text, sent as given.
        public var components: String?
    }

    public var afterHours: Double
    public var maxAttempts: Int
    public var message: String
    /// Minutes after local midnight; the window may wrap past midnight (22:00–08:00).
    public var quietStart: Int?
    public var quietEnd: Int?
    /// What to send once the customer's last message is older than WhatsApp's 24-hour window.
    public var template: Template?

    static let defaultMessage = "Hi {{customer_name}}, are you still there? Just reply to this message and we'll carry on."

    /// The policy of an enabled section, or nil when follow-ups are off or the section is unusable
    /// (the API refuses such a section, so nil here means "disabled").
    public init?(_ json: JSONValue?) {
        guard let json, json.object != nil, Self.problems(json).isEmpty, json["enabled"] == .bool(true) else { return nil }
        afterHours = json["after_hours"]?.number ?? 24
        maxAttempts = Int(json["max_attempts"]?.number ?? 1)
        message = json["message"]?.string ?? Self.defaultMessage
        quietStart = json["quiet_hours"]?["start"]?.string.flatMap(Self.minutes)
        quietEnd = json["quiet_hours"]?["end"]?.string.flatMap(Self.minutes)
        template = json["template"].flatMap { t in
            t["name"]?.string.map { Template(name: $0, language: t["language"]?.string ?? "en_US", components: t["components"].map(\.jsonText)) }
        }
    }

    /// Whether `minute` (after local midnight) falls in the quiet hours.
    public func isQuiet(atMinute minute: Int) -> Bool {
        guard let start = quietStart, let end = quietEnd, start != end else { return false }
        return start < end ? (minute >= start && minute < end) : (minute >= start || minute < end)
    }

    static func minutes(_ text: String) -> Int? {
        guard let match = text.wholeMatch(of: /([01]\d|2[0-3]):([0-5]\d)/), let h = Int(match.1), let m = Int(match.2) else { return nil }
        return h * 60 + m
    }

    /// What is wrong with a `tools_config.followup` section, field by field.
    static func problems(_ json: JSONValue) -> [(field: String, message: String)] {
        let prefix = "tools_config.followup"
        guard let section = json.object else { return [(prefix, "must be an object")] }
        var problems: [(String, String)] = []
        func check(_ ok: Bool, _ field: String, _ message: String) { if !ok { problems.append(("\(prefix).\(field)", message)) } }
        if let enabled = section["enabled"] { check(enabled == .bool(true) || enabled == .bool(false), "enabled", "must be true or false") }
        if let after = section["after_hours"] {
            check(after.number.map { $0 >= 0.25 && $0 <= 720 } ?? false, "after_hours", "must be a number of hours from 0.25 to 720")
        }
        if let attempts = section["max_attempts"] {
            check(attempts.number.map { (1...10).contains($0) && $0.rounded() == $0 } ?? false, "max_attempts", "must be a whole number from 1 to 10")
        }
        if let message = section["message"] {
            check(message.string.map { !$0.isBlank && $0.unicodeScalars.count <= 4096 } ?? false,
                  "message", "must be 1 to 4096 characters and not blank")
        }
        if let quiet = section["quiet_hours"] {
            let valid = quiet.object != nil && quiet.object!.keys.allSatisfy { ["start", "end"].contains($0) }
                && ["start", "end"].allSatisfy { quiet[$0]?.string.flatMap(Self.minutes) != nil }
            check(valid, "quiet_hours", "must be {\"start\": \"HH:MM\", \"end\": \"HH:MM\"} in the tenant's timezone")
        }
        if let template = section["template"] {
            let name = template["name"]?.string
            let language = template["language"]?.string
            check(template.object != nil && name.map { (1...512).contains($0.unicodeScalars.count) } == true
                    && (language == nil || language!.wholeMatch(of: /[a-z]{2,3}(_[A-Za-z]{2,4})?/) != nil)
                    && (template["components"] == nil || template["components"]?.array != nil || template["components"]?.object != nil),
                  "template", "must be {\"name\": …, \"language\": \"pt_BR\", \"components\"?: […]}")
        }
        return problems
    }
}

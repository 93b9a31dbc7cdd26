import Foundation

/// Splits a SQL script into statements, because the extended query protocol runs one at a time.
/// Understands quotes, quoted identifiers, dollar-quoted bodies and both comment styles, so a `;`
/// inside any of them does not end a statement.
public enum SQLScript {
    public static func statements(in script: String) -> [String] {
        let chars = Array(script.unicodeScalars)
        var statements: [String] = []
        var current = String.UnicodeScalarView()
        var index = 0

        func flush() {
            let text = String(current).trimmingCharacters(in: .whitespacesAndNewlines)
            if !isOnlyComments(text) { statements.append(text) }
            current = String.UnicodeScalarView()
        }
        func copy(until end: Int) {
            let stop = min(end, chars.count)
            current.append(contentsOf: chars[index..<stop])
            index = stop
        }
        func find(_ needle: [Unicode.Scalar], from start: Int) -> Int? {
            guard !needle.isEmpty, chars.count >= needle.count else { return nil }
            var i = start
            while i + needle.count <= chars.count {
                if Array(chars[i..<(i + needle.count)]) == needle { return i }
                i += 1
            }
            return nil
        }

        while index < chars.count {
            let c = chars[index]
            let next: Unicode.Scalar? = index + 1 < chars.count ? chars[index + 1] : nil
            switch c {
            case ";":
                index += 1
                flush()
            case "-" where next == "-":
                let end = find(["\n"], from: index) ?? chars.count
                copy(until: end)
            case "/" where next == "*":
                let end = (find(["*", "/"], from: index + 2) ?? chars.count - 2) + 2
                copy(until: end)
            case "'" where index > 0 && (chars[index - 1] == "E" || chars[index - 1] == "e"):
                // E'...' strings: a backslash escapes the next character, quotes included.
                var i = index + 1
                while i < chars.count && chars[i] != "'" { i += chars[i] == "\\" ? 2 : 1 }
                copy(until: i + 1)
            case "'", "\"":
                // Doubled quotes inside are escapes: scanning to the next quote and resuming handles them.
                let end = (find([c], from: index + 1) ?? chars.count - 1) + 1
                copy(until: end)
            case "$":
                if let tagEnd = dollarTagEnd(chars, from: index) {
                    let tag = Array(chars[index...tagEnd])
                    let close = find(tag, from: tagEnd + 1).map { $0 + tag.count } ?? chars.count
                    copy(until: close)
                } else {
                    copy(until: index + 1)
                }
            default:
                copy(until: index + 1)
            }
        }
        flush()
        return statements
    }

    /// `$tag$` or `$$` starting at `start`: the index of the closing `$` of the tag.
    private static func dollarTagEnd(_ chars: [Unicode.Scalar], from start: Int) -> Int? {
        var i = start + 1
        while i < chars.count {
            let c = chars[i]
            if c == "$" { return i }
            let isTagChar = c == "_" || c.properties.isAlphabetic || (i > start + 1 && ("0"..."9").contains(c))
            if !isTagChar { return nil }
            i += 1
        }
        return nil
    }

    private static func isOnlyComments(_ text: String) -> Bool {
        var rest = Substring(text)
        while true {
            rest = rest.drop(while: { $0.isWhitespace })
            if rest.isEmpty { return true }
            if rest.hasPrefix("--") {
                rest = rest.drop(while: { $0 != "\n" })
            } else if rest.hasPrefix("/*"), let end = rest.range(of: "*/") {
                rest = rest[end.upperBound...]
            } else {
                return false
            }
        }
    }
}

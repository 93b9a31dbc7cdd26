import Foundation

/// A page of results and the opaque cursor of the next one.
public struct Page<Item: Sendable>: Sendable {
    public var items: [Item]
    public var nextCursor: String?
    public init(items: [Item], nextCursor: String?) {
        self.items = items
        self.nextCursor = nextCursor
    }
}

extension Page {
    /// A page from rows fetched with `LIMIT limit + 1`: an extra row means there is a next page,
    /// whose cursor is the sort key of the last row kept.
    static func overfetched<Row>(_ rows: [Row], limit: Int, item: (Row) -> Item, cursor: (Row) -> [String]) -> Page {
        let kept = rows.prefix(limit)
        return Page(items: kept.map(item), nextCursor: rows.count > limit ? kept.last.map { Cursor.encode(cursor($0)) } : nil)
    }
}

public struct PageRequest: Sendable {
    public static let defaultLimit = 50
    public static let maximumLimit = 200
    public var limit: Int
    public var cursor: String?

    public init(limit: Int? = nil, cursor: String? = nil) throws(AppError) {
        let limit = limit ?? Self.defaultLimit
        guard (1...Self.maximumLimit).contains(limit) else {
            throw AppError.invalidParameter("limit", "must be between 1 and \(Self.maximumLimit)")
        }
        self.limit = limit
        self.cursor = cursor
    }
}

/// Keyset cursors: the sort key of the last row, base64url-encoded so clients treat it as opaque.
enum Cursor {
    static func encode(_ parts: [String]) -> String {
        Data(parts.joined(separator: "|").utf8).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
            .replacingOccurrences(of: "=", with: "")
    }

    static func decode(_ cursor: String?, parts count: Int) throws(AppError) -> [String]? {
        guard let cursor else { return nil }
        guard let data = Data(base64URLEncoded: cursor), let text = String(data: data, encoding: .utf8) else {
            throw AppError.invalidParameter("cursor", "is not a cursor returned by this API")
        }
        let parts = text.split(separator: "|", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == count else { throw AppError.invalidParameter("cursor", "is not a cursor returned by this API") }
        return parts
    }

    /// `(created_at, id)` cursors: the timestamp is kept as Postgres text so no precision is lost.
    static func decodeTimeAndID(_ cursor: String?) throws(AppError) -> (time: String, id: UUID)? {
        guard let parts = try decode(cursor, parts: 2) else { return nil }
        guard let id = UUID(uuidString: parts[1]), parts[0].count < 40,
              parts[0].allSatisfy({ $0.isNumber || " -:.+".contains($0) })
        else { throw AppError.invalidParameter("cursor", "is not a cursor returned by this API") }
        return (parts[0], id)
    }
}

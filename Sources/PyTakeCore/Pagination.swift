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

/// Keyset cursors: the sort key of the last row, as 24 bytes (a big-endian Int64 — microseconds
/// since 1970 for time-ordered lists, the row id for id-ordered ones — then the row's UUID, zeros
/// when there is none), base64url without padding: always 32 characters of `[A-Za-z0-9_-]`.
/// Every such string decodes to some position, so the contract can say exactly which cursors are
/// accepted (openapi.yaml's `Cursor`); anything else is refused with 400.
enum Cursor {
    static let length = 32
    private static let alphabet = Array("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_".utf8)
    static let invalid = AppError.invalidParameter("cursor", "is not a cursor returned by this API")

    /// `parts`: the key as Int64 text, then optionally the row's UUID (what `Page.overfetched` is given).
    static func encode(_ parts: [String]) -> String {
        let key = Int64(parts[0]) ?? 0
        let id = parts.count > 1 ? UUID(uuidString: parts[1]) : nil
        var bytes = withUnsafeBytes(of: key.bigEndian) { Array($0) }
        bytes += withUnsafeBytes(of: (id ?? UUID(uuid: (0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0))).uuid) { Array($0) }
        var out: [UInt8] = []
        out.reserveCapacity(length)
        for group in stride(from: 0, to: bytes.count, by: 3) {
            let value = UInt32(bytes[group]) << 16 | UInt32(bytes[group + 1]) << 8 | UInt32(bytes[group + 2])
            for shift in [18, 12, 6, 0] { out.append(alphabet[Int(value >> UInt32(shift) & 63)]) }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func decode(_ cursor: String?) throws(AppError) -> (key: Int64, id: UUID)? {
        guard let cursor else { return nil }
        let chars = Array(cursor.utf8)
        guard chars.count == length else { throw invalid }
        var bytes: [UInt8] = []
        bytes.reserveCapacity(24)
        for group in stride(from: 0, to: length, by: 4) {
            var value: UInt32 = 0
            for char in chars[group..<group + 4] {
                guard let index = alphabet.firstIndex(of: char) else { throw invalid }
                value = value << 6 | UInt32(index)
            }
            bytes += [UInt8(value >> 16 & 0xFF), UInt8(value >> 8 & 0xFF), UInt8(value & 0xFF)]
        }
        let key = bytes[0..<8].reduce(Int64(0)) { $0 << 8 | Int64($1) }
        let id = UUID(uuid: (bytes[8], bytes[9], bytes[10], bytes[11], bytes[12], bytes[13], bytes[14], bytes[15],
                             bytes[16], bytes[17], bytes[18], bytes[19], bytes[20], bytes[21], bytes[22], bytes[23]))
        return (key, id)
    }

    /// Cursors of lists ordered by a bigint id.
    static func decodeID(_ cursor: String?) throws(AppError) -> Int64? {
        try decode(cursor)?.key
    }

    /// `(timestamp, id)` cursors. Lists select their timestamp as microseconds since 1970
    /// (`((extract(epoch FROM column) * 1000000)::int8)::text AS cursor_time`); the position
    /// comes back as a UTC timestamp literal, exact to the microsecond like the column.
    static func decodeTimeAndID(_ cursor: String?) throws(AppError) -> (time: String, id: UUID)? {
        guard let (key, id) = try decode(cursor) else { return nil }
        return (timestampLiteral(micros: key), id)
    }

    /// `YYYY-MM-DD HH:MM:SS.ffffff+00`. A forged cursor may name any instant; it is clamped to the
    /// years 0001–9999, which hold every row, so it reads as "before everything" or "after everything".
    static func timestampLiteral(micros: Int64) -> String {
        let lowest: Int64 = -62_135_596_800_000_000, highest: Int64 = 253_402_300_799_999_999
        let clamped = min(max(micros, lowest), highest)
        var seconds = clamped / 1_000_000
        var fraction = clamped % 1_000_000
        if fraction < 0 {
            fraction += 1_000_000
            seconds -= 1
        }
        var days = seconds / 86_400
        var secondOfDay = seconds % 86_400
        if secondOfDay < 0 {
            secondOfDay += 86_400
            days -= 1
        }
        // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
        let z = days + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let mp = (5 * dayOfYear + 2) / 153
        let day = dayOfYear - (153 * mp + 2) / 5 + 1
        let month = mp < 10 ? mp + 3 : mp - 9
        let year = yearOfEra + era * 400 + (month <= 2 ? 1 : 0)
        func pad(_ value: Int64, _ width: Int) -> String {
            let text = String(value)
            return String(repeating: "0", count: max(0, width - text.count)) + text
        }
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2)) \(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):"
            + "\(pad(secondOfDay % 60, 2)).\(pad(fraction, 6))+00"
    }
}

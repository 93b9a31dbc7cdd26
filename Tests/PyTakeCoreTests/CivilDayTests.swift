import Foundation
@testable import PyTakeCore
import Testing

/// Calendar days as the metrics API takes them, checked against Foundation's Gregorian calendar.
@Suite struct CivilDayTests {
    @Test func matchesFoundationForEveryDayOfFourCenturies() {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC")!
        let formatter = DateFormatter()
        formatter.locale = Locale(identifier: "en_US_POSIX")
        formatter.timeZone = calendar.timeZone
        formatter.dateFormat = "yyyy-MM-dd"
        let start = calendar.date(from: DateComponents(year: 1900, month: 1, day: 1))!
        var mismatches: [String] = []
        for offset in stride(from: 0, to: 146_097, by: 1) {
            let text = formatter.string(from: calendar.date(byAdding: .day, value: offset, to: start)!)
            guard let day = CivilDay(text) else { mismatches.append("unparsed \(text)"); continue }
            if day.text != text || day.number != CivilDay("1900-01-01")!.number + offset { mismatches.append(text) }
            if mismatches.count > 5 { break }
        }
        #expect(mismatches.isEmpty, "\(mismatches)")
        #expect(CivilDay("1970-01-01")?.number == 0)
    }

    @Test func refusesWhatIsNotACalendarDay() {
        for bad in ["2026-02-29", "2026-13-01", "2026-00-10", "2026-04-31", "2026-1-01", "26-01-01", "2026/01/01", "２０２６-01-01", "0000-01-01", ""] {
            #expect(CivilDay(bad) == nil, "\(bad)")
        }
        #expect(CivilDay("2024-02-29") != nil && CivilDay("2000-02-29") != nil && CivilDay("1900-02-29") == nil)
    }

    @Test func rangesAreListedDayByDay() {
        #expect(MetricsService.days(from: "2024-02-27", to: "2024-03-01") == ["2024-02-27", "2024-02-28", "2024-02-29", "2024-03-01"])
        #expect(MetricsService.days(from: "2026-12-31", to: "2027-01-01") == ["2026-12-31", "2027-01-01"])
    }
}

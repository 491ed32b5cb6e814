import Foundation
import Testing
import WireFormat

/// The hand-written date formats (RFC 3339, the HTTP `Date` header) must say exactly what Foundation and RFC 9110 say.
@Suite struct DateFormattingTests {
    /// Every few days over four centuries (leap years, 1900 and 2100 not leap, 2000 leap), the ends of the range, and
    /// times before 1970 (certificates issued in the 1950s have such notBefore dates).
    @Test func rfc3339MatchesFoundationsISO8601Style() {
        var seconds: [Double] = [0, -1, -86_400, -86_401, 951_782_399, 951_782_400, 4_107_542_399, 4_107_542_400, 253_402_300_799]
        var step = -2_208_988_800.0  // 1900-01-01
        while step < 7_258_118_400 {  // 2200-01-01
            seconds.append(step)
            step += 86_400 * 3 + 3_671.5  // a new time of day each time, and half seconds (dropped)
        }
        for value in seconds {
            let date = Date(timeIntervalSince1970: value)
            #expect(RFC3339.string(date) == date.formatted(.iso8601), "\(value)")
        }
    }

    /// With milliseconds (log lines, roles' problem answers): as Foundation's ISO 8601 style with fractional seconds.
    @Test func rfc3339WithMillisecondsMatchesFoundation() {
        let style = Date.ISO8601FormatStyle().year().month().day().dateSeparator(.dash)
            .time(includingFractionalSeconds: true).timeSeparator(.colon).timeZone(separator: .omitted)
        var seconds: [Double] = [0, 0.5, 0.25, 0.125, 0.001, 0.999, 1_765_000_000.123, 1_765_000_000.9995, -0.5, -86_400.25]
        var step = 946_684_800.0  // 2000-01-01
        while step < 4_102_444_800 {  // 2100-01-01
            seconds.append(step)
            step += 86_400 * 7 + 3_671.0371
        }
        for value in seconds {
            let date = Date(timeIntervalSince1970: value)
            #expect(RFC3339.stringWithMilliseconds(date) == date.formatted(style), "\(value)")
        }
    }

    @Test func rfc3339ClampsWhatItCannotWrite() {
        #expect(RFC3339.string(Date(timeIntervalSince1970: 1e15)) == "9999-12-31T23:59:59Z")
        #expect(RFC3339.string(Date(timeIntervalSince1970: -1e15)) == "0000-01-01T00:00:00Z")
        #expect(RFC3339.date(RFC3339.string(Date(timeIntervalSince1970: 1_795_392_000))) == Date(timeIntervalSince1970: 1_795_392_000))
    }

    @Test func civilTimeWeekdays() {
        #expect(CivilTime(epochSecond: 0).weekday == 4)  // Thursday
        #expect(CivilTime(epochSecond: -1).weekday == 3)  // Wednesday 1969-12-31 23:59:59
        #expect(CivilTime(epochSecond: -1) == CivilTime(epochSecond: -1))
        let before = CivilTime(epochSecond: -1)
        #expect((before.year, before.month, before.day, before.hour, before.minute, before.second) == (1969, 12, 31, 23, 59, 59))
    }

    @Test func dateHeaderIsAnIMFFixdate() {
        // RFC 9110 section 5.6.7's example.
        #expect(HTTPDate.format(epochSecond: 784_111_777) == "Sun, 06 Nov 1994 08:49:37 GMT")
        #expect(HTTPDate.format(epochSecond: 0) == "Thu, 01 Jan 1970 00:00:00 GMT")
        // Leap days and century years (values from Python's time.gmtime).
        #expect(HTTPDate.format(epochSecond: 1_709_208_000) == "Thu, 29 Feb 2024 12:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 951_782_400) == "Tue, 29 Feb 2000 00:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 4_107_542_400) == "Mon, 01 Mar 2100 00:00:00 GMT")
        #expect(HTTPDate.format(epochSecond: 1_795_392_000) == "Mon, 23 Nov 2026 00:00:00 GMT")
        #expect(HTTPDate.now().hasSuffix(" GMT"))
        #expect(HTTPDate.now().count == 29)
    }
}

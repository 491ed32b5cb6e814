import Foundation
import Testing

@testable import Authn
import HTTPServing
@testable import ServiceSupport

/// The hand-written replacements of Foundation calls on the request path must say exactly what Foundation said.
@Suite struct FastFormattingTests {
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

    @Test func adminLikeRolesInAnyASCIICase() {
        for role in ["admin", "ADMIN", "Camunda-Admin", "superADMINistrator", "xadmin"] {
            #expect(AdminGrantAudit.isAdminLike(role), "\(role)")
        }
        for role in ["", "adm", "admi", "reader", "a d m i n", "@DMIN", "ädmin", "admi\u{0301}n"] {
            #expect(!AdminGrantAudit.isAdminLike(role), "\(role)")
        }
    }
}

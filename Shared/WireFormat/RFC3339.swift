import Foundation

/// RFC 3339 timestamps in UTC with whole seconds (as the wire types carry them) or milliseconds (log lines): the one
/// date writer of the suite.
public enum RFC3339 {
    /// `date` as `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second dropped), the text Foundation's `.iso8601` format
    /// style writes, without its calendar machinery: authn writes one into every answer, where `formatted(.iso8601)`
    /// cost 2-3 % of a request (perf). Years outside 0...9999 are clamped to that range's ends, which RFC 3339 cannot
    /// express otherwise.
    public static func string(_ date: Date) -> String {
        write(date, milliseconds: false)
    }

    /// `date` as `YYYY-MM-DDTHH:MM:SS.mmmZ` (milliseconds, truncated), as log lines and roles' problem answers carry it.
    public static func stringWithMilliseconds(_ date: Date) -> String {
        write(date, milliseconds: true)
    }

    private static func write(_ date: Date, milliseconds: Bool) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let epochSecond = Int(max(-62_167_219_200, min(253_402_300_799, seconds)))  // 0000-01-01 ... 9999-12-31
        let time = CivilTime(epochSecond: epochSecond)
        var text = ""
        text.reserveCapacity(24)
        func pad(_ value: Int, _ width: Int) {
            let digits = String(value)
            text += String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let parts = [(time.year, 4, "-"), (time.month, 2, "-"), (time.day, 2, "T"), (time.hour, 2, ":"), (time.minute, 2, ":")]
        for (value, width, separator) in parts {
            pad(value, width)
            text += separator
        }
        pad(time.second, 2)
        if milliseconds {
            let fraction = date.timeIntervalSince1970 - seconds
            text += "."
            pad(seconds == Double(epochSecond) ? min(999, Int(fraction * 1000)) : 0, 3)
        }
        text += "Z"
        return text
    }

    public static func date(_ string: String) -> Date? {
        try? Date(string, strategy: .iso8601)
    }
}

import Foundation

/// RFC 3339 timestamps in UTC with whole seconds, as the wire types carry them.
public enum RFC3339 {
    /// `date` as `YYYY-MM-DDTHH:MM:SSZ` (fractions of a second dropped), the text Foundation's `.iso8601` format
    /// style writes, without its calendar machinery: authn writes one into every answer, where `formatted(.iso8601)`
    /// cost 2-3 % of a request (perf). Years outside 0...9999 are clamped to that range's ends, which RFC 3339 cannot
    /// express otherwise.
    public static func string(_ date: Date) -> String {
        let seconds = date.timeIntervalSince1970.rounded(.down)
        let epochSecond = Int(max(-62_167_219_200, min(253_402_300_799, seconds)))  // 0000-01-01 ... 9999-12-31
        let time = CivilTime(epochSecond: epochSecond)
        var text = ""
        text.reserveCapacity(20)
        func pad(_ value: Int, _ width: Int) {
            let digits = String(value)
            text += String(repeating: "0", count: max(0, width - digits.count)) + digits
        }
        let parts = [(time.year, 4, "-"), (time.month, 2, "-"), (time.day, 2, "T"), (time.hour, 2, ":"), (time.minute, 2, ":"), (time.second, 2, "Z")]
        for (value, width, separator) in parts {
            pad(value, width)
            text += separator
        }
        return text
    }

    public static func date(_ string: String) -> Date? {
        try? Date(string, strategy: .iso8601)
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import Synchronization

/// The `Date` header's value (RFC 9110 IMF-fixdate), formatted once per second.
public enum HTTPDate {
    private static let cache = Mutex<(second: Int, text: String)>((0, ""))

    public static func now() -> String {
        let second = time(nil)
        if let text = cache.withLock({ $0.second == second ? $0.text : nil }) { return text }
        let text = format(epochSecond: second)
        cache.withLock { $0 = (second, text) }
        return text
    }

    private static let days = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
    private static let months = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"]

    /// `epochSecond` (on or after 1970) as an IMF-fixdate.
    public static func format(epochSecond: Int) -> String {
        let time = CivilTime(epochSecond: epochSecond)
        func two(_ value: Int) -> String { value < 10 ? "0\(value)" : "\(value)" }
        return "\(days[time.weekday]), \(two(time.day)) \(months[time.month - 1]) \(time.year) "
            + "\(two(time.hour)):\(two(time.minute)):\(two(time.second)) GMT"
    }
}

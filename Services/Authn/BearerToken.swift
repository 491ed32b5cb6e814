/// The token of an `Authorization: Bearer` header.
enum BearerToken {
    /// The token of an `Authorization` value in the `Bearer` scheme (any case), or nil for another scheme or none.
    static func token(in header: String) -> String? {
        let parts = header.split(separator: " ", maxSplits: 1, omittingEmptySubsequences: true)
        guard parts.count == 2, parts[0].lowercased() == "bearer" else { return nil }
        return trimmed(parts[1])
    }

    /// `value` without leading and trailing spaces and tabs, trimmed on UTF-8: Foundation's
    /// `trimmingCharacters(in: .whitespaces)` goes through NSString and UTF-16 on Linux and cost 12 % of a bearer
    /// request (perf, `make bench`).
    static func trimmed(_ value: Substring) -> String {
        let bytes = value.utf8
        var start = bytes.startIndex, end = bytes.endIndex
        while start < end, bytes[start] == 0x20 || bytes[start] == 0x09 { start = bytes.index(after: start) }
        while end > start {
            let last = bytes.index(before: end)
            guard bytes[last] == 0x20 || bytes[last] == 0x09 else { break }
            end = last
        }
        return String(value[start..<end])
    }
}

import Foundation
import HTTPTypes
import WireFormat

/// What a `/v2` management request needs, decided from its method and route pattern (never from a suffix of the
/// target): authn authorises exactly the target it forwards to roles.
enum ManagementAccess: String, Sendable, Equatable {
    /// Reading roles and mapping rules: an admin role or one of `CAMUNDA_SECURITY_AUTHORIZATION_READER_ROLES`.
    case read
    /// Changing roles, mapping rules and assignments: an admin role.
    case write
    /// The audit log: an admin role.
    case audit
}

/// The `/v2` routes roles serves (DESIGN.md §4), with what each needs. A target that matches none is not forwarded.
enum ManagementAPI {
    enum Segment: Equatable {
        case literal(String)
        case parameter
    }

    struct Route {
        var method: HTTPRequest.Method
        var segments: [Segment]
        var access: ManagementAccess
    }

    static let routes: [Route] = {
        func route(_ method: HTTPRequest.Method, _ pattern: String, _ access: ManagementAccess) -> Route {
            Route(
                method: method,
                segments: pattern.split(separator: "/").map { $0.hasPrefix(":") ? .parameter : .literal(String($0)) },
                access: access)
        }
        return [
            route(.post, "/v2/mapping-rules", .write),
            route(.post, "/v2/mapping-rules/search", .read),
            route(.get, "/v2/mapping-rules/:id", .read),
            route(.put, "/v2/mapping-rules/:id", .write),
            route(.delete, "/v2/mapping-rules/:id", .write),
            route(.post, "/v2/roles", .write),
            route(.post, "/v2/roles/search", .read),
            route(.get, "/v2/roles/:id", .read),
            route(.put, "/v2/roles/:id", .write),
            route(.delete, "/v2/roles/:id", .write),
            route(.post, "/v2/roles/:id/mapping-rules/search", .read),
            route(.put, "/v2/roles/:id/mapping-rules/:rule", .write),
            route(.delete, "/v2/roles/:id/mapping-rules/:rule", .write),
            route(.get, "/v2/audit-log", .audit),
        ]
    }()

    /// The access `method` on `path` needs, or nil when roles serves no such route. The most specific route wins: a
    /// literal segment before a parameter (`POST /v2/roles/search` is a search, `PUT /v2/mapping-rules/search`
    /// changes the rule whose id is `search`).
    static func access(method: HTTPRequest.Method, path: String) -> ManagementAccess? {
        let parts = path.split(separator: "/", omittingEmptySubsequences: false).dropFirst()
        var best: (literals: Int, access: ManagementAccess)?
        for route in routes where route.method == method && route.segments.count == parts.count {
            var literals = 0
            var matches = true
            for (segment, part) in zip(route.segments, parts) {
                switch segment {
                case .literal(let text):
                    if part == text { literals += 1 } else { matches = false }
                case .parameter:
                    if part.isEmpty { matches = false }
                }
                if !matches { break }
            }
            if matches, best.map({ literals > $0.literals }) ?? true { best = (literals, route.access) }
        }
        return best?.access
    }

    /// A request target split into the path and query authn forwards, or why it is refused (400). Only the characters
    /// RFC 3986 allows in a path and query pass, and none of `#`, `\`, control characters (raw or percent-encoded),
    /// `.` or `..` segments (raw or encoded), empty segments (`//`) or an encoded `/` or `\`: nothing in a forwarded
    /// target can be read differently by roles, an HTTP client or a proxy than authn read it.
    static func checkTarget(_ target: String) -> Result<(path: String, query: String?), TargetProblem> {
        let bytes = Array(target.utf8)
        guard bytes.first == UInt8(ascii: "/") else {
            return .failure(TargetProblem("the request target must be an origin-form path starting with '/'"))
        }
        guard bytes.count <= 2048 else {
            return .failure(TargetProblem("the request target is longer than 2048 bytes"))
        }
        var queryStart: Int?
        var index = 0
        while index < bytes.count {
            let byte = bytes[index]
            switch byte {
            case UInt8(ascii: "#"):
                return .failure(TargetProblem("the request target contains '#'; a fragment is never sent to a server"))
            case UInt8(ascii: "\\"):
                return .failure(TargetProblem("the request target contains '\\'"))
            case UInt8(ascii: "?"):
                if queryStart == nil { queryStart = index }
            case UInt8(ascii: "%"):
                guard index + 2 < bytes.count, let high = Hex.value(bytes[index + 1]), let low = Hex.value(bytes[index + 2]) else {
                    return .failure(TargetProblem("the request target has a '%' that is not followed by two hex digits"))
                }
                let decoded = high << 4 | low
                if decoded < 0x20 || decoded == 0x7F {
                    return .failure(TargetProblem("the request target contains an encoded control character (%\(Hex.encode([decoded], uppercase: true)))"))
                }
                if queryStart == nil, decoded == UInt8(ascii: "/") || decoded == UInt8(ascii: "\\") {
                    return .failure(TargetProblem("the request path contains an encoded '\(decoded == UInt8(ascii: "/") ? "/" : "\\")' (%\(Hex.encode([decoded], uppercase: true)))"))
                }
                index += 2
            default:
                guard isAllowed(byte) else {
                    if byte < 0x20 || byte == 0x7F {
                        return .failure(TargetProblem("the request target contains a control character"))
                    }
                    return .failure(TargetProblem("the request target contains a character that must be percent-encoded (byte 0x\(Hex.encode([byte], uppercase: true)))"))
                }
            }
            index += 1
        }
        let pathEnd = queryStart ?? bytes.count
        let path = String(decoding: bytes[..<pathEnd], as: UTF8.self)
        for segment in path.split(separator: "/", omittingEmptySubsequences: false).dropFirst() {
            if segment.isEmpty {
                return .failure(TargetProblem("the request path contains an empty segment ('//' or a trailing '/')"))
            }
            let decoded = segment.replacingOccurrences(of: "%2e", with: ".").replacingOccurrences(of: "%2E", with: ".")
            if decoded == "." || decoded == ".." {
                return .failure(TargetProblem("the request path contains a '\(decoded)' segment"))
            }
        }
        let query = queryStart.map { String(decoding: bytes[($0 + 1)...], as: UTF8.self) }
        return .success((path, query))
    }

    struct TargetProblem: Error, Equatable {
        var reason: String
        init(_ reason: String) { self.reason = reason }
    }

    /// RFC 3986 `pchar` and the query's `/` and `?`, without `%` (checked apart).
    private static func isAllowed(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            return true
        default:
            return "-._~!$&'()*+,;=:@/".utf8.contains(byte)
        }
    }

}

import AsyncHTTPClient
import Foundation
import Settings

/// The forward proxy outgoing calls to the IdP take (discovery, JWKS, token endpoint, Graph): `HTTPS_PROXY` for https
/// URLs and `HTTP_PROXY` for http URLs (upper or lower case, as curl reads them), except for hosts `NO_PROXY` names;
/// a setting of the service (`<prefix>_PROXY`) overrides both for the IdP calls only, and `none` turns the proxy off for
/// them. HTTPS goes through the proxy in a CONNECT tunnel (TLS end to end with the IdP; the proxy sees host and port).
public struct EgressProxy: Sendable, Equatable {
    public var host: String
    public var port: Int
    /// `user:password` from the proxy URL (a secret: never logged).
    public var credentials: (user: String, password: String)?
    /// `NO_PROXY` entries, lower-cased: `*`, host names, domain suffixes (`example.com` and `.example.com` both match
    /// the domain and its subdomains), IP addresses, each optionally with `:port`.
    public var bypass: [String]
    /// Which variable named the proxy, for messages.
    public var variable: String

    public init(host: String, port: Int, credentials: (user: String, password: String)? = nil, bypass: [String] = [], variable: String) {
        self.host = host
        self.port = port
        self.credentials = credentials
        self.bypass = bypass
        self.variable = variable
    }

    public static func == (a: EgressProxy, b: EgressProxy) -> Bool {
        a.host == b.host && a.port == b.port && a.credentials?.user == b.credentials?.user
            && a.credentials?.password == b.credentials?.password && a.bypass == b.bypass && a.variable == b.variable
    }

    /// `http://host:port` (never the credentials), for logs and messages.
    public var description: String { "http://\(host):\(port)" }

    /// AsyncHTTPClient's proxy setting (CONNECT for https).
    public var clientProxy: HTTPClient.Configuration.Proxy {
        if let credentials {
            return .server(host: host, port: port, authorization: .basic(username: credentials.user, password: credentials.password))
        }
        return .server(host: host, port: port)
    }

    /// The proxies from the environment: one for https URLs, one for http URLs (nil: direct).
    /// - Parameter setting: the service's own variable for the IdP calls (a proxy URL, or `none`).
    public static func fromEnvironment(_ env: EnvironmentReader, setting: String) throws(ConfigurationError) -> (https: EgressProxy?, http: EgressProxy?) {
        let bypass = (env.string("NO_PROXY") ?? env.string("no_proxy") ?? "")
            .split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces).lowercased() }.filter { !$0.isEmpty }
        if let own = env.string(setting) {
            if own.lowercased() == "none" { return (nil, nil) }
            let proxy = try parse(own, variable: setting, bypass: bypass)
            return (proxy, proxy)
        }
        var https: EgressProxy?
        var http: EgressProxy?
        for variable in ["HTTPS_PROXY", "https_proxy"] where https == nil {
            if let value = env.string(variable) { https = try parse(value, variable: variable, bypass: bypass) }
        }
        // Lower-case http_proxy only, as curl: HTTP_PROXY can be set by a CGI request header (httpoxy).
        for variable in ["http_proxy", "HTTP_PROXY"] where http == nil {
            if let value = env.string(variable) { http = try parse(value, variable: variable, bypass: bypass) }
        }
        return (https, http)
    }

    static func parse(_ value: String, variable: String, bypass: [String]) throws(ConfigurationError) -> EgressProxy {
        let text = value.contains("://") ? value : "http://" + value
        guard let components = URLComponents(string: text), let host = components.host, !host.isEmpty else {
            throw ConfigurationError(variable: variable, message: "is '\(redacted(value))', which is not a proxy URL; expected http://proxy.example.com:3128 (user:password@ allowed).")
        }
        guard components.scheme?.lowercased() == "http" else {
            throw ConfigurationError(variable: variable, message: "is '\(redacted(value))': only http:// proxies are supported (HTTPS to the IdP still runs end to end through the proxy's CONNECT tunnel); expected http://proxy.example.com:3128.")
        }
        var credentials: (String, String)?
        if let user = components.user {
            credentials = (user.removingPercentEncoding ?? user, (components.password ?? "").removingPercentEncoding ?? "")
        }
        let host6 = host.hasPrefix("[") ? String(host.dropFirst().dropLast()) : host
        return EgressProxy(host: host6, port: components.port ?? 80, credentials: credentials, bypass: bypass, variable: variable)
    }

    private static func redacted(_ value: String) -> String {
        guard let at = value.lastIndex(of: "@") else { return value }
        let start = value.range(of: "://")?.upperBound ?? value.startIndex
        return value[..<start] + "***" + value[at...]
    }

    /// Whether `url` is reached through this proxy (false when `NO_PROXY` names its host).
    public func applies(to url: String) -> Bool {
        guard let components = URLComponents(string: url), var host = components.host?.lowercased() else { return true }
        if host.hasPrefix("[") { host = String(host.dropFirst().dropLast()) }
        let port = components.port ?? (components.scheme?.lowercased() == "http" ? 80 : 443)
        for entry in bypass {
            if entry == "*" { return false }
            var name = entry
            // host:port (one colon; a bare IPv6 address has several).
            if entry.filter({ $0 == ":" }).count == 1, let colon = entry.firstIndex(of: ":"),
               let entryPort = Int(entry[entry.index(after: colon)...]) {
                guard entryPort == port else { continue }
                name = String(entry[..<colon])
            }
            if name.hasPrefix("[") { name = String(name.dropFirst().dropLast()) }
            if name.hasPrefix("*.") { name = String(name.dropFirst(1)) }
            let domain = name.hasPrefix(".") ? String(name.dropFirst()) : name
            if host == domain || host.hasSuffix("." + domain) { return false }
        }
        return true
    }
}

/// The HTTP clients of a service's outgoing IdP calls: a direct one, and one per configured proxy; each URL goes
/// through the client its scheme and `NO_PROXY` choose.
public struct EgressClients: Sendable {
    public let direct: HTTPClient
    public let https: (proxy: EgressProxy, client: HTTPClient)?
    public let http: (proxy: EgressProxy, client: HTTPClient)?

    /// - Parameter make: builds a client with the given proxy (nil: direct).
    public init(proxies: (https: EgressProxy?, http: EgressProxy?), make: (HTTPClient.Configuration.Proxy?) -> HTTPClient) {
        direct = make(nil)
        https = proxies.https.map { ($0, make($0.clientProxy)) }
        if let proxy = proxies.http {
            http = proxy == proxies.https ? https : (proxy, make(proxy.clientProxy))
        } else {
            http = nil
        }
    }

    /// A direct client only.
    public init(direct: HTTPClient) {
        self.direct = direct
        self.https = nil
        self.http = nil
    }

    /// The client for `url`, and the proxy it goes through (nil: direct).
    public func client(for url: String) -> (client: HTTPClient, proxy: EgressProxy?) {
        let https = url.lowercased().hasPrefix("https:")
        guard let chosen = https ? self.https : self.http, chosen.proxy.applies(to: url) else { return (direct, nil) }
        return (chosen.client, chosen.proxy)
    }

    /// Every client, once (to shut them down).
    public var clients: [HTTPClient] {
        var result = [direct]
        if let https { result.append(https.client) }
        if let http, !result.contains(where: { $0 === http.client }) { result.append(http.client) }
        return result
    }
}

import AuthProtocol
import Foundation
import Storage
import Synchronization
import WireFormat

/// A compiled subject regex rule. `NSRegularExpression` is immutable and `Sendable`; Swift's `Regex` is not.
struct CompiledRegexRule: Sendable {
    var id: String
    var regex: NSRegularExpression
}

/// What a certificate caller brings besides its subject: its DNS/URI subjectAltNames (`DNS:…`, `URI:…`) and the
/// public-key digest of the CA that issued it, as authn read them from the validated chain.
struct CertificateFacts: Sendable {
    var dnsNames: [String] = []
    var uris: [String] = []
    /// The one SPIFFE ID among the URIs (nil when there is none, or several: an X.509-SVID carries exactly one).
    var spiffeID: SPIFFEID?
    /// Lower-case hex; nil when unknown (then no pinned rule matches).
    var issuerSPKISHA256: String?

    init(sans: [String], issuerSPKISHA256: String?) {
        for text in sans.prefix(CertificateSAN.maximumCount) {
            switch CertificateSAN(wire: text) {
            case .dns(let name)?: dnsNames.append(DNSNamePattern.normalized(name))
            case .uri(let uri)?: uris.append(uri)
            case nil: continue
            }
        }
        let spiffe = uris.filter { $0.lowercased().hasPrefix("spiffe://") }
        spiffeID = spiffe.count == 1 ? SPIFFEID(spiffe[0]) : nil
        self.issuerSPKISHA256 = issuerSPKISHA256
    }

    static let none = CertificateFacts(sans: [], issuerSPKISHA256: nil)
}

/// A compiled `spiffe_id` rule.
struct CompiledSPIFFERule: Sendable {
    var id: String
    var pattern: SPIFFEPattern
}

/// An immutable view of the roles state with its resolution index. Requests read the current view without
/// waiting on anything; changes build a new view and swap it in (see ``RolesState``).
final class RolesView: Sendable {
    /// The store's change counter this view reflects.
    let version: Int64
    let rules: [String: MappingRuleRecord]
    let roles: [String: RoleRecord]
    /// Role id → mapping rule ids.
    let rulesByRole: [String: Set<String>]
    /// Mapping rule id → role ids.
    let rolesByRule: [String: Set<String>]
    /// claim name → claim value → rule ids.
    let claimIndex: [String: [String: [String]]]
    /// canonical DN → rule ids.
    let subjectIndex: [String: [String]]
    let regexRules: [CompiledRegexRule]
    /// DNS name (lower case) → `san_dns` rule ids; wildcard (`*.`) rules by their suffix (`.svc.example`).
    let dnsIndex: [String: [String]]
    let dnsWildcardIndex: [String: [String]]
    /// URI → `san_uri` rule ids.
    let uriIndex: [String: [String]]
    let spiffeRules: [CompiledSPIFFERule]

    init(version: Int64, rules: [String: MappingRuleRecord], roles: [String: RoleRecord],
         assignments: Set<RoleAssignment>, compiler: RuleCompiler) {
        self.version = version
        self.rules = rules
        self.roles = roles
        var rulesByRole: [String: Set<String>] = [:]
        var rolesByRule: [String: Set<String>] = [:]
        for assignment in assignments {
            rulesByRole[assignment.roleID, default: []].insert(assignment.mappingRuleID)
            rolesByRule[assignment.mappingRuleID, default: []].insert(assignment.roleID)
        }
        self.rulesByRole = rulesByRole
        self.rolesByRule = rolesByRule
        var claimIndex: [String: [String: [String]]] = [:]
        var subjectIndex: [String: [String]] = [:]
        var regexRules: [CompiledRegexRule] = []
        var dnsIndex: [String: [String]] = [:]
        var dnsWildcardIndex: [String: [String]] = [:]
        var uriIndex: [String: [String]] = [:]
        var spiffeRules: [CompiledSPIFFERule] = []
        for rule in rules.values {
            switch rule.kind {
            case .claim:
                claimIndex[rule.claimName, default: [:]][rule.claimValue, default: []].append(rule.id)
            case .subjectDN:
                if let key = compiler.canonicalSubject(rule.claimValue) { subjectIndex[key, default: []].append(rule.id) }
            case .subjectDNRegex:
                if let regex = compiler.regex(rule.claimValue) { regexRules.append(CompiledRegexRule(id: rule.id, regex: regex)) }
            case .sanDNS:
                let name = DNSNamePattern.normalized(rule.claimValue)
                if name.hasPrefix("*.") {
                    dnsWildcardIndex[String(name.dropFirst(1)), default: []].append(rule.id)
                } else {
                    dnsIndex[name, default: []].append(rule.id)
                }
            case .sanURI:
                uriIndex[rule.claimValue, default: []].append(rule.id)
            case .spiffeID:
                if let pattern = SPIFFEPattern(rule.claimValue) { spiffeRules.append(CompiledSPIFFERule(id: rule.id, pattern: pattern)) }
            }
        }
        self.dnsIndex = dnsIndex
        self.dnsWildcardIndex = dnsWildcardIndex
        self.uriIndex = uriIndex
        self.spiffeRules = spiffeRules.sorted { $0.id < $1.id }
        self.claimIndex = claimIndex
        self.subjectIndex = subjectIndex
        self.regexRules = regexRules.sorted { $0.id < $1.id }
    }

    /// An empty view (before the first load).
    static func empty() -> RolesView {
        RolesView(version: -1, rules: [:], roles: [:], assignments: [], compiler: RuleCompiler())
    }

    /// The roles and matching rules for a token's claims and/or a certificate subject: memory lookups only.
    /// Nobody gets a role no rule gives; a rule assigned to no role matches but grants nothing.
    ///
    /// A certificate rule with `issuerSpkiSha256` matches only when `certificate.issuerSPKISHA256` is that digest: a
    /// certificate with the right subject or names from another CA (even one with the same DN) gets nothing from it.
    func resolve(
        claims: [String: JSONValue]?, subject: DistinguishedName?, subjectText: String?,
        certificate: CertificateFacts = .none
    ) -> ResolveResponse {
        var matched = Set<String>()
        for name in certificate.dnsNames {
            if let ids = dnsIndex[name] { matched.formUnion(ids) }
            if let dot = name.firstIndex(of: "."), let ids = dnsWildcardIndex[String(name[dot...])] { matched.formUnion(ids) }
        }
        for uri in certificate.uris {
            if let ids = uriIndex[uri] { matched.formUnion(ids) }
        }
        if let id = certificate.spiffeID {
            for rule in spiffeRules where rule.pattern.matches(id) { matched.insert(rule.id) }
        }
        if let claims {
            for (name, value) in claims {
                guard let byValue = claimIndex[name], let values = value.stringValues else { continue }
                for value in values {
                    if let ids = byValue[value] { matched.formUnion(ids) }
                }
            }
        }
        if let subject, let ids = subjectIndex[subject.canonical] {
            matched.formUnion(ids)
        }
        if let subjectText, !regexRules.isEmpty {
            // The regex sees the subject as sent and, when it differs, our RFC 4514 rendering of it
            // (", " separators, EMAILADDRESS), so `CN=a,OU=b` from another caller still matches a Keycloak-style regex.
            var candidates = [subjectText]
            if let rendered = subject?.description, rendered != subjectText { candidates.append(rendered) }
            for rule in regexRules where candidates.contains(where: { RuleCompiler.wholeMatch(rule.regex, $0) }) {
                matched.insert(rule.id)
            }
        }
        matched = matched.filter { id in
            guard let pin = rules[id]?.issuerSPKISHA256, !pin.isEmpty else { return true }
            return pin == certificate.issuerSPKISHA256
        }
        var granted = Set<String>()
        for id in matched {
            if let roles = rolesByRule[id] { granted.formUnion(roles) }
        }
        return ResolveResponse(roles: granted.sorted(), mappingRules: matched.sorted())
    }
}

/// Parses DNs and compiles regexes once per distinct value (a view rebuild reuses earlier work).
final class RuleCompiler: Sendable {
    private let cache = CompilerCache()

    init() {}

    /// The canonical key of a subject DN rule, or nil when it does not parse (it was checked when written).
    func canonicalSubject(_ value: String) -> String? {
        cache.subject(value) { (try? DistinguishedName(parsing: value))?.canonical }
    }

    /// The compiled whole-string regex, or nil when it does not compile (it was checked when written).
    func regex(_ pattern: String) -> NSRegularExpression? {
        cache.regex(pattern) { try? Self.compile(pattern) }
    }

    /// Compiles `pattern` (ICU syntax, like Java's) anchored to the whole string.
    static func compile(_ pattern: String) throws -> NSRegularExpression {
        try NSRegularExpression(pattern: "\\A(?:" + pattern + ")\\z")
    }

    /// Forgets what no current rule uses.
    func prune(keeping rules: some Sequence<MappingRuleRecord>) {
        cache.prune(values: Set(rules.map(\.claimValue)))
    }

    static func wholeMatch(_ regex: NSRegularExpression, _ text: String) -> Bool {
        regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}

/// Memo tables of ``RuleCompiler``.
private final class CompilerCache: Sendable {
    private let subjects = Mutex<[String: String?]>([:])
    private let regexes = Mutex<[String: NSRegularExpression?]>([:])

    func subject(_ value: String, _ make: () -> String?) -> String? {
        if let hit = subjects.withLock({ $0[value] }) { return hit }
        let made = make()
        subjects.withLock { $0[value] = .some(made) }
        return made
    }

    func prune(values: Set<String>) {
        subjects.withLock { $0 = $0.filter { values.contains($0.key) } }
        regexes.withLock { $0 = $0.filter { values.contains($0.key) } }
    }

    func regex(_ pattern: String, _ make: () -> NSRegularExpression?) -> NSRegularExpression? {
        if let hit = regexes.withLock({ $0[pattern] }) { return hit }
        let made = make()
        regexes.withLock { $0[pattern] = .some(made) }
        return made
    }
}

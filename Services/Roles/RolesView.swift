import AuthProtocol
import Foundation
import Storage
import Synchronization

/// A compiled subject regex rule. `NSRegularExpression` is immutable and `Sendable`; Swift's `Regex` is not.
struct CompiledRegexRule: Sendable {
    var id: String
    var regex: NSRegularExpression
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
        for rule in rules.values {
            switch rule.kind {
            case .claim:
                claimIndex[rule.claimName, default: [:]][rule.claimValue, default: []].append(rule.id)
            case .subjectDN:
                if let key = compiler.canonicalSubject(rule.claimValue) { subjectIndex[key, default: []].append(rule.id) }
            case .subjectDNRegex:
                if let regex = compiler.regex(rule.claimValue) { regexRules.append(CompiledRegexRule(id: rule.id, regex: regex)) }
            }
        }
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
    func resolve(claims: [String: JSONValue]?, subject: DistinguishedName?, subjectText: String?) -> ResolveResponse {
        var matched = Set<String>()
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

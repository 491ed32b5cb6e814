import Foundation
import Logging
import Storage
import Synchronization

/// The roles state in memory: the model loaded from the store, kept current by local writes (applied as deltas)
/// and by reloads when another replica changed the store. Publishes immutable ``RolesView``s that requests read
/// without a database round trip or an actor hop.
actor RolesState {
    private let store: any RolesStore
    private let logger: Logger
    private let compiler = RuleCompiler()
    private let published: Published
    private var rules: [String: MappingRuleRecord] = [:]
    private var roles: [String: RoleRecord] = [:]
    private var assignments: Set<RoleAssignment> = []
    private var version: Int64 = -1

    init(store: any RolesStore, logger: Logger) {
        self.store = store
        self.logger = logger
        self.published = Published(RolesView.empty())
    }

    /// The current view.
    nonisolated var view: RolesView { published.current }

    /// Reads everything from the store and installs it when newer than what is held. Returns whether it changed.
    @discardableResult
    func reload() async throws -> Bool {
        let snapshot = try await store.load()
        guard snapshot.version > version else { return false }
        rules = Dictionary(snapshot.mappingRules.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        roles = Dictionary(snapshot.roles.map { ($0.id, $0) }, uniquingKeysWith: { _, last in last })
        assignments = Set(snapshot.assignments)
        version = snapshot.version
        publish()
        return true
    }

    /// Reloads when the store's change counter moved (another replica wrote). Cheap when nothing changed.
    @discardableResult
    func refreshIfChanged() async throws -> Bool {
        let stored = try await store.version()
        guard stored != version else { return false }
        return try await reload()
    }

    /// Takes in a mutation this replica committed: applied in memory when it is the next version, otherwise
    /// (another replica wrote in between) everything is reloaded.
    func committed(_ mutation: RolesMutation, result: MutationResult) async {
        if result.version <= version { return }  // a reload already brought it in
        if result.version == version + 1 {
            apply(mutation)
            version = result.version
            publish()
            return
        }
        do {
            try await reload()
        } catch {
            logger.warning("Reload after a write failed; the poller will retry", error: error)
        }
    }

    private func apply(_ mutation: RolesMutation) {
        switch mutation {
        case .createMappingRule(let rule), .updateMappingRule(let rule):
            rules[rule.id] = rule
        case .deleteMappingRule(let id):
            rules[id] = nil
            assignments = assignments.filter { $0.mappingRuleID != id }
        case .createRole(let role), .updateRole(let role):
            roles[role.id] = role
        case .deleteRole(let id):
            roles[id] = nil
            assignments = assignments.filter { $0.roleID != id }
        case .assign(let roleID, let ruleID):
            assignments.insert(RoleAssignment(roleID: roleID, mappingRuleID: ruleID))
        case .unassign(let roleID, let ruleID):
            assignments.remove(RoleAssignment(roleID: roleID, mappingRuleID: ruleID))
        }
    }

    private func publish() {
        published.current = RolesView(version: version, rules: rules, roles: roles, assignments: assignments, compiler: compiler)
        compiler.prune(keeping: rules.values)
    }
}

/// The latest view, swapped atomically.
private final class Published: Sendable {
    private let box: Mutex<RolesView>

    init(_ view: RolesView) {
        box = Mutex(view)
    }

    var current: RolesView {
        get { box.withLock { $0 } }
        set { box.withLock { $0 = newValue } }
    }
}

import AuthProtocol
import Foundation
import Hummingbird
import HummingbirdHTTP2
import Logging
import Prometheus
import ServiceLifecycle
import ServiceSupport
import Storage

/// A built roles service: the services to run, and handles on what they bind.
public struct RolesInstance: Sendable {
    /// Run these in one `ServiceGroup`, in this order (shutdown runs in reverse).
    public let services: [any Service]
    /// The HTTPS listener's port once bound.
    public let port: PortHandle
    /// The management listener's port once bound.
    public let managementPort: PortHandle
    public let health: HealthRegistry
    /// The durable state (tests read it directly).
    public let store: any RolesStore
    let state: RolesState

    /// Resolves in memory, as `POST /v1/resolve` does.
    public func resolve(_ request: ResolveRequest) throws(DistinguishedName.ParseError) -> ResolveResponse {
        let subject = try request.certificateSubject.map { (text: String) throws(DistinguishedName.ParseError) in
            try DistinguishedName(parsing: text)
        }
        return state.view.resolve(
            claims: request.claims, subject: subject, subjectText: request.certificateSubject,
            certificate: CertificateFacts(
                sans: request.certificateSANs ?? [],
                issuerSPKISHA256: request.certificateIssuerSPKISHA256.flatMap(SPKIDigest.canonical)))
    }

    /// The store's change counter this replica's memory reflects.
    public var loadedVersion: Int64 { state.view.version }
}

/// Builds roles from its configuration. Checks the keystores and opens (and migrates) the database before any
/// port opens; the bootstrap admin and the first load run before the HTTPS listener accepts connections.
public enum RolesApplication {
    public static func build(
        configuration: RolesConfiguration, logger: Logger,
        metrics: PrometheusCollectorRegistry = PrometheusCollectorRegistry()
    ) async throws -> RolesInstance {
        let health = HealthRegistry()
        let listenerTLS = try configuration.listener.reloadableTLS(name: "roles", health: health, logger: logger)
        let (store, storeServices) = try await RolesStores.open(configuration.database, urlSetting: RolesSetting.databaseURL, logger: logger)
        logger.info("Roles database opened", metadata: [
            LogKey.dbSystem: .string(configuration.database.backendName),
            LogKey.dbLocation: .string(configuration.database.redactedDescription),
        ])
        let state = RolesState(store: store, logger: logger)

        let router = Router(context: ServiceRequestContext.self)
        router.add(middleware: TracingMiddleware())
        router.add(middleware: MetricsMiddleware())
        router.add(middleware: ErrorLoggingMiddleware())
        router.add(middleware: CallerCheckMiddleware(
            allowed: Set(configuration.allowedCallers), trustDomain: configuration.listener.serviceTrustDomain))
        RolesRoutes(state: state, store: store, trustDomain: configuration.listener.serviceTrustDomain)
            .register(on: router)

        let port = PortHandle()
        var app = try configuration.listener.application(
            name: "roles", router: router, tlsContext: listenerTLS.context, port: port, logger: logger,
            metadata: [LogKey.allowedCallers: .string(configuration.allowedCallers.joined(separator: ","))],
            immediate: RolesImmediate(
                state: state, allowed: Set(configuration.allowedCallers), trustDomain: configuration.listener.serviceTrustDomain))
        let storageDetails = [
            "backend": configuration.database.backendName, "location": configuration.database.redactedDescription,
        ]
        health.down("storage", details: storageDetails.merging(["reason": "not loaded yet"]) { $1 })
        app.beforeServerStarts {
            try await Bootstrap.run(configuration.initialClaim, store: store, state: state, logger: logger)
            try await state.reload()
            let view = state.view
            health.up("storage", details: storageDetails.merging([
                "version": String(view.version), "mapping_rules": String(view.rules.count), "roles": String(view.roles.count),
            ]) { $1 })
            logger.info("Roles state loaded", metadata: [
                LogKey.rolesVersion: .stringConvertible(view.version), LogKey.rolesMappingRules: .stringConvertible(view.rules.count),
                LogKey.rolesRoles: .stringConvertible(view.roles.count),
            ])
        }
        health.up("listener")
        health.requireForReadiness("listener")
        health.requireForReadiness("storage")   // rules loaded and the database reachable (polled)

        let managementPort = PortHandle()
        let management = ManagementServer.build(
            address: configuration.listener.address, port: configuration.listener.managementPort,
            health: health, metrics: metrics, logger: logger, onRunning: managementPort)
        let poller = ChangePoller(
            state: state, interval: configuration.reloadInterval, health: health, details: storageDetails, logger: logger)
        return RolesInstance(
            services: storeServices + [poller] + (listenerTLS.reloader.map { [$0] } ?? []) + [app, management],
            port: port, managementPort: managementPort, health: health, store: store, state: state)
    }
}

/// Creates, idempotently, the role `admin` and the mapping rule `initial-admin` granting it to whoever carries
/// the configured initial claim. Re-running with the same settings writes nothing; changed settings update the rule.
enum Bootstrap {
    static func run(_ claim: InitialClaim?, store: any RolesStore, state: RolesState, logger: Logger) async throws {
        guard let claim else {
            let snapshot = try await store.load()
            if !snapshot.assignments.contains(where: { $0.roleID == RolesSetting.adminRoleID }) {
                logger.notice("No admin mapping rule exists and no INITIAL_CLAIM_NAME/INITIAL_CLAIM_VALUE is set; nobody can change roles until one is configured.")
            }
            return
        }
        let actor = AuditActor(caller: ServiceName.roles, principal: "configuration", method: "configuration", credential: claim.source)
        let role = RoleRecord(id: RolesSetting.adminRoleID, name: RolesSetting.adminRoleID, description: "Administrators (granted by \(claim.source))")
        let rule = MappingRuleRecord(
            id: RolesSetting.initialRuleID, name: "Initial admin (\(claim.source))", kind: .claim,
            claimName: claim.name, claimValue: claim.value)
        let snapshot = try await store.load()
        var mutations: [RolesMutation] = []
        if !snapshot.roles.contains(where: { $0.id == role.id }) { mutations.append(.createRole(role)) }
        if let existing = snapshot.mappingRules.first(where: { $0.id == rule.id }) {
            if existing != rule { mutations.append(.updateMappingRule(rule)) }
        } else {
            mutations.append(.createMappingRule(rule))
        }
        if !snapshot.assignments.contains(RoleAssignment(roleID: role.id, mappingRuleID: rule.id)) {
            mutations.append(.assign(roleID: role.id, mappingRuleID: rule.id))
        }
        for mutation in mutations {
            do {
                let result = try await store.apply(mutation, by: actor, at: Date())
                await state.committed(mutation, result: result)
                for grant in result.adminGrants {
                    AdminGrantEvent(.mappingRule, role: grant.roleName, principal: "configuration", details: [
                        LogKey.roleID: grant.roleID, LogKey.mappingRuleID: grant.mappingRuleID, LogKey.claimName: claim.name,
                        LogKey.grantSource: claim.source,
                    ]).log(to: logger)
                }
            } catch let error as StorageError where error.code == .conflict {
                continue  // another replica bootstrapped the same thing at the same moment
            }
        }
    }
}

/// Watches the store's change counter so writes through other replicas (PostgreSQL) reach this replica's memory
/// within one interval plus a reload. A failing database marks storage DEGRADED: resolution keeps serving the
/// last loaded state.
struct ChangePoller: Service {
    let state: RolesState
    let interval: Duration
    let health: HealthRegistry
    let details: [String: String]
    let logger: Logger

    func run() async throws {
        do {
            try await cancelWhenGracefulShutdown {
                var failing = false
                while true {
                    try await Task.sleep(for: interval)
                    do {
                        try await state.refreshIfChanged()
                        if failing {
                            logger.info("Roles database reachable again")
                            failing = false
                        }
                        let view = state.view
                        health.up("storage", details: details.merging([
                            "version": String(view.version), "mapping_rules": String(view.rules.count), "roles": String(view.roles.count),
                        ]) { $1 })
                    } catch is CancellationError {
                        throw CancellationError()
                    } catch {
                        if !failing {
                            logger.warning("Roles database check failed; serving the last loaded state", error: error)
                            failing = true
                        }
                        health.degraded("storage", details: details.merging([
                            "reason": "database check failed; serving the last loaded state (version \(state.view.version))",
                        ]) { $1 })
                    }
                }
            }
        } catch is CancellationError {
            return
        }
    }
}

import AuthProtocol
import Logging
import ServiceSupport
import Testing

/// authn and roles log admin grants as one event type (issue 20 item 4): the same message prefix and keys, so one log
/// query or alert (`security.event`) finds every kind.
@Suite struct AdminGrantEventTests {
    @Test func everyKindHasTheSameShape() {
        let events = [
            AdminGrantEvent(.principalGranted, role: "ADMIN", principal: "alice", details: [LogKey.method: "oidc", LogKey.credential: "bearer"]),
            AdminGrantEvent(.configuredDefault, role: "Admin", principal: "configuration", details: [LogKey.configVariable: "X"]),
            AdminGrantEvent(.mappingRule, role: "admins", principal: "bob", details: [LogKey.roleID: "admin", LogKey.mappingRuleID: "r1"]),
        ]
        for event in events {
            #expect("\(event.message)".hasPrefix("Security audit: "))
            let metadata = event.metadata
            #expect(metadata[LogKey.securityEvent] == .string(event.kind.rawValue))
            #expect(metadata[LogKey.roleName] == .string(event.role))
            #expect(metadata[LogKey.principal] == .string(event.principal))
            // Keys are lower-case words joined by dots or underscores (OpenTelemetry attribute style), never free text.
            for key in metadata.keys {
                #expect(key.allSatisfy { $0.isLowercase || $0 == "." || $0 == "_" }, "\(key)")
            }
        }
        #expect(Set(events.map(\.kind.rawValue)) == ["admin_role_granted", "admin_role_default", "admin_grant"])
    }

    @Test func adminLikeIsAnyCaseOfAdminAnywhere() {
        for role in ["ADMIN", "admin", "Admin", "ROLE_ADMIN", "super-administrator", "xAdMiNx"] {
            #expect(AdminGrantEvent.isAdminLike(role), "\(role)")
        }
        for role in ["", "adm", "reader", "ROLE_USER", "admi n", "ädmin"] {
            #expect(!AdminGrantEvent.isAdminLike(role), "\(role)")
        }
    }
}

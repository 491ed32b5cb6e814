import Testing

@testable import Authn

/// Which granted roles authn audits as admin-like.
@Suite struct AdminGrantAuditTests {
    @Test func adminLikeRolesInAnyASCIICase() {
        for role in ["admin", "ADMIN", "Camunda-Admin", "superADMINistrator", "xadmin"] {
            #expect(AdminGrantAudit.isAdminLike(role), "\(role)")
        }
        for role in ["", "adm", "admi", "reader", "a d m i n", "@DMIN", "ädmin", "admi\u{0301}n"] {
            #expect(!AdminGrantAudit.isAdminLike(role), "\(role)")
        }
    }
}

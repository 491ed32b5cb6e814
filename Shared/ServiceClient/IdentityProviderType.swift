/// Which kind of IdP the suite talks to (`CAMUNDA_IDENTITY_TYPE`).
public enum IdentityProviderType: String, Sendable {
    case microsoft = "MICROSOFT"
    case generic = "GENERIC"
    case keycloak = "KEYCLOAK"
}

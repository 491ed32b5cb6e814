import Crypto
import Foundation
import Keystore
import Metrics
import SwiftASN1
import X509

/// `certauth_certificate_expiration_timestamp_seconds{role, x5t_s256}`: when each certificate a service holds or
/// trusts stops being valid (Unix seconds), recorded whenever a keystore or trust store is loaded, so alerts can
/// fire before it happens (deploy/kubernetes PrometheusRule: under 14 days).
public enum CertificateMetrics {
    public static let expirationName = "certauth_certificate_expiration_timestamp_seconds"

    /// Records one certificate. `role`: `server` (the listener's own), `client_credential` (token-issuer's
    /// identity), `trusted_ca` (a trust store entry).
    public static func recordExpiration(role: String, certificate: Certificate) {
        guard let thumbprint = certificate.x5tS256 else { return }
        Gauge(label: expirationName, dimensions: [("role", role), ("x5t_s256", thumbprint)])
            .record(certificate.notValidAfter.timeIntervalSince1970)
    }

    /// Records every certificate of a list (a trust store, CA files) under one role: `trusted_ca` (the listener's or
    /// the IdP's trust store), `client_ca` / `client_intermediate` (authn's and the emulator's client-certificate
    /// anchors and intermediates), `trusted_proxy`. Any module that loads a certificate calls this or
    /// ``recordExpiration(role:certificate:)``; a new role needs only a new string (and a line in the catalog's HELP).
    public static func recordExpiration(role: String, certificates: some Sequence<Certificate>) {
        for certificate in certificates { recordExpiration(role: role, certificate: certificate) }
    }
}

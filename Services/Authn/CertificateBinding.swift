import Crypto
import Foundation
import Keystore
import TokenValidation
import X509

/// How a bearer token reached authn, which decides the RFC 8705 §3 certificate-binding check.
enum TokenPresentation: Sendable {
    /// A caller presented the token. A certificate-bound token (`cnf.x5t#S256`) is accepted only when the certificate
    /// this closure returns (the connection's, a trusted proxy's forwarded one, or `certificate_chain_pem`'s leaf) has
    /// that thumbprint. The closure runs only for bound tokens.
    case caller(certificate: @Sendable () async throws(AuthenticationFailure) -> Certificate?)
    /// authn obtained the token itself from token-issuer (the service-account flow): no caller presented it.
    case obtainedByAuthn
}

/// RFC 8705 §3: certificate-bound access tokens. Runs on every request (also when the token came from the
/// verified-token cache), since the same token may arrive on another connection.
enum CertificateBinding {
    static func check(_ token: ValidatedToken, presentation: TokenPresentation) async throws(AuthenticationFailure) {
        guard let bound = token.confirmationThumbprint else { return }
        guard case .caller(let certificate) = presentation else { return }
        let expected = bound.trimmingCharacters(in: CharacterSet(charactersIn: "="))
        guard let presented = try await certificate() else {
            throw AuthenticationFailure(
                .unauthorized,
                "the token is certificate-bound (cnf x5t#S256=\(expected), RFC 8705) and no client certificate was presented; call over mutual TLS with the certificate the token was issued to",
                code: .tokenCertificateMissing)
        }
        let actual = thumbprint(presented)
        guard actual == expected else {
            throw AuthenticationFailure(
                .unauthorized,
                "the token is bound to another certificate (cnf x5t#S256=\(expected)) than the one presented (x5t#S256=\(actual)); a certificate-bound token is accepted only with the certificate it was issued to",
                code: .tokenCertificateMismatch)
        }
    }

    /// `x5t#S256` of a certificate: base64url (unpadded) SHA-256 of its DER.
    static func thumbprint(_ certificate: Certificate) -> String {
        certificate.x5tS256 ?? ""
    }
}

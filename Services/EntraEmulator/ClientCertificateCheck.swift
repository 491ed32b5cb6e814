import CertificateValidation
import Crypto
import Foundation
import Keystore
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Checks client certificates presented to the emulator's token endpoint against `ENTRA_EMULATOR_CLIENT_CA`.
///
/// The listener keeps each client's presented chain with its connection (`PresentedChain`, as authn's listener
/// does); the chain is built from the leaf through the intermediates of that connection only to a configured CA with
/// the shared ``ClientCertificateValidator`` (dates, basic constraints, EKU clientAuth, path-building budget). The
/// presented intermediates are untrusted input: they only help build a path. A CA certificate as the leaf is accepted
/// (the second seed's Option 1 uses its intermediary certificate as the credential at the IdP, and Keycloak accepts
/// it), unlike at authn.
struct ClientCertificateCheck: Sendable {
    let validator: ClientCertificateValidator

    init(anchors: [Certificate]) {
        var settings = CertificateValidationSettings(trustedCertificates: anchors, purpose: .client)
        settings.trustedCertificatesSetting = "ENTRA_EMULATOR_CLIENT_CA"
        settings.acceptsCertificateAuthorityLeaf = true
        validator = ClientCertificateValidator(settings: settings)
    }

    /// The presented leaf with its verified chain, or the reason it was not accepted.
    func check(leaf: Certificate, presented: PresentedIntermediates, now: Date = Date()) async -> PresentedCertificate {
        let verification: PresentedCertificate.Verification
        do {
            let validated = try await validator.validate(leaf: leaf, intermediates: await presented.certificates(), at: now)
            verification = .trusted(chain: validated.chain)
        } catch {
            verification = .untrusted(reason: error.message)
        }
        return PresentedCertificate(leaf: leaf, thumbprint: Self.thumbprint(leaf), verification: verification)
    }

    /// `x5t#S256`: base64url SHA-256 of the DER.
    static func thumbprint(_ certificate: Certificate) -> String {
        var serializer = DER.Serializer()
        do {
            try serializer.serialize(certificate)
        } catch {
            return ""
        }
        return Base64URL.encode(Array(SHA256.hash(data: serializer.serializedBytes)))
    }

}

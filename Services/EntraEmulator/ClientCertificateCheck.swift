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
/// TLS hands a request handler only the leaf, so the listener's verification callback records the intermediates
/// clients present (as authn's listener does, `Services/Authn/ClientCertificates.swift`); the chain is then built
/// from the leaf through them to a configured CA with the shared ``ClientCertificateValidator`` (dates, basic
/// constraints, EKU clientAuth). The recorded intermediates are untrusted input: they only help build a path.
struct ClientCertificateCheck: Sendable {
    let validator: ClientCertificateValidator
    let intermediates: IntermediatePool

    init(anchors: [Certificate]) {
        var settings = CertificateValidationSettings(trustedCertificates: anchors, purpose: .client)
        settings.trustedCertificatesSetting = "ENTRA_EMULATOR_CLIENT_CA"
        validator = ClientCertificateValidator(settings: settings)
        intermediates = IntermediatePool(fixed: [], capacity: 256)
    }

    /// The presented leaf with its verified chain, or the reason it was not accepted.
    func check(leaf: Certificate, now: Date = Date()) async -> PresentedCertificate {
        let pool = await intermediates.all()
        let verification: PresentedCertificate.Verification
        do {
            let validated = try await validator.validate(leaf: leaf, intermediates: pool, at: now)
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

    /// Accepts every chain at the TLS layer (the handshake still proves the client holds the leaf's key) and records
    /// the presented intermediates for the request handler (shared with authn's listener).
    func verificationCallback() -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void {
        recordingVerificationCallback(pool: intermediates)
    }
}

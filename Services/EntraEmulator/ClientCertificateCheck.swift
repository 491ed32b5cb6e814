import CertificateValidation
import Crypto
import Foundation
import Keystore
import NIOCore
import NIOSSL
import SwiftASN1
import Synchronization
import X509

/// Checks client certificates presented to the emulator's token endpoint against `ENTRA_EMULATOR_CLIENT_CA`.
///
/// TLS hands a request handler only the leaf, and the emulator's listener is Hummingbird's own HTTP/2 server, whose
/// verification callback cannot keep data with the connection (authn's listener keeps each connection's chain, see
/// `PresentedChain`). So the callback records, per leaf, the intermediates presented with it: only a client that holds
/// the leaf's private key can present that leaf (the handshake proves it), so no client's intermediates ever help
/// another client's certificate. The chain is built from the leaf through them to a configured CA with the shared
/// ``ClientCertificateValidator`` (dates, basic constraints, EKU clientAuth, path-building budget). A CA certificate as
/// the leaf is accepted (the second seed's Option 1 uses its intermediary certificate as the credential at the IdP,
/// and Keycloak accepts it), unlike at authn.
struct ClientCertificateCheck: Sendable {
    let validator: ClientCertificateValidator
    let chains: ChainsByLeaf

    init(anchors: [Certificate]) {
        var settings = CertificateValidationSettings(trustedCertificates: anchors, purpose: .client)
        settings.trustedCertificatesSetting = "ENTRA_EMULATOR_CLIENT_CA"
        settings.acceptsCertificateAuthorityLeaf = true
        validator = ClientCertificateValidator(settings: settings)
        chains = ChainsByLeaf()
    }

    /// The presented leaf with its verified chain, or the reason it was not accepted.
    func check(leaf: Certificate, now: Date = Date()) async -> PresentedCertificate {
        let verification: PresentedCertificate.Verification
        do {
            let validated = try await validator.validate(leaf: leaf, intermediates: chains.intermediates(of: leaf), at: now)
            verification = .trusted(chain: validated.chain)
        } catch {
            verification = .untrusted(reason: error.message)
        }
        return PresentedCertificate(leaf: leaf, thumbprint: Self.thumbprint(leaf), verification: verification)
    }

    /// `x5t#S256`: base64url SHA-256 of the DER.
    static func thumbprint(_ certificate: Certificate) -> String {
        certificate.x5tS256 ?? ""
    }


    /// Accepts every chain at the TLS layer (the handshake still proves the client holds the leaf's key) and records
    /// the intermediates presented with the leaf.
    func verificationCallback() -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void {
        let chains = self.chains
        return { certificates, promise in
            if let leaf = certificates.first, let der = try? leaf.toDERBytes() {
                chains.record(leafDER: der, intermediates: certificates.dropFirst().compactMap { try? $0.toDERBytes() })
            }
            promise.succeed(.certificateVerified)
        }
    }
}

/// The intermediates each leaf was last presented with, bounded (emptied when full). Keyed by the leaf's DER: only the
/// holder of the leaf's key can present it.
final class ChainsByLeaf: Sendable {
    private let entries = Mutex<[[UInt8]: [[UInt8]]]>([:])
    private let capacity = 256

    func record(leafDER: [UInt8], intermediates: [[UInt8]]) {
        entries.withLock { entries in
            if entries.count >= capacity, entries[leafDER] == nil { entries.removeAll() }
            entries[leafDER] = intermediates
        }
    }

    func intermediates(of leaf: Certificate) -> [Certificate] {
        guard let der = try? leaf.derEncoded() else { return [] }
        let ders = entries.withLock { $0[der] } ?? []
        return ders.compactMap { try? Certificate(derEncoded: $0) }
    }
}

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
    let intermediates: PresentedIntermediates

    init(anchors: [Certificate]) {
        var settings = CertificateValidationSettings(trustedCertificates: anchors, purpose: .client)
        settings.trustedCertificatesSetting = "ENTRA_EMULATOR_CLIENT_CA"
        validator = ClientCertificateValidator(settings: settings)
        intermediates = PresentedIntermediates()
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
    /// the presented intermediates for the request handler.
    func verificationCallback() -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void {
        let pool = intermediates
        return { certificates, promise in
            let ders = certificates.dropFirst().compactMap { try? $0.toDERBytes() }
            if ders.isEmpty {
                promise.succeed(.certificateVerified)
                return
            }
            promise.completeWithTask {
                await pool.record(ders)
                return .certificateVerified
            }
        }
    }
}

/// Intermediate certificates seen in TLS handshakes; bounded, oldest dropped first.
actor PresentedIntermediates {
    private var certificates: [[UInt8]: Certificate] = [:]
    private var order: [[UInt8]] = []
    private let capacity = 256

    func record(_ ders: [[UInt8]]) {
        for der in ders {
            let key = Array(SHA256.hash(data: der))
            guard certificates[key] == nil, let certificate = try? Certificate(derEncoded: der) else { continue }
            certificates[key] = certificate
            order.append(key)
            if order.count > capacity {
                certificates[order.removeFirst()] = nil
            }
        }
    }

    func all() -> [Certificate] {
        order.compactMap { certificates[$0] }
    }
}

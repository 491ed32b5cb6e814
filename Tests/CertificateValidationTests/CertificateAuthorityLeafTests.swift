import CertificateValidation
import DevPKI
import Foundation
import Testing
import X509

/// A CA certificate (basicConstraints CA:TRUE) as the client's own certificate (issue 15): authn refuses it in every
/// profile; the validator's default stays `openssl verify`'s verdict, which accepts it (the emulator keeps that).
@Suite struct CertificateAuthorityLeafTests {
    @Test func refusedWhereTheSettingsSaySo() async throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let intermediary = try DevPKI.issue(subject: try subject("zeebe-intermediary"), issuer: root, isCA: true)
        var settings = CertificateValidationSettings(trustedCertificates: [root.certificate])
        let accepted = try await ClientCertificateValidator(settings: settings).validate(leaf: intermediary.certificate, intermediates: [])
        #expect(accepted.chain == [intermediary.certificate, root.certificate])

        settings.acceptsCertificateAuthorityLeaf = false
        await expectRefusal(.wrongPurpose, mentioning: [
            "certificate 'CN=zeebe-intermediary, O=CertAuth Test' is a CA certificate (basicConstraints CA:TRUE)",
            "basicConstraints=CA:FALSE",
        ]) {
            try await ClientCertificateValidator(settings: settings).validate(leaf: intermediary.certificate, intermediates: [])
        }
        // Also when the CA certificate is itself a trusted certificate (the exact-match path).
        await expectRefusal(.wrongPurpose, mentioning: ["is a CA certificate"]) {
            try await ClientCertificateValidator(settings: settings).validate(leaf: root.certificate, intermediates: [])
        }
        // A leaf below it is fine.
        let component = try DevPKI.issue(subject: try subject("tasklist"), usage: .client, issuer: intermediary)
        _ = try await ClientCertificateValidator(settings: settings).validate(leaf: component.certificate, intermediates: [intermediary.certificate])
    }
}

import Crypto
import Foundation
import X509

/// Certificate sets built to exhaust path building (issue 17 item 3), made in process with swift-certificates.
public enum PathologicalChains {
    /// `keys` CA keys that all carry the subject `CN=Loop CA` and have cross-signed each other (one certificate per
    /// ordered pair of keys: `keys × (keys − 1)` certificates), none of them reaching `anchorSubject`. Every one is a
    /// candidate issuer of every other, so an unbounded depth-first search walks every ordering of the keys
    /// (`keys!` paths). Returns the certificates and the key that signs the leaf (`signer`).
    public static func crossSignedLoop(keys count: Int) throws -> (certificates: [Certificate], signer: P256.Signing.PrivateKey, subject: DistinguishedName) {
        let subject = try DistinguishedName { OrganizationName("CertAuth Test"); CommonName("Loop CA") }
        let keys = (0..<count).map { _ in P256.Signing.PrivateKey() }
        let extensions = try Certificate.Extensions {
            Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
            Critical(KeyUsage(keyCertSign: true, cRLSign: true))
        }
        var certificates: [Certificate] = []
        for (index, key) in keys.enumerated() {
            for (signerIndex, signer) in keys.enumerated() where signerIndex != index {
                certificates.append(try Certificate(
                    version: .v3, serialNumber: .init(), publicKey: .init(key.publicKey),
                    notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
                    issuer: subject, subject: subject, signatureAlgorithm: .ecdsaWithSHA256, extensions: extensions,
                    issuerPrivateKey: .init(signer)))
            }
        }
        return (certificates, keys[0], subject)
    }

    /// A CA for `commonName` under `issuer` whose nameConstraints permit `permittedDNSDomains` DNS subtrees
    /// (`sub0.example.test`, `sub1.example.test`, …), and a client certificate below it with `names` DNS
    /// subjectAltNames inside the first subtree.
    public static func nameConstraintHeavy(
        subtrees: Int, names: Int, issuer: Certificate, issuerKey: Certificate.PrivateKey
    ) throws -> (ca: Certificate, leaf: Certificate, leafKey: P256.Signing.PrivateKey) {
        let caKey = P256.Signing.PrivateKey()
        let caSubject = try DistinguishedName { OrganizationName("CertAuth Test"); CommonName("Constrained CA") }
        let ca = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(caKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: issuer.subject, subject: caSubject, signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.isCertificateAuthority(maxPathLength: nil))
                Critical(KeyUsage(keyCertSign: true, cRLSign: true))
                Critical(NameConstraints(permittedDNSDomains: (0..<subtrees).map { "sub\($0).example.test" }))
            },
            issuerPrivateKey: issuerKey)
        let leafKey = P256.Signing.PrivateKey()
        let leaf = try Certificate(
            version: .v3, serialNumber: .init(), publicKey: .init(leafKey.publicKey),
            notValidBefore: Date().addingTimeInterval(-3600), notValidAfter: Date().addingTimeInterval(86_400),
            issuer: caSubject, subject: try DistinguishedName { OrganizationName("CertAuth Test"); CommonName("many-names") },
            signatureAlgorithm: .ecdsaWithSHA256,
            extensions: try Certificate.Extensions {
                Critical(BasicConstraints.notCertificateAuthority)
                try ExtendedKeyUsage([.clientAuth])
                SubjectAlternativeNames((0..<names).map { .dnsName("host\($0).sub0.example.test") })
            },
            issuerPrivateKey: .init(caKey))
        return (ca, leaf, leafKey)
    }
}

import CertificateValidation
import DevPKI
import Foundation
import Testing
import X509

@Suite struct CertificatePEMTests {
    @Test func severalCertificatesInOrderWithTextAround() throws {
        let ca = try DevPKI.makeCA()
        let leaf = try DevPKI.issue(subject: try subject("first"), usage: .client, issuer: ca)
        let text = "Certificate:\n    Data: (as openssl x509 -text prints it)\n" + (try leaf.pem) + "# the CA\n" + (try ca.pem)
        let parsed = try CertificatePEM.parse(text)
        #expect(parsed == [leaf.certificate, ca.certificate])
        // Whitespace inside a block does not matter (tabs of nginx's old $ssl_client_cert, CRLF line ends).
        let mangled = try leaf.pem.replacingOccurrences(of: "\n", with: "\r\n\t")
        #expect(try CertificatePEM.parse(mangled) == [leaf.certificate])
    }

    @Test func malformedPEMIsNamed() throws {
        let ca = try DevPKI.makeCA()
        let pem = try ca.pem
        expectError(.emptyChain, mentioning: ["no certificate found", "it is empty"]) {
            try CertificatePEM.parse("  \n")
        }
        expectError(.emptyChain, mentioning: ["it is not PEM"]) {
            try CertificatePEM.parse("hello")
        }
        expectError(.emptyChain, mentioning: ["none labelled CERTIFICATE"]) {
            try CertificatePEM.parse("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
        expectError(.malformed, mentioning: ["certificate 2 has no -----END CERTIFICATE----- line"]) {
            try CertificatePEM.parse(pem + String(pem.dropLast(30)))
        }
        expectError(.malformed, mentioning: ["certificate 1 is not closed before the next PEM block"]) {
            try CertificatePEM.parse("-----BEGIN CERTIFICATE-----\nAAAA\n" + pem)
        }
        expectError(.malformed, mentioning: ["certificate 1 is not valid base64"]) {
            try CertificatePEM.parse("-----BEGIN CERTIFICATE-----\nnot*base64\n-----END CERTIFICATE-----")
        }
        expectError(.malformed, mentioning: ["certificate 1 is not an X.509 certificate"]) {
            try CertificatePEM.parse("-----BEGIN CERTIFICATE-----\nMIIBAgMEBQ==\n-----END CERTIFICATE-----")
        }
    }

    @Test func forwardedByNginx() throws {
        let root = try DevPKI.makeCA(commonName: "Root")
        let intermediate = try DevPKI.issue(subject: try subject("Issuing CA"), issuer: root, isCA: true)
        let leaf = try DevPKI.issue(subject: try subject("behind proxy"), usage: .client, issuer: intermediate)
        // $ssl_client_escaped_cert: the PEM, URL-escaped (newlines as %0A, + and / and = escaped too).
        var unreserved = CharacterSet.alphanumerics
        unreserved.insert(charactersIn: "-._~")
        let escaped = try #require((try leaf.pem + intermediate.pem).addingPercentEncoding(withAllowedCharacters: unreserved))
        #expect(escaped.contains("%0A") && escaped.contains("-----BEGIN%20CERTIFICATE-----"))
        #expect(try CertificatePEM.parseForwarded(escaped) == [leaf.certificate, intermediate.certificate])
        // Plain PEM and Traefik's comma-separated base64 DER work too.
        #expect(try CertificatePEM.parseForwarded(try leaf.pem) == [leaf.certificate])
        let traefik = [try leaf.der, try intermediate.der].map { Data($0).base64EncodedString() }.joined(separator: ",")
        #expect(try CertificatePEM.parseForwarded(traefik) == [leaf.certificate, intermediate.certificate])
    }

    @Test func forwardedGarbageIsRefused() {
        expectError(.emptyChain, mentioning: ["header is empty", "$ssl_client_escaped_cert"]) {
            try CertificatePEM.parseForwarded(" ")
        }
        expectError(.malformed, mentioning: ["not valid URL-escaped text"]) {
            try CertificatePEM.parseForwarded("-----BEGIN%ZZCERTIFICATE")
        }
        expectError(.malformed, mentioning: ["certificate 1 is not"]) {
            try CertificatePEM.parseForwarded("bm90IGEgY2VydGlmaWNhdGU=")
        }
    }

    @Test func loadNamesFileAndSetting() throws {
        let directory = try TemporaryDirectory()
        let ca = try DevPKI.makeCA()
        let good = try directory.write("ca.pem", try ca.pem)
        let empty = try directory.write("empty.pem", "")
        let key = try directory.write("key.pem", ca.keyPEM)
        let setting = "CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTEDCERTIFICATES"
        #expect(try CertificatePEM.load(files: [good], setting: setting) == [ca.certificate])
        let missing = directory.file("missing.pem")
        let refusals = [
            expectError(.malformed, mentioning: [missing, setting]) {
                try CertificatePEM.load(files: [good, missing], setting: setting)
            },
            expectError(.malformed, mentioning: [empty, setting]) {
                try CertificatePEM.load(files: [empty], setting: setting)
            },
            expectError(.malformed, mentioning: ["lists no file", setting]) {
                try CertificatePEM.load(files: [" ", ""], setting: setting)
            },
            expectError(.malformed, mentioning: [key, setting]) {
                try CertificatePEM.load(files: [key], setting: setting)
            },
        ]
        // Never any key material in a message.
        for refusal in refusals {
            #expect(refusal.map { !$0.message.contains("PRIVATE KEY") && !$0.message.contains(String(ca.keyPEM.dropFirst(40).prefix(20))) } == true)
        }
    }
}

import Crypto
import Foundation
import Keystore
import SwiftASN1
import WireFormat
import X509

/// Certificates from PEM text, from a proxy header, and from the files of the trusted-certificates setting.
public enum CertificatePEM {
    static let begin = "-----BEGIN CERTIFICATE-----"
    static let end = "-----END CERTIFICATE-----"

    /// All certificates in a PEM text, in order. Text outside the CERTIFICATE blocks (openssl's `-text` output,
    /// comments, other blocks) is ignored; whitespace inside a block may be anything (newlines, spaces, tabs).
    /// - Throws: `.emptyChain` when there is no CERTIFICATE block, `.malformed` naming the bad block otherwise.
    public static func parse(_ pem: String) throws(CertificateValidationError) -> [Certificate] {
        var certificates: [Certificate] = []
        var rest = pem[...]
        while let start = rest.range(of: begin) {
            let number = certificates.count + 1
            let afterBegin = rest[start.upperBound...]
            guard let stop = afterBegin.range(of: end) else {
                throw CertificateValidationError(
                    code: .malformed,
                    message: "certificate \(number) has no \(end) line; send complete PEM blocks (the text was cut off or damaged)")
            }
            let body = afterBegin[..<stop.lowerBound]
            if body.contains("-----") {
                throw CertificateValidationError(
                    code: .malformed,
                    message: "certificate \(number) is not closed before the next PEM block; each \(begin) needs its own \(end) line")
            }
            certificates.append(try certificate(base64: body.filter { !$0.isWhitespace }, number: number))
            rest = afterBegin[stop.upperBound...]
        }
        guard !certificates.isEmpty else {
            let hint = pem.contains("-----BEGIN ")
                ? "it holds PEM blocks, but none labelled CERTIFICATE (a key or a CSR?)"
                : pem.trimmingCharacters(in: .whitespacesAndNewlines).isEmpty ? "it is empty" : "it is not PEM"
            throw CertificateValidationError(
                code: .emptyChain,
                message: "no certificate found: \(hint); expected one or more \(begin) blocks, the client certificate first")
        }
        return certificates
    }

    /// Certificates from a proxy header: nginx's `$ssl_client_escaped_cert` (URL-escaped PEM, as in
    /// `X-SSL-Client-Cert`), plain PEM, or base64 DER certificates separated by commas (Traefik's
    /// `X-Forwarded-Tls-Client-Cert`).
    public static func parseForwarded(_ escaped: String) throws(CertificateValidationError) -> [Certificate] {
        let trimmed = escaped.trimmingCharacters(in: .whitespacesAndNewlines)
        guard !trimmed.isEmpty else {
            throw CertificateValidationError(
                code: .emptyChain,
                message: "the forwarded client certificate header is empty; the proxy sent no client certificate (check ssl_verify_client and proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert)")
        }
        guard let decoded = trimmed.removingPercentEncoding else {
            throw CertificateValidationError(
                code: .malformed,
                message: "the forwarded client certificate is not valid URL-escaped text; configure the proxy to send $ssl_client_escaped_cert")
        }
        if decoded.contains("-----BEGIN ") {
            return try parse(decoded)
        }
        // Base64 DER, possibly several separated by commas.
        var certificates: [Certificate] = []
        for part in decoded.split(separator: ",") {
            certificates.append(try certificate(base64: part.filter { !$0.isWhitespace }, number: certificates.count + 1))
        }
        return certificates
    }

    /// Reads PEM (or PKCS#12 without password) files, as listed in `setting`; all their certificates in order.
    /// - Throws: `.malformed` naming the file and `setting` when a file is missing, unreadable or holds no certificate.
    public static func load(files: [String], setting: String) throws(CertificateValidationError) -> [Certificate] {
        let paths = files.map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
        guard !paths.isEmpty else {
            throw CertificateValidationError(
                code: .malformed,
                message: "\(setting) lists no file; expected a comma-separated list of PEM files holding the trusted CA certificates")
        }
        var certificates: [Certificate] = []
        for path in paths {
            do {
                certificates += try TrustStoreLoader.load(path: path, password: nil, type: nil, setting: setting)
            } catch {
                throw CertificateValidationError(code: .malformed, message: error.message)
            }
        }
        return certificates
    }

    static func certificate(base64: String, number: Int) throws(CertificateValidationError) -> Certificate {
        guard let der = Data(base64Encoded: base64) else {
            throw CertificateValidationError(
                code: .malformed,
                message: "certificate \(number) is not valid base64 inside its PEM block; the text was damaged (send the PEM unchanged, or URL-escaped as nginx's $ssl_client_escaped_cert)")
        }
        do {
            return try Certificate(derEncoded: Array(der))
        } catch {
            throw CertificateValidationError(
                code: .malformed,
                message: "certificate \(number) is not an X.509 certificate (its DER does not parse); send the certificate itself, not a key or a request")
        }
    }
}

/// Thumbprints as JOSE writes them.
public enum CertificateThumbprint {
    /// base64url SHA-256 of the certificate's DER (`x5t#S256`), or an error naming the certificate (the CLI's form of
    /// `Certificate.x5tS256`).
    public static func sha256(_ certificate: Certificate) throws(CertificateValidationError) -> String {
        Base64URL.encode(Thumbprint.sha256(der: try derBytes(certificate)))
    }

    /// The certificate's DER encoding.
    public static func derBytes(_ certificate: Certificate) throws(CertificateValidationError) -> [UInt8] {
        do {
            return try certificate.derEncoded()
        } catch {
            throw CertificateValidationError(
                code: .malformed,
                message: "certificate '\(DistinguishedNameFormat.string(certificate.subject))' cannot be re-encoded as DER (\(error)); it is not a well-formed X.509 certificate")
        }
    }
}

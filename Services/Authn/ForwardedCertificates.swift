import CertificateValidation
import Crypto
import Foundation
import HTTPTypes
import Keystore
import RawStructuredFieldValues
import SwiftASN1
import X509

/// Client certificates a TLS-terminating proxy forwards in a request header (issue 17 item 6). authn honours them only
/// from a connection whose own client certificate is one of `CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES`;
/// from any other peer a request carrying one of these headers is refused (401), whatever else it carries, so that a
/// proxy misconfigured as untrusted is noticed and a forged header never silently loses to another credential.
///
/// Three forms:
/// - RFC 9440: `Client-Cert` (an RFC 8941 Byte Sequence Item: the DER certificate) and optionally `Client-Cert-Chain`
///   (a List of Byte Sequences: the intermediates, leaf excluded).
/// - Envoy's `x-forwarded-client-cert` (XFCC): elements separated by `,` (one per proxy hop), each `key=value` pairs
///   separated by `;`, values optionally quoted. The last element is the one the proxy that talks to authn appended
///   (its own client's certificate); `Cert` (URL-encoded PEM) or `Chain` (URL-encoded PEM, leaf first) carries the
///   certificate, `Hash` (hex SHA-256 of the leaf DER), `URI` and `DNS` are checked against it when present.
/// - nginx's `X-SSL-Client-Cert`: URL-encoded PEM (`$ssl_client_escaped_cert`), leaf first.
///
/// A forwarded chain helps build that request's own path only (``PresentedIntermediates/list(_:)``), never another's.
enum ForwardedCertificates {
    enum Form: String, CaseIterable, Sendable {
        case rfc9440 = "Client-Cert"
        case envoy = "x-forwarded-client-cert"
        case nginx = "X-SSL-Client-Cert"
    }

    struct Forwarded: Sendable {
        var leaf: Certificate
        var intermediates: [Certificate]
        var forms: [Form]
    }

    /// Most certificates read from one request's headers (leaf included); a longer chain is refused.
    static let maximumCertificates = 10
    /// Most XFCC elements (proxy hops) read.
    static let maximumEnvoyElements = 16

    static let clientCert = HTTPField.Name("Client-Cert")!
    static let clientCertChain = HTTPField.Name("Client-Cert-Chain")!
    static let envoy = HTTPField.Name("x-forwarded-client-cert")!
    static let nginx = HTTPField.Name("X-SSL-Client-Cert")!

    /// The forwarded-certificate headers present in `headers` with a value (`Client-Cert-Chain` counts as RFC 9440).
    /// An empty header counts as absent: a proxy whose client sent no certificate may forward an empty variable.
    static func forms(in headers: HTTPFields) -> [Form] {
        func present(_ name: HTTPField.Name) -> Bool {
            headers[values: name].contains { !$0.allSatisfy { $0 == " " || $0 == "\t" } }
        }
        var forms: [Form] = []
        if present(clientCert) || present(clientCertChain) { forms.append(.rfc9440) }
        if present(envoy) { forms.append(.envoy) }
        if present(nginx) { forms.append(.nginx) }
        return forms
    }

    static func names(_ forms: [Form]) -> String {
        forms.map { $0 == .rfc9440 ? "Client-Cert/Client-Cert-Chain" : $0.rawValue }.joined(separator: ", ")
    }

    /// The certificate (and chain) forwarded in `headers`; nil when no such header is present. When several forms are
    /// present they must name the same client certificate (a proxy chain may add more than one).
    static func read(_ headers: HTTPFields) throws(AuthenticationFailure) -> Forwarded? {
        var found: [(Form, [Certificate])] = []
        for form in forms(in: headers) {
            let chain: [Certificate]
            switch form {
            case .rfc9440: chain = try rfc9440(headers)
            case .envoy: chain = try envoyXFCC(headers[values: envoy].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty })
            case .nginx: chain = try nginxPEM(headers[values: nginx])
            }
            guard !chain.isEmpty else { continue }
            guard chain.count <= maximumCertificates else {
                throw failure(form, "holds \(chain.count) certificates; at most \(maximumCertificates) (the client certificate and its intermediates) are read")
            }
            found.append((form, chain))
        }
        guard let first = found.first else { return nil }
        var intermediates: [Certificate] = []
        for (form, chain) in found {
            guard chain[0] == first.1[0] else {
                throw AuthenticationFailure(
                    .unauthorized,
                    "the forwarded client certificates disagree: \(first.0.rawValue) names '\(DistinguishedNameFormat.string(first.1[0].subject))', \(form.rawValue) names '\(DistinguishedNameFormat.string(chain[0].subject))'; configure the proxies so that one header carries the client certificate", code: .certificateMalformed)
            }
            for certificate in chain.dropFirst() where !intermediates.contains(certificate) {
                intermediates.append(certificate)
            }
        }
        return Forwarded(leaf: first.1[0], intermediates: Array(intermediates.prefix(maximumCertificates)), forms: found.map(\.0))
    }

    static func failure(_ form: Form, _ problem: String) -> AuthenticationFailure {
        let fix: String
        switch form {
        case .rfc9440: fix = "send the DER certificate as an RFC 8941 byte sequence, Client-Cert: :MIIB...:, and the intermediates in Client-Cert-Chain (RFC 9440)"
        case .envoy: fix = "set Envoy's forward_client_cert_details to SANITIZE_SET or APPEND_FORWARD with set_current_client_cert_details cert: true (and chain: true to forward the intermediates)"
        case .nginx: fix = "configure proxy_set_header X-SSL-Client-Cert $ssl_client_escaped_cert"
        }
        return AuthenticationFailure(.unauthorized, "the forwarded client certificate (\(form == .rfc9440 ? "Client-Cert" : form.rawValue)) \(problem); \(fix)", code: .certificateMalformed)
    }

    // MARK: RFC 9440

    static func rfc9440(_ headers: HTTPFields) throws(AuthenticationFailure) -> [Certificate] {
        let leafLines = headers[values: clientCert].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard !leafLines.isEmpty else {
            throw failure(.rfc9440, "is missing while Client-Cert-Chain is present (RFC 9440 §2.3: the chain comes with the certificate)")
        }
        guard leafLines.count == 1 else { throw failure(.rfc9440, "appears \(leafLines.count) times; it is one item") }
        var leafParser = StructuredFieldValueParser(Array(leafLines[0].utf8))
        let item: Item
        do {
            item = try leafParser.parseItemFieldValue()
        } catch {
            throw failure(.rfc9440, "is not an RFC 8941 item (\(error))")
        }
        let leaf = try certificate(item.rfc9651BareItem, form: .rfc9440, what: "Client-Cert")
        var chain = [leaf]
        let chainLines = headers[values: clientCertChain].filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        if !chainLines.isEmpty {
            var parser = StructuredFieldValueParser(Array(chainLines.joined(separator: ", ").utf8))
            let list: [ItemOrInnerList]
            do {
                list = try parser.parseListFieldValue()
            } catch {
                throw failure(.rfc9440, "comes with a Client-Cert-Chain that is not an RFC 8941 list (\(error))")
            }
            guard list.count < maximumCertificates else {
                throw failure(.rfc9440, "comes with \(list.count) chain certificates; at most \(maximumCertificates - 1) are read")
            }
            for (index, member) in list.enumerated() {
                guard case .item(let entry) = member else {
                    throw failure(.rfc9440, "comes with a Client-Cert-Chain whose member \(index + 1) is an inner list, not a byte sequence")
                }
                chain.append(try certificate(entry.rfc9651BareItem, form: .rfc9440, what: "Client-Cert-Chain member \(index + 1)"))
            }
        }
        return chain
    }

    private static func certificate(_ item: RFC9651BareItem, form: Form, what: String) throws(AuthenticationFailure) -> Certificate {
        guard case .undecodedByteSequence(let base64) = item else {
            throw failure(form, "has \(what) that is not a byte sequence (:base64:)")
        }
        guard let der = Data(base64Encoded: base64) else {
            throw failure(form, "has \(what) that is not valid base64")
        }
        do {
            return try Certificate(derEncoded: Array(der))
        } catch {
            throw failure(form, "has \(what) that is not a DER X.509 certificate")
        }
    }

    // MARK: nginx

    static func nginxPEM(_ lines: [String]) throws(AuthenticationFailure) -> [Certificate] {
        let lines = lines.filter { !$0.trimmingCharacters(in: .whitespaces).isEmpty }
        guard lines.count == 1 else { throw failure(.nginx, "appears \(lines.count) times; send it once") }
        do {
            return try CertificatePEM.parseForwarded(lines[0])
        } catch {
            throw failure(.nginx, "is unreadable: \(error.message)")
        }
    }

    // MARK: Envoy

    static func envoyXFCC(_ lines: [String]) throws(AuthenticationFailure) -> [Certificate] {
        let elements: [[(key: String, value: String)]]
        do throws(XFCCError) {
            elements = try XFCC.parse(lines.joined(separator: ","), maximumElements: maximumEnvoyElements)
        } catch {
            throw failure(.envoy, "is malformed: \(error.reason)")
        }
        // The last element is the one the proxy next to authn appended: its own client's certificate. Earlier elements
        // were written by proxies further out and describe other hops.
        guard let element = elements.last else { throw failure(.envoy, "is empty") }
        func values(_ key: String) -> [String] {
            element.filter { $0.key.lowercased() == key }.map(\.value)
        }
        var chain: [Certificate] = []
        if let cert = values("cert").first {
            chain = try decodePEM(cert, key: "Cert")
        }
        if let text = values("chain").first {
            let forwarded = try decodePEM(text, key: "Chain")
            if let leaf = chain.first, let first = forwarded.first, first != leaf {
                throw failure(.envoy, "has a Chain whose first certificate is not its Cert")
            }
            chain = chain.isEmpty ? forwarded : chain + forwarded.dropFirst()
        }
        guard let leaf = chain.first else {
            throw failure(.envoy, "carries no Cert or Chain (only \(element.map(\.key).joined(separator: ", "))), so there is no certificate to validate")
        }
        if let hash = values("hash").first {
            let actual = leaf.sha256Hex ?? ""
            guard hash.lowercased() == actual else {
                throw failure(.envoy, "has a Hash that is not the SHA-256 of its Cert")
            }
        }
        let uris = CertificateNames.uris(leaf)
        for uri in values("uri") where !uris.contains(uri) {
            throw failure(.envoy, "names the URI '\(uri.prefix(200))', which is not a subjectAltName of its Cert")
        }
        let dns = CertificateNames.dnsNames(leaf).map { $0.lowercased() }
        for name in values("dns") where !dns.contains(name.lowercased()) {
            throw failure(.envoy, "names the DNS name '\(name.prefix(200))', which is not a subjectAltName of its Cert")
        }
        return chain
    }

    private static func decodePEM(_ escaped: String, key: String) throws(AuthenticationFailure) -> [Certificate] {
        guard let pem = escaped.removingPercentEncoding, pem.contains("-----BEGIN ") else {
            throw failure(.envoy, "has a \(key) that is not URL-encoded PEM")
        }
        do {
            return try CertificatePEM.parse(pem)
        } catch {
            throw failure(.envoy, "has an unreadable \(key): \(error.message)")
        }
    }
}

struct XFCCError: Error {
    var reason: String
}

/// Envoy's `x-forwarded-client-cert` syntax: `,`-separated elements of `;`-separated `key=value` pairs; a value may be
/// a quoted string (`"..."`, with `\"` and `\\` escapes) holding `,`, `;` and `=`.
enum XFCC {
    static func parse(_ text: String, maximumElements: Int) throws(XFCCError) -> [[(key: String, value: String)]] {
        var elements: [[(key: String, value: String)]] = []
        var pairs: [(key: String, value: String)] = []
        let bytes = Array(text.utf8)
        var index = 0
        func skipSpaces() {
            while index < bytes.count, bytes[index] == 0x20 || bytes[index] == 0x09 { index += 1 }
        }
        while true {
            skipSpaces()
            let keyStart = index
            while index < bytes.count, bytes[index] != 0x3D, bytes[index] != 0x3B, bytes[index] != 0x2C { index += 1 }
            let key = String(decoding: bytes[keyStart..<index], as: UTF8.self).trimmingCharacters(in: .whitespaces)
            guard index < bytes.count, bytes[index] == 0x3D, !key.isEmpty else {
                throw XFCCError(reason: "expected key=value pairs (By=…;Hash=…;Cert=\"…\"), found '\(key.prefix(40))' without a value")
            }
            index += 1
            var value: [UInt8] = []
            if index < bytes.count, bytes[index] == 0x22 {
                index += 1
                var closed = false
                while index < bytes.count {
                    let byte = bytes[index]
                    if byte == 0x5C, index + 1 < bytes.count {
                        value.append(bytes[index + 1])
                        index += 2
                    } else if byte == 0x22 {
                        index += 1
                        closed = true
                        break
                    } else {
                        value.append(byte)
                        index += 1
                    }
                }
                guard closed else { throw XFCCError(reason: "the quoted value of \(key) is not closed") }
                skipSpaces()
            } else {
                while index < bytes.count, bytes[index] != 0x3B, bytes[index] != 0x2C {
                    value.append(bytes[index])
                    index += 1
                }
            }
            pairs.append((key, String(decoding: value, as: UTF8.self).trimmingCharacters(in: .whitespaces)))
            if index >= bytes.count {
                elements.append(pairs)
                break
            }
            if bytes[index] == 0x2C {
                elements.append(pairs)
                pairs = []
                guard elements.count < maximumElements else {
                    throw XFCCError(reason: "has more than \(maximumElements) elements (proxy hops)")
                }
            } else if bytes[index] != 0x3B {
                throw XFCCError(reason: "expected ';' or ',' after the value of \(key)")
            }
            index += 1
        }
        return elements
    }
}

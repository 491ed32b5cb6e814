@testable import Authn
import AsyncHTTPClient
import AuthProtocol
import Crypto
import DevPKI
import Foundation
import HTTPTypes
import SwiftASN1
import Testing
import TestSupport
import X509

/// The three header forms of a certificate forwarded by a trusted proxy (issue 17 item 6).
enum ForwardedHeader: String, CaseIterable, Sendable {
    case rfc9440, envoy, nginx

    /// The header lines a proxy would add for `chain` (client certificate first).
    func fields(_ chain: [Certificate]) throws -> [(String, String)] {
        let ders = try chain.map { certificate -> [UInt8] in
            var serializer = DER.Serializer()
            try serializer.serialize(certificate)
            return serializer.serializedBytes
        }
        let pems = try chain.map { try $0.serializeAsPEM().pemString + "\n" }
        switch self {
        case .rfc9440:
            var fields = [("Client-Cert", ":\(Data(ders[0]).base64EncodedString()):")]
            if ders.count > 1 {
                fields.append(("Client-Cert-Chain", ders.dropFirst().map { ":\(Data($0).base64EncodedString()):" }.joined(separator: ", ")))
            }
            return fields
        case .envoy:
            let hash = SHA256.hash(data: ders[0]).map { String(format: "%02x", $0) }.joined()
            var value = #"By=spiffe://cluster.local/ns/default/sa/authn;Hash=\#(hash);Cert="\#(Self.escape(pems[0]))""#
            if pems.count > 1 { value += #";Chain="\#(Self.escape(pems.joined()))""# }
            if let uri = try chain[0].extensions.subjectAlternativeNames?.compactMap({ name -> String? in
                if case .uniformResourceIdentifier(let uri) = name { return uri }
                return nil
            }).first {
                value += ";URI=\(uri)"
            }
            // An earlier hop's element before ours: only the last one counts.
            return [("x-forwarded-client-cert", #"By=spiffe://edge;Hash=00;Subject="CN=edge, O=\"x\"",\#(value)"#)]
        case .nginx:
            return [("X-SSL-Client-Cert", Self.escape(pems.joined()))]
        }
    }

    static func escape(_ text: String) -> String {
        text.addingPercentEncoding(withAllowedCharacters: .alphanumerics) ?? ""
    }
}

struct ForwardedCertificateParsingTests {
    static let ca = Result { try DevPKI.makeCA(commonName: "Forwarding CA") }
    static let leaf = Result {
        try DevPKI.issue(subject: try DistinguishedName { CommonName("forwarded") }, uris: ["spiffe://prod.example/a"], usage: .client, issuer: try ca.get())
    }

    static func headers(_ fields: [(String, String)]) -> HTTPFields {
        var headers = HTTPFields()
        for (name, value) in fields { headers.append(HTTPField(name: HTTPField.Name(name)!, value: value)) }
        return headers
    }

    @Test(arguments: ForwardedHeader.allCases)
    func eachFormReadsTheCertificateAndChain(_ form: ForwardedHeader) throws {
        let leaf = try Self.leaf.get().certificate
        let ca = try Self.ca.get().certificate
        let read = try #require(try ForwardedCertificates.read(Self.headers(try form.fields([leaf, ca]))))
        #expect(read.leaf == leaf)
        #expect(read.intermediates == [ca])
    }

    @Test func agreeingFormsTogetherAreRead() throws {
        let leaf = try Self.leaf.get().certificate
        let fields = try ForwardedHeader.rfc9440.fields([leaf]) + ForwardedHeader.nginx.fields([leaf])
        let read = try #require(try ForwardedCertificates.read(Self.headers(fields)))
        #expect(read.forms == [.rfc9440, .nginx])
    }

    @Test func emptyHeadersCountAsAbsent() throws {
        let headers = Self.headers([("X-SSL-Client-Cert", ""), ("x-forwarded-client-cert", " ")])
        #expect(ForwardedCertificates.forms(in: headers).isEmpty)
        #expect(try ForwardedCertificates.read(headers) == nil)
    }

    @Test(arguments: [
        ([("Client-Cert", "@@")], "not an RFC 8941 item"),
        ([("Client-Cert", "MIIB")], "not a byte sequence"),
        ([("Client-Cert", "\"text\"")], "not a byte sequence"),
        ([("Client-Cert", ":AAAA:")], "not a DER X.509 certificate"),
        ([("Client-Cert-Chain", ":AAAA:")], "is missing while Client-Cert-Chain is present"),
        ([("x-forwarded-client-cert", "By=x;Hash=abc")], "carries no Cert or Chain"),
        ([("x-forwarded-client-cert", "By=x;Cert=\"unterminated")], "not closed"),
        ([("x-forwarded-client-cert", "Cert")], "without a value"),
        ([("x-forwarded-client-cert", "Cert=\"not-pem\"")], "not URL-encoded PEM"),
        ([("X-SSL-Client-Cert", "%ZZ")], "unreadable"),
    ])
    func malformedHeadersAreRefusedSayingWhy(_ fields: [(String, String)], _ reason: String) {
        do {
            _ = try ForwardedCertificates.read(Self.headers(fields))
            Issue.record("accepted \(fields)")
        } catch {
            #expect(error.kind == .unauthorized)
            #expect(error.reason.contains(reason), "\(error.reason)")
        }
    }

    @Test func envoyHashAndURIMustDescribeTheCertificate() throws {
        let leaf = try Self.leaf.get().certificate
        let pem = ForwardedHeader.escape(try leaf.serializeAsPEM().pemString)
        for (value, reason) in [
            (#"Hash=\#(String(repeating: "ab", count: 32));Cert="\#(pem)""#, "Hash that is not the SHA-256"),
            (#"Cert="\#(pem)";URI=spiffe://prod.example/other"#, "not a subjectAltName"),
            (#"Cert="\#(pem)";DNS=other.example"#, "not a subjectAltName"),
        ] {
            #expect(throws: AuthenticationFailure.self) { try ForwardedCertificates.read(Self.headers([("x-forwarded-client-cert", value)])) }
            do {
                _ = try ForwardedCertificates.read(Self.headers([("x-forwarded-client-cert", value)]))
            } catch {
                #expect(error.reason.contains(reason), "\(error.reason)")
            }
        }
    }

    @Test func disagreeingFormsAreRefused() throws {
        let leaf = try Self.leaf.get().certificate
        let other = try DevPKI.issue(subject: try DistinguishedName { CommonName("other") }, usage: .client, issuer: try Self.ca.get()).certificate
        let fields = try ForwardedHeader.rfc9440.fields([leaf]) + ForwardedHeader.envoy.fields([other])
        #expect(throws: AuthenticationFailure.self) { try ForwardedCertificates.read(Self.headers(fields)) }
    }

    @Test func tooManyCertificatesAreRefused() throws {
        let leaf = try Self.leaf.get().certificate
        let ca = try Self.ca.get().certificate
        let fields = try ForwardedHeader.rfc9440.fields([leaf] + Array(repeating: ca, count: 12))
        #expect(throws: AuthenticationFailure.self) { try ForwardedCertificates.read(Self.headers(fields)) }
    }

    @Test func xfccQuotedValuesHoldSeparators() throws {
        let elements = try XFCC.parse(#"By=a;Subject="CN=x, O=\"y;z\"",By=b; URI=spiffe://t/x"#, maximumElements: 16)
        #expect(elements.count == 2)
        #expect(elements[0][1].key == "Subject")
        #expect(elements[0][1].value == #"CN=x, O="y;z""#)
        #expect(elements[1].map(\.key) == ["By", "URI"])
        #expect(throws: XFCCError.self) { try XFCC.parse(String(repeating: "By=a,", count: 20) + "By=a", maximumElements: 16) }
    }
}

/// Forwarded certificates through authn in process with real TLS: the proxy is a client presenting a certificate
/// listed in `…_MTLS_TRUSTED_PROXIES` (roles' certificate plays it); the forwarded chain builds that request's path
/// only; other peers sending the headers are refused.
@Suite(.serialized)
struct ForwardedCertificateLiveTests {
    @Test func eachFormFromATrustedProxyAndNoneFromOthers() async throws {
        try await AuthnLiveTests().withSuite(extra: { pki in
            var settings = try ClientChainLiveTests.seedScheme(pki)
            settings["CAMUNDA_SECURITY_AUTHENTICATION_MTLS_TRUSTED_PROXIES"] = pki.path("roles.crt")
            return settings
        }) { pki, _, ports in
            let url = "https://localhost:\(ports.authn)/v2/authentication/me"
            let intermediary = try IssuedCertificate.load(pki, "intermediary.pem", key: nil).certificate
            let operate = try IssuedCertificate.load(pki, "operate.pem", key: nil).certificate
            try await withClient(try CertificateBoundTokenTests.identityClient(pki, keystore: "roles.p12", alias: "roles")) { proxy in
            try await withClient(try pki.workloadClient()) { stranger in
            try await withClient(try pki.client(withCertificate: false)) { anonymous in
                for form in ForwardedHeader.allCases {
                    // With its chain: authn builds operate → intermediary → root from the forwarded certificates.
                    let accepted = try await call(proxy, url, headers: try form.fields([operate, intermediary]))
                    #expect(accepted.status == 200, "\(form): \(accepted.text)")
                    #expect(try accepted.principal().principal == "operate", "\(form)")
                    #expect(try accepted.principal().authenticationMethod == .mtls)
                    // The same leaf without its chain: what an earlier request forwarded is not pooled.
                    let alone = try await call(proxy, url, headers: try form.fields([operate]))
                    #expect(alone.status == 401, "\(form): \(alone.text)")
                    #expect(alone.headers["www-authenticate"]?.contains("CN=zeebe-intermediary") == true, "\(form): \(alone.headers)")
                    // From peers that are not trusted proxies: refused, also next to a bearer token.
                    for client in [stranger, anonymous] {
                        let refused = try await call(client, url, headers: try form.fields([operate, intermediary]))
                        #expect(refused.status == 401, "\(form): \(refused.text)")
                        #expect(refused.text.contains("honoured only from a trusted proxy"), "\(form): \(refused.text)")
                    }
                    let withToken = try await call(
                        stranger, url, headers: try form.fields([operate, intermediary]) + [("authorization", "Bearer x.y.z")])
                    #expect(withToken.status == 401)
                    #expect(withToken.text.contains("honoured only from a trusted proxy"), "\(form): \(withToken.text)")
                }
                // The proxy alone, without a forwarded certificate, is nobody.
                #expect(try await call(proxy, url).status == 401)
            }
            }
            }
        }
    }
}

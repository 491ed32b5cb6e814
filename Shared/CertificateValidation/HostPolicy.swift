import Foundation
import SwiftASN1
import X509

/// The leaf must be issued for `host`: a DNS name (RFC 6125 / RFC 9525 wildcard rules: `*` only as the whole
/// left-most label, matching one label) or an IP address, among its subjectAltNames. swift-certificates'
/// `ServerIdentityPolicy` does the matching; unlike it, the common name is never used (RFC 9525 § 6.3, Go and pyca do
/// the same), so a certificate without subjectAltName never matches.
public struct HostPolicy: VerifierPolicy, Sendable {
    public let host: String
    private var identity: ServerIdentityPolicy

    public var verifyingCriticalExtensions: [ASN1ObjectIdentifier] { identity.verifyingCriticalExtensions }

    public init(host: String) {
        self.host = host
        let isIP = IPv4Address(host) != nil || IPv6Address(host) != nil
        self.identity = ServerIdentityPolicy(serverHostname: isIP ? nil : host, serverIP: isIP ? host : nil)
    }

    public mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        let leaf = chain[0]
        let host = self.host
        let names: SubjectAlternativeNames?
        do {
            names = try leaf.extensions.subjectAlternativeNames
        } catch {
            return .failsToMeetPolicy(reason: "certificate \(ChainRules.name(leaf)) has a subjectAltName that cannot be parsed (\(error)); reissue it")
        }
        guard let names, !names.isEmpty else {
            return .failsToMeetPolicy(reason: "certificate \(ChainRules.name(leaf)) has no subjectAltName, so it names no host (its common name does not count, RFC 9525); reissue it with subjectAltName=DNS:\(host)")
        }
        switch identity.chainMeetsPolicyRequirements(chain: chain) {
        case .meetsPolicy:
            return .meetsPolicy
        case .failsToMeetPolicy:
            let listed = names.map { name -> String in
                switch name {
                case .dnsName(let dns): "DNS:\(dns)"
                case .ipAddress(let bytes): "IP:\(Self.ipString(Array(bytes.bytes)))"
                case .uniformResourceIdentifier(let uri): "URI:\(uri)"
                case .rfc822Name(let mail): "email:\(mail)"
                default: "\(name)"
                }
            }.joined(separator: ", ")
            return .failsToMeetPolicy(reason: "certificate \(ChainRules.name(leaf)) is not issued for \(host): its subjectAltNames are \(listed); check the host name, or reissue the certificate with subjectAltName=\(IPv4Address(host) != nil || IPv6Address(host) != nil ? "IP" : "DNS"):\(host)")
        }
    }

    static func ipString(_ bytes: [UInt8]) -> String {
        if bytes.count == 4 { return bytes.map(String.init).joined(separator: ".") }
        return stride(from: 0, to: bytes.count, by: 2).map { index in
            String(UInt16(bytes[index]) << 8 | UInt16(bytes[safe: index + 1] ?? 0), radix: 16)
        }.joined(separator: ":")
    }
}

/// Parses dotted-quad IPv4 text.
struct IPv4Address {
    let bytes: [UInt8]
    init?(_ text: String) {
        let parts = text.split(separator: ".", omittingEmptySubsequences: false)
        guard parts.count == 4 else { return nil }
        var bytes: [UInt8] = []
        for part in parts {
            guard !part.isEmpty, part.count <= 3, part.allSatisfy(\.isASCII), let value = UInt8(part) else { return nil }
            bytes.append(value)
        }
        self.bytes = bytes
    }
}

/// Recognises IPv6 text (hex groups with colons, optionally `::`), for choosing IP over DNS matching.
struct IPv6Address {
    init?(_ text: String) {
        guard text.contains(":"), text.allSatisfy({ $0.isHexDigit || $0 == ":" || $0 == "." }) else { return nil }
    }
}

extension Array {
    subscript(safe index: Int) -> Element? {
        indices.contains(index) ? self[index] : nil
    }
}

import Foundation
import SwiftASN1
import X509

/// A certificate revocation list (RFC 5280 § 5), parsed with SwiftASN1 (swift-certificates has none): who issued it,
/// when, until when, and the revoked serial numbers. Only complete CRLs: a CRL with a critical extension or entry
/// extension this type does not process (delta CRLs, partitioned or indirect CRLs) is refused when read.
public struct RevocationList: Sendable {
    public let issuer: DistinguishedName
    public let thisUpdate: Date
    /// When the next CRL is due; past it, this one is stale. nil: the issuer gave no date (then it never goes stale).
    public let nextUpdate: Date?
    /// Revoked serial numbers (leading zero octets removed) and their revocation dates.
    public let revoked: [ArraySlice<UInt8>: Date]
    let signedBytes: ArraySlice<UInt8>
    let signatureAlgorithm: Certificate.SignatureAlgorithm?
    let signatureAlgorithmOID: ASN1ObjectIdentifier
    let signature: ArraySlice<UInt8>

    static let issuingDistributionPoint: ASN1ObjectIdentifier = [2, 5, 29, 28]
    static let deltaCRLIndicator: ASN1ObjectIdentifier = [2, 5, 29, 27]
    static let crlNumber: ASN1ObjectIdentifier = [2, 5, 29, 20]
    static let authorityKeyIdentifier: ASN1ObjectIdentifier = [2, 5, 29, 35]
    static let reasonCode: ASN1ObjectIdentifier = [2, 5, 29, 21]
    static let invalidityDate: ASN1ObjectIdentifier = [2, 5, 29, 24]

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// Every CRL in `data`: PEM (one or more `X509 CRL` blocks) or a single DER CRL.
    public static func parse(_ data: [UInt8]) throws -> [RevocationList] {
        let text = String(decoding: data, as: UTF8.self)
        if text.contains("-----BEGIN X509 CRL-----") {
            let documents = try PEMDocument.parseMultiple(pemString: text).filter { $0.discriminator == "X509 CRL" }
            return try documents.map { try RevocationList(der: $0.derBytes) }
        }
        return [try RevocationList(der: data)]
    }

    public init(der: [UInt8]) throws {
        let root = try DER.parse(der)
        guard case .constructed(let parts) = root.content else { throw Malformed(description: "not a DER SEQUENCE") }
        var outer = parts.makeIterator()
        guard let tbs = outer.next(), let algorithm = outer.next(), let signatureNode = outer.next(), outer.next() == nil else {
            throw Malformed(description: "a CertificateList has three parts: tbsCertList, signatureAlgorithm, signatureValue")
        }
        signedBytes = tbs.encodedBytes
        signatureAlgorithmOID = try AlgorithmIdentifierOID(derEncoded: algorithm).oid
        signatureAlgorithm = Self.algorithm(signatureAlgorithmOID)
        signature = try ASN1BitString(derEncoded: signatureNode).bytes

        guard case .constructed(let fields) = tbs.content else { throw Malformed(description: "tbsCertList is not a SEQUENCE") }
        var iterator = fields.makeIterator()
        var node = iterator.next()
        if node?.identifier == .integer {  // version v2
            node = iterator.next()
        }
        guard let innerAlgorithm = node else { throw Malformed(description: "tbsCertList has no signature algorithm") }
        guard try AlgorithmIdentifierOID(derEncoded: innerAlgorithm).oid == signatureAlgorithmOID else {
            throw Malformed(description: "the signature algorithms inside and outside tbsCertList differ")
        }
        guard let issuerNode = iterator.next() else { throw Malformed(description: "tbsCertList has no issuer") }
        issuer = try DistinguishedName(derEncoded: issuerNode)
        guard let thisUpdateNode = iterator.next(), let thisUpdate = try Self.time(thisUpdateNode) else {
            throw Malformed(description: "tbsCertList has no thisUpdate time")
        }
        self.thisUpdate = thisUpdate
        node = iterator.next()
        if let current = node, let next = try Self.time(current) {
            nextUpdate = next
            node = iterator.next()
        } else {
            nextUpdate = nil
        }
        var revoked: [ArraySlice<UInt8>: Date] = [:]
        if let current = node, current.identifier == .sequence {
            guard case .constructed(let entries) = current.content else { throw Malformed(description: "revokedCertificates is not a SEQUENCE") }
            for entry in entries {
                guard case .constructed(let entryFields) = entry.content else { throw Malformed(description: "a revoked entry is not a SEQUENCE") }
                var entryIterator = entryFields.makeIterator()
                guard let serialNode = entryIterator.next(), serialNode.identifier == .integer, case .primitive(let serial) = serialNode.content,
                    let dateNode = entryIterator.next(), let date = try Self.time(dateNode)
                else { throw Malformed(description: "a revoked entry lacks its serial number or revocation date") }
                if let extensionsNode = entryIterator.next() {
                    try Self.checkExtensions(extensionsNode, understood: [Self.reasonCode, Self.invalidityDate], what: "a revoked entry")
                }
                revoked[Self.normalised(serial)] = date
            }
            node = iterator.next()
        }
        if let current = node {
            guard current.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific),
                case .constructed(let wrapped) = current.content, let extensionsNode = wrapped.first(where: { _ in true })
            else { throw Malformed(description: "unexpected field after revokedCertificates") }
            try Self.checkExtensions(extensionsNode, understood: [Self.crlNumber, Self.authorityKeyIdentifier], what: "the CRL")
        }
        self.revoked = revoked
    }

    /// Serial numbers compare without leading zero octets (DER adds one to keep a high bit positive).
    static func normalised(_ serial: ArraySlice<UInt8>) -> ArraySlice<UInt8> {
        var serial = serial
        while serial.count > 1, serial.first == 0 { serial = serial.dropFirst() }
        return serial
    }

    /// Whether `issuer`'s key signed this CRL.
    public func isSigned(by issuer: Certificate) -> Bool {
        guard let signatureAlgorithm else { return false }
        return issuer.publicKey.isValidSignature(signature, for: signedBytes, signatureAlgorithm: signatureAlgorithm)
    }

    public func isRevoked(_ certificate: Certificate) -> Date? {
        revoked[Self.normalised(certificate.serialNumber.bytes)]
    }

    static func checkExtensions(_ node: ASN1Node, understood: [ASN1ObjectIdentifier], what: String) throws {
        guard case .constructed(let extensions) = node.content else { throw Malformed(description: "\(what) has malformed extensions") }
        for extensionNode in extensions {
            let ext = try Certificate.Extension(derEncoded: extensionNode)
            if ext.critical, !understood.contains(ext.oid) {
                let name = ext.oid == issuingDistributionPoint ? "issuingDistributionPoint (a partitioned or indirect CRL)"
                    : ext.oid == deltaCRLIndicator ? "deltaCRLIndicator (a delta CRL)" : "\(ext.oid)"
                throw Malformed(description: "\(what) has the critical extension \(name), which this service does not process; publish a complete CRL")
            }
        }
    }

    static func time(_ node: ASN1Node) throws -> Date? {
        switch node.identifier {
        case .utcTime:
            let time = try UTCTime(derEncoded: node)
            return date(time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
        case .generalizedTime:
            let time = try GeneralizedTime(derEncoded: node)
            return date(time.year, time.month, time.day, time.hours, time.minutes, time.seconds)
        default:
            return nil
        }
    }

    static func date(_ year: Int, _ month: Int, _ day: Int, _ hours: Int, _ minutes: Int, _ seconds: Int) -> Date? {
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone(identifier: "UTC") ?? .current
        return calendar.date(from: DateComponents(year: year, month: month, day: day, hour: hours, minute: minutes, second: seconds))
    }

    static func algorithm(_ oid: ASN1ObjectIdentifier) -> Certificate.SignatureAlgorithm? {
        switch oid {
        case [1, 2, 840, 113_549, 1, 1, 5]: .sha1WithRSAEncryption
        case [1, 2, 840, 113_549, 1, 1, 11]: .sha256WithRSAEncryption
        case [1, 2, 840, 113_549, 1, 1, 12]: .sha384WithRSAEncryption
        case [1, 2, 840, 113_549, 1, 1, 13]: .sha512WithRSAEncryption
        case [1, 2, 840, 10045, 4, 3, 2]: .ecdsaWithSHA256
        case [1, 2, 840, 10045, 4, 3, 3]: .ecdsaWithSHA384
        case [1, 2, 840, 10045, 4, 3, 4]: .ecdsaWithSHA512
        case [1, 3, 101, 112]: .ed25519
        default: nil
        }
    }
}

/// The algorithm OID of an AlgorithmIdentifier (parameters ignored).
struct AlgorithmIdentifierOID: DERParseable {
    let oid: ASN1ObjectIdentifier

    init(derEncoded node: ASN1Node) throws {
        guard case .constructed(let parts) = node.content, let first = parts.first(where: { _ in true }) else {
            throw RevocationList.Malformed(description: "malformed AlgorithmIdentifier")
        }
        oid = try ASN1ObjectIdentifier(derEncoded: first)
    }
}

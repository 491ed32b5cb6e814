import SwiftASN1
import X509

/// The CRL distribution points extension (RFC 5280 § 4.2.1.13, OID 2.5.29.31), which swift-certificates has no type
/// for, read with SwiftASN1:
///
///     CRLDistributionPoints ::= SEQUENCE SIZE (1..MAX) OF DistributionPoint
///     DistributionPoint ::= SEQUENCE {
///          distributionPoint       [0]     DistributionPointName OPTIONAL,
///          reasons                 [1]     ReasonFlags OPTIONAL,
///          cRLIssuer               [2]     GeneralNames OPTIONAL }
///     DistributionPointName ::= CHOICE {
///          fullName                [0]     GeneralNames,
///          nameRelativeToCRLIssuer [1]     RelativeDistinguishedName }
///
/// Only what a complete CRL of the certificate's own issuer can come from is kept: the `uniformResourceIdentifier`
/// names of a `fullName`, in a point without `reasons` (a partitioned CRL) or `cRLIssuer` (an indirect CRL), neither
/// of which ``RevocationList`` processes.
public struct CRLDistributionPoints: Sendable, Equatable {
    public static let oid: ASN1ObjectIdentifier = [2, 5, 29, 31]

    /// The URIs, in the certificate's order (any scheme: the fetcher takes `http` only).
    public var uris: [String]

    struct Malformed: Error, CustomStringConvertible {
        let description: String
    }

    /// The extension of `certificate`, nil when it has none; throws when it is present but malformed.
    public init?(_ certificate: Certificate) throws {
        guard let ext = certificate.extensions.first(where: { $0.oid == Self.oid }) else { return nil }
        try self.init(derEncoded: ext.value)
    }

    public init(derEncoded bytes: ArraySlice<UInt8>) throws {
        let root = try DER.parse(bytes)
        guard root.identifier == .sequence, case .constructed(let points) = root.content else {
            throw Malformed(description: "cRLDistributionPoints is not a SEQUENCE")
        }
        var uris: [String] = []
        for point in points {
            guard point.identifier == .sequence, case .constructed(let fields) = point.content else {
                throw Malformed(description: "a DistributionPoint is not a SEQUENCE")
            }
            var name: ASN1Node?
            var qualified = false
            for field in fields {
                switch field.identifier {
                case ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific): name = field
                case ASN1Identifier(tagWithNumber: 1, tagClass: .contextSpecific),
                     ASN1Identifier(tagWithNumber: 2, tagClass: .contextSpecific): qualified = true
                default: throw Malformed(description: "a DistributionPoint has an unexpected field \(field.identifier)")
                }
            }
            // [0] EXPLICIT (a CHOICE): one DistributionPointName inside.
            guard let name, case .constructed(let choice) = name.content else { continue }
            guard let chosen = choice.first(where: { _ in true }) else {
                throw Malformed(description: "a distributionPoint is empty")
            }
            // fullName [0] IMPLICIT GeneralNames; nameRelativeToCRLIssuer [1] is not a URI.
            guard chosen.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) else { continue }
            guard case .constructed(let names) = chosen.content else {
                throw Malformed(description: "a fullName is not a constructed GeneralNames")
            }
            for node in names {
                if case .uniformResourceIdentifier(let uri) = try GeneralName(derEncoded: node), !qualified {
                    uris.append(uri)
                }
            }
        }
        self.uris = uris
    }

    /// The `http://` URIs (what ``CRLFetcher`` fetches), at most `limit`.
    public func httpURIs(limit: Int = 4) -> [String] {
        Array(uris.filter { $0.lowercased().hasPrefix("http://") }.prefix(limit))
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import NIOHTTP1
import SwiftASN1
import Synchronization
import X509

/// Asks OCSP responders (the certificate's AIA `id-ad-ocsp` URI) for revocation status: the requester swift-certificates'
/// `OCSPVerifierPolicy` uses (that policy builds the request and verifies the response: responder signature by the
/// issuer or its delegated `id-kp-OCSPSigning` responder, CertID, thisUpdate/nextUpdate, status).
///
/// - Requests go out without a nonce (as RFC 5019's lightweight profile and browsers do), so that a response can be
///   reused: each is cached, keyed by the request (the CertID), until its earliest `nextUpdate` and never longer than
///   ``maximumCacheAge``; a response without `nextUpdate` is not cached.
/// - Each exchange is bounded: ``timeout`` for the whole HTTP exchange, ``maximumResponseBytes`` for the body. Only
///   `http` and `https` responders are asked.
/// - Per responder, the last success, the freshness of its last answer and the last error are kept for health.
///
/// A `Mutex` for the cache and status, not an actor: lookups happen once per certificate on the validation path.
public final class OCSPClient: Sendable {
    public struct ResponderStatus: Sendable, Equatable {
        public var lastSuccess: Date?
        /// The `nextUpdate` of the last response it sent.
        public var nextUpdate: Date?
        public var lastError: String?
        public var lastErrorAt: Date?
        /// Exchanges that failed since start (metrics).
        public var failures = 0
    }

    struct CachedResponse {
        var bytes: [UInt8]
        var until: Date
    }

    public let timeout: TimeAmount
    public let maximumResponseBytes: Int
    public let maximumCacheAge: TimeInterval
    private let http: HTTPClient
    private let cache = Mutex<[[UInt8]: CachedResponse]>([:])
    private let statuses = Mutex<[String: ResponderStatus]>([:])
    private let capacity: Int

    public init(
        http: HTTPClient, timeout: TimeAmount = .seconds(5), maximumResponseBytes: Int = 64 * 1024,
        maximumCacheAge: TimeInterval = 86_400, capacity: Int = 10_000
    ) {
        self.http = http
        self.timeout = timeout
        self.maximumResponseBytes = maximumResponseBytes
        self.maximumCacheAge = maximumCacheAge
        self.capacity = capacity
    }

    /// Each responder asked so far, by URI.
    public var responders: [String: ResponderStatus] {
        statuses.withLock { $0 }
    }

    /// Forgets every cached response (tests; an operator's reload).
    public func removeAll() {
        cache.withLock { $0.removeAll() }
    }

    struct Failure: Error, CustomStringConvertible {
        var description: String
    }

    /// The DER response for `request` (a DER OCSPRequest) from `uri`, from the cache while it is fresh.
    /// Returns the bytes and the response's earliest nextUpdate.
    func response(request: [UInt8], uri: String, now: Date) async throws -> (bytes: [UInt8], nextUpdate: Date?) {
        let key = try OCSPMessages.withoutNonce(request)
        if let hit = cache.withLock({ entries -> CachedResponse? in
            guard let entry = entries[key] else { return nil }
            guard entry.until > now else {
                entries[key] = nil
                return nil
            }
            return entry
        }) {
            return (hit.bytes, hit.until)
        }
        do {
            let bytes = try await post(key, to: uri)
            let nextUpdate = OCSPMessages.earliestNextUpdate(bytes)
            statuses.withLock { statuses in
                var status = statuses[uri] ?? ResponderStatus()
                status.lastSuccess = now
                status.nextUpdate = nextUpdate
                status.lastError = nil
                statuses[uri] = status
            }
            if let nextUpdate, nextUpdate > now {
                let until = min(nextUpdate, now.addingTimeInterval(maximumCacheAge))
                let capacity = self.capacity
                cache.withLock { entries in
                    if entries.count >= capacity {
                        entries = entries.filter { $0.value.until > now }
                        if entries.count >= capacity { entries.removeAll(keepingCapacity: true) }
                    }
                    entries[key] = CachedResponse(bytes: bytes, until: until)
                }
            }
            return (bytes, nextUpdate)
        } catch {
            statuses.withLock { statuses in
                var status = statuses[uri] ?? ResponderStatus()
                status.lastError = "\(error)"
                status.lastErrorAt = now
                status.failures += 1
                statuses[uri] = status
            }
            throw error
        }
    }

    private func post(_ body: [UInt8], to uri: String) async throws -> [UInt8] {
        guard let url = URL(string: uri), let scheme = url.scheme?.lowercased(), scheme == "http" || scheme == "https", url.host != nil else {
            throw Failure(description: "the OCSP responder URI '\(uri.prefix(200))' is not an http(s) URL")
        }
        var request = HTTPClientRequest(url: uri)
        request.method = .POST
        request.headers.add(name: "Content-Type", value: "application/ocsp-request")
        request.headers.add(name: "Accept", value: "application/ocsp-response")
        request.body = .bytes(ByteBuffer(bytes: body))
        let response: HTTPClientResponse
        do {
            response = try await http.execute(request, timeout: timeout)
        } catch {
            throw Failure(description: "the OCSP responder \(uri) did not answer within \(timeout.nanoseconds / 1_000_000) ms: \(error)")
        }
        guard response.status == .ok else {
            throw Failure(description: "the OCSP responder \(uri) answered HTTP \(response.status.code)")
        }
        do {
            let body = try await response.body.collect(upTo: maximumResponseBytes)
            return Array(body.readableBytesView)
        } catch {
            throw Failure(description: "the OCSP responder \(uri) sent more than \(maximumResponseBytes) bytes or broke off: \(error)")
        }
    }
}

/// What one validation learnt from OCSP: the earliest nextUpdate of the responses used and the responders' errors.
final class OCSPRecorder: Sendable {
    private let state = Mutex<(nextUpdate: Date?, errors: [String], asked: [String])>((nil, [], []))

    func consulted(uri: String, nextUpdate: Date?) {
        state.withLock { state in
            state.asked.append(uri)
            if let nextUpdate { state.nextUpdate = min(state.nextUpdate ?? nextUpdate, nextUpdate) }
        }
    }

    func failed(uri: String, _ error: String) {
        state.withLock { state in
            state.asked.append(uri)
            state.errors.append(error)
        }
    }

    var nextUpdate: Date? { state.withLock { $0.nextUpdate } }
    var errors: [String] { state.withLock { $0.errors } }
    var asked: [String] { state.withLock { $0.asked } }
}

/// swift-certificates' requester protocol over ``OCSPClient``: a responder that cannot be asked is a terminal error
/// (the chain is refused) with failure policy `closed`, a non-terminal one (the policy lets the chain pass) with `open`.
struct OCSPPolicyRequester: OCSPRequester {
    let client: OCSPClient
    let failure: RevocationFailurePolicy
    let recorder: OCSPRecorder
    let now: Date

    func query(request: [UInt8], uri: String) async -> OCSPRequesterQueryResult {
        do {
            let (bytes, nextUpdate) = try await client.response(request: request, uri: uri, now: now)
            recorder.consulted(uri: uri, nextUpdate: nextUpdate)
            return .response(bytes)
        } catch {
            recorder.failed(uri: uri, "\(error)")
            return failure == .closed ? .terminalError(error) : .nonTerminalError(error)
        }
    }
}

/// With failure policy `closed`: every certificate below the anchor names an OCSP responder (AIA), since without one
/// its status cannot be known (swift-certificates' policy lets such a certificate pass).
struct OCSPResponderRequired: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier] = []

    mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        for index in chain.indices.dropLast() {
            let certificate = chain[index]
            let access = try? certificate.extensions.authorityInformationAccess
            let hasResponder = access?.contains { description in
                guard description.method == .ocspServer, case .uniformResourceIdentifier = description.location else { return false }
                return true
            } ?? false
            if !hasResponder {
                return .failsToMeetPolicy(reason: "\(OCSPMessages.noResponderMarker) \(ChainRules.name(certificate))")
            }
        }
        return .meetsPolicy
    }
}

/// Lets the `Verifier` of the OCSP check accept the critical extensions of a chain that path building already
/// validated (the `Verifier` refuses a chain with a critical extension no policy claims).
struct AlreadyValidatedChain: VerifierPolicy {
    let verifyingCriticalExtensions: [ASN1ObjectIdentifier]

    init(_ chain: [Certificate]) {
        var oids: [ASN1ObjectIdentifier] = []
        for certificate in chain {
            for ext in certificate.extensions where ext.critical && !oids.contains(ext.oid) {
                oids.append(ext.oid)
            }
        }
        verifyingCriticalExtensions = oids
    }

    mutating func chainMeetsPolicyRequirements(chain: UnverifiedCertificateChain) async -> PolicyEvaluationResult {
        .meetsPolicy
    }
}

/// The little of the OCSP messages this module reads itself (swift-certificates keeps its OCSP types internal).
enum OCSPMessages {
    static let noResponderMarker = "no OCSP responder (authorityInfoAccess id-ad-ocsp) is named by"

    /// `request` (OCSPRequest DER) without its requestExtensions (the nonce) or signature: `SEQUENCE { SEQUENCE {
    /// requestList } }`, version v1 by default.
    static func withoutNonce(_ request: [UInt8]) throws -> [UInt8] {
        let root = try DER.parse(request)
        guard case .constructed(let outer) = root.content, let tbs = outer.first(where: { _ in true }),
              case .constructed(let fields) = tbs.content,
              let requestList = fields.first(where: { $0.identifier == .sequence })
        else {
            throw OCSPClient.Failure(description: "the OCSP request built by the verifier has an unexpected shape")
        }
        var serializer = DER.Serializer()
        serializer.appendConstructedNode(identifier: .sequence) { outer in
            outer.appendConstructedNode(identifier: .sequence) { tbs in
                tbs.serialize(requestList)
            }
        }
        return serializer.serializedBytes
    }

    /// The earliest `nextUpdate` among the SingleResponses of a successful OCSPResponse; nil when absent or unreadable.
    static func earliestNextUpdate(_ response: [UInt8]) -> Date? {
        guard let root = try? DER.parse(response), case .constructed(let top) = root.content else { return nil }
        // OCSPResponse ::= SEQUENCE { responseStatus ENUMERATED, responseBytes [0] EXPLICIT ResponseBytes OPTIONAL }
        guard let bytesNode = top.first(where: { $0.identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific) }),
              case .constructed(let explicit) = bytesNode.content, let responseBytes = explicit.first(where: { _ in true }),
              case .constructed(let typeAndBytes) = responseBytes.content
        else { return nil }
        // ResponseBytes ::= SEQUENCE { responseType OID, response OCTET STRING (BasicOCSPResponse DER) }
        guard let octets = typeAndBytes.first(where: { $0.identifier == .octetString }),
              case .primitive(let basicDER) = octets.content,
              let basic = try? DER.parse(basicDER), case .constructed(let basicFields) = basic.content,
              let tbs = basicFields.first(where: { _ in true }), case .constructed(let tbsFields) = tbs.content
        else { return nil }
        // ResponseData ::= SEQUENCE { version [0], responderID [1]|[2], producedAt, responses SEQUENCE OF, ... }
        guard let responses = tbsFields.first(where: { $0.identifier == .sequence }),
              case .constructed(let singles) = responses.content
        else { return nil }
        var earliest: Date?
        for single in singles {
            guard case .constructed(let collection) = single.content else { return nil }
            // SingleResponse ::= SEQUENCE { certID, certStatus, thisUpdate, nextUpdate [0] EXPLICIT OPTIONAL, ... }
            // (certStatus `good` is itself a primitive [0], so position tells them apart.)
            let parts = Array(collection)
            guard parts.count >= 4, parts[3].identifier == ASN1Identifier(tagWithNumber: 0, tagClass: .contextSpecific),
                  case .constructed(let inner) = parts[3].content, let timeNode = Array(inner).first,
                  let next = try? RevocationList.time(timeNode)
            else { return nil }
            earliest = min(earliest ?? next, next)
        }
        return earliest
    }
}

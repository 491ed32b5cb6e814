import Crypto
import Foundation
import Keystore
import _CryptoExtras
import WireFormat

/// The emulator's signing keys: the current one signs, the previous stays in the JWKS after a rotation
/// (as Entra publishes several keys).
public actor SigningKeys {
    public struct Key: Sendable {
        public var kid: String
        public var privateKey: _RSA.Signing.PrivateKey
    }

    private(set) var current: Key
    private var previous: [Key] = []

    public init() throws {
        current = try Self.generate()
    }

    /// The key that signs new tokens.
    public func signingKey() -> Key { current }

    /// Every published key, current first.
    public func published() -> [Key] { [current] + previous }

    /// Makes a new signing key current; `keepPrevious` leaves the old one in the JWKS.
    public func rotate(keepPrevious: Bool) throws -> String {
        let next = try Self.generate()
        previous = keepPrevious ? Array(([current] + previous).prefix(2)) : []
        current = next
        return next.kid
    }

    static func generate() throws -> Key {
        let key = try _RSA.Signing.PrivateKey(keySize: .bits2048)
        let kid = Base64URL.encode(Array(SHA256.hash(data: key.publicKey.derRepresentation)).prefix(20))
        return Key(kid: kid, privateKey: key)
    }
}

/// Counters and injected faults, for tests and demos (`/_emulator/*`).
public actor EmulatorControl {
    public struct Stats: Codable, Sendable {
        public var tokenRequests: Int = 0
        public var tokensIssued: Int = 0
        public var failures: Int = 0
        public var byClient: [String: Int] = [:]
        /// Requests that arrived at the mTLS endpoint alias (RFC 8705 §5).
        public var mtlsEndpointRequests: Int = 0
        enum CodingKeys: String, CodingKey {
            case tokenRequests = "token_requests", tokensIssued = "tokens_issued", failures, byClient = "by_client", mtlsEndpointRequests = "mtls_endpoint_requests"
        }
    }

    /// A fault answered instead of the real token response, `count` times.
    public struct Fault: Codable, Sendable {
        public var status: Int
        public var count: Int
        public var retryAfter: Int?
        public var error: String?
        public var errorCodes: [Int]?
        /// Seconds to wait before answering (to test timeouts).
        public var delay: Double?

        public init(status: Int, count: Int = 1, retryAfter: Int? = nil, error: String? = nil, errorCodes: [Int]? = nil, delay: Double? = nil) {
            self.status = status
            self.count = count
            self.retryAfter = retryAfter
            self.error = error
            self.errorCodes = errorCodes
            self.delay = delay
        }
        enum CodingKeys: String, CodingKey {
            case status, count, error, delay
            case retryAfter = "retry_after", errorCodes = "error_codes"
        }
    }

    private(set) var stats = Stats()
    private var faults: [Fault] = []

    public init() {}

    public func recordRequest(clientID: String?, mtlsEndpoint: Bool = false) {
        stats.tokenRequests += 1
        if mtlsEndpoint { stats.mtlsEndpointRequests += 1 }
        if let clientID { stats.byClient[clientID, default: 0] += 1 }
    }

    public func recordIssued() { stats.tokensIssued += 1 }
    public func recordFailure() { stats.failures += 1 }
    public func snapshot() -> Stats { stats }
    public func reset() { stats = Stats(); faults = [] }
    public func inject(_ fault: Fault) { faults.append(fault) }

    /// The next fault to answer with, if any is left.
    public func nextFault() -> Fault? {
        guard var fault = faults.first else { return nil }
        fault.count -= 1
        if fault.count <= 0 { faults.removeFirst() } else { faults[0] = fault }
        return fault
    }
}

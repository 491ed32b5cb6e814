import Crypto
import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// Intermediate CA certificates seen in clients' TLS handshakes, kept so the chain of a connection's leaf can be built
/// in the request handler (TLS hands the handler only the leaf). They are untrusted input: they only help build a path
/// to a configured anchor. Bounded; the oldest are dropped first.
public actor IntermediatePool {
    private var certificates: [[UInt8]: Certificate] = [:]
    private var order: [[UInt8]] = []
    private let capacity: Int
    private let fixed: [Certificate]

    public init(fixed: [Certificate], capacity: Int = 1024) {
        self.fixed = fixed
        self.capacity = capacity
    }

    /// Records the non-leaf certificates a client presented (DER).
    public func record(_ ders: [[UInt8]]) {
        for der in ders {
            let key = Array(SHA256.hash(data: der))
            guard certificates[key] == nil, let certificate = try? Certificate(derEncoded: der) else { continue }
            certificates[key] = certificate
            order.append(key)
            if order.count > capacity {
                certificates[order.removeFirst()] = nil
            }
        }
    }

    /// The configured intermediates plus those seen.
    public func all() -> [Certificate] {
        fixed + order.compactMap { certificates[$0] }
    }
}

/// The TLS verification callback of a listener that validates client chains per request (authn, the emulator's
/// tls_client_auth). It accepts every presented chain at the TLS layer and records
/// the intermediates, so that the request handler can validate the chain itself and refuse a bad one with a 401
/// that says why (a TLS alert says nothing). The TLS handshake still proves the client holds the leaf's key.
/// Every request path that uses the peer certificate validates it: nothing trusts it because TLS accepted it.
public func recordingVerificationCallback(pool: IntermediatePool) -> @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResult>) -> Void {
    { certificates, promise in
        let ders = certificates.dropFirst().compactMap { try? $0.toDERBytes() }
        if ders.isEmpty {
            promise.succeed(.certificateVerified)
            return
        }
        promise.completeWithTask {
            await pool.record(ders)
            return .certificateVerified
        }
    }
}

import NIOCore
import NIOSSL
import SwiftASN1
import X509

/// The certificates a client presented in its TLS handshake, kept with that connection (issue 16 item 4).
///
/// TLS hands a request handler only the leaf, so the listener's verification callback keeps the whole presented list
/// in the connection's TLS handler (NIOSSL's verification metadata), and each request reads it back from its own
/// connection: a client's intermediates help build its own chain only, never another client's, and nothing a client
/// sends outlives its connection. (There was a process-wide pool of intermediates seen from all clients: a leaf sent
/// without its chain passed if some other client had sent the intermediate earlier, and any client could fill it.)
///
/// NIOSSL calls the slot `peerValidatedCertificateChain`; on our listeners it holds the chain as presented, which is
/// untrusted input: every request path validates it with ``ClientCertificateValidator`` (dates, constraints, purpose,
/// path to a configured anchor) and nothing trusts it because TLS accepted it. The handshake still proves that the
/// client holds the leaf's key. Nothing else in the suite reads that slot.
public enum PresentedChain {
    /// The TLS verification callback of a listener that validates client chains per request (authn's): accepts every
    /// presented chain at the TLS layer, so that the request handler can refuse a bad one with an answer that says why
    /// (a TLS alert says nothing), and keeps the chain with the connection. (The emulator, still on Hummingbird's own
    /// server, keys chains by leaf instead: `ClientCertificateCheck`.)
    public static let verificationCallback: @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void = { certificates, promise in
        guard !certificates.isEmpty else {
            promise.succeed(.certificateVerified(VerificationMetadata(nil)))
            return
        }
        promise.succeed(.certificateVerified(VerificationMetadata(NIOSSL.ValidatedCertificateChain(certificates))))
    }

    /// The intermediates (everything after the leaf) the client presented on `channel`'s connection: `channel` itself
    /// or, for an HTTP/2 stream channel, its parent. Empty when it presented only a leaf, or on a listener without
    /// ``verificationCallback``. Certificates that do not parse are left out (the leaf's chain then fails to build and
    /// the refusal says which issuer is missing).
    public static func intermediates(on channel: any Channel) async -> [Certificate] {
        for candidate in [channel, channel.parent].compactMap({ $0 }) {
            let chain: NIOSSL.ValidatedCertificateChain?
            do {
                chain = try await candidate.nioSSL_peerValidatedCertificateChain().get()
            } catch {
                continue  // no TLS handler on this channel: try the parent
            }
            guard let chain else { return [] }
            return chain.dropFirst().compactMap { certificate in
                guard let der = try? certificate.toDERBytes() else { return nil }
                return try? Certificate(derEncoded: der)
            }
        }
        return []
    }
}

/// The untrusted intermediates that come with a client certificate: forwarded with it by a trusted proxy, or presented
/// on the request's own connection (read only when needed: a cached verdict that needed none skips the read).
public struct PresentedIntermediates: Sendable {
    private let read: @Sendable () async -> [Certificate]

    /// Certificates that came with the leaf (a forwarded chain, a file).
    public static func list(_ certificates: [Certificate]) -> PresentedIntermediates {
        PresentedIntermediates(read: { certificates })
    }

    /// Those the client presented in the TLS handshake of `channel`'s connection (``PresentedChain``).
    public static func connection(_ channel: any Channel) -> PresentedIntermediates {
        PresentedIntermediates(read: { await PresentedChain.intermediates(on: channel) })
    }

    public func certificates() async -> [Certificate] {
        await read()
    }
}

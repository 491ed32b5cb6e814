import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL

/// A TLS verification callback with metadata (NIOSSL's `NIOSSLCustomVerificationCallbackWithMetadata`, sendable).
public typealias ClientChainCallback = @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void

extension ListenerSettings {
    /// The HTTPS application of a service on this listener: HTTP/2 through ALPN with HTTP/1.1 fallback over `tls`
    /// (``ServiceServerChannel``).
    /// Fulfils `port` once bound and logs "`name` listening" with the address, port, client-auth mode and `metadata`.
    /// `clientChainCallback`, when set, replaces `tls.customVerificationCallback`: a verification callback that keeps
    /// the client's presented chain with its connection (CertificateValidation's `PresentedChain`).
    public func application(
        name: String, router: Router<ServiceRequestContext>, tls: HummingbirdHTTP2.TLSChannelConfiguration,
        port: PortHandle, logger: Logger, metadata: Logger.Metadata = [:],
        clientChainCallback: ClientChainCallback? = nil
    ) throws -> Application<RouterResponder<ServiceRequestContext>> {
        let address = self.address
        let configured = self.port
        let clientAuth = self.clientAuth.rawValue
        let handlersOnEventLoop = self.handlersOnEventLoop
        let responder = router.buildResponder()
        let http2 = HTTP2RequestHandler.Shared(
            responder: responder, logger: logger, bindToEventLoop: handlersOnEventLoop,
            maximumBodySize: ServiceRequestContext.maximumBodySize)
        return Application(
            responder: responder,
            server: HTTPServerBuilder { http1Responder in
                try ServiceServerChannel(
                    tls: tls, clientChainCallback: clientChainCallback, http1Responder: http1Responder, http2: http2)
            },
            configuration: .init(address: .hostname(address, port: configured), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? configured
                port.fulfil(bound)
                logger.info("\(name) listening", metadata: [
                    "address": .string(address), "port": .stringConvertible(bound), "client_auth": .string(clientAuth),
                ].merging(metadata) { $1 })
            },
            logger: logger)
    }
}

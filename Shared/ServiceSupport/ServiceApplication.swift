import AuthProtocol
import HTTPServing
import Hummingbird
import HummingbirdCore
import HummingbirdHTTP2
import Logging
import NIOCore
import NIOSSL
import Settings

/// A TLS verification callback with metadata (NIOSSL's `NIOSSLCustomVerificationCallbackWithMetadata`, sendable).
public typealias ClientChainCallback = @Sendable ([NIOSSLCertificate], EventLoopPromise<NIOSSLVerificationResultWithMetadata>) -> Void

extension ListenerSettings {
    /// The HTTPS application of a service on this listener: HTTP/2 through ALPN with HTTP/1.1 fallback over `tls`
    /// (``ServiceServerChannel``).
    /// Fulfils `port` once bound and logs "`name` listening" with the address, port, client-auth mode and `metadata`
    /// (`onBound`, given the bound port, may add to it). `clientChainCallback`, when set, replaces
    /// `tls.customVerificationCallback`: a verification callback that keeps the client's presented chain with its
    /// connection (CertificateValidation's `PresentedChain`). `immediate` answers what it can at once on the event loop
    /// (the lean path, ``ImmediateResponder``); the rest goes to `router`. `tlsContext`, when given, supplies the TLS
    /// material of each new connection (reloaded without restart, ``ServerTLSContext``) in place of
    /// `tls.tlsConfiguration`; `tls` still brings the verification callback.
    public func application(
        name: String, router: Router<ServiceRequestContext>, tls: HummingbirdHTTP2.TLSChannelConfiguration? = nil,
        tlsContext: ServerTLSContext? = nil,
        port: PortHandle, logger: Logger, metadata: Logger.Metadata = [:],
        clientChainCallback: ClientChainCallback? = nil,
        immediate: (any ImmediateResponder)? = nil,
        onBound: (@Sendable (Int) -> Logger.Metadata)? = nil
    ) throws -> Application<RouterResponder<ServiceRequestContext>> {
        let address = self.address
        let configured = self.port
        let clientAuth = self.clientAuth.rawValue
        let handlersOnEventLoop = self.handlersOnEventLoop
        let responder = router.buildResponder()
        var settings = HTTP2ServerSettings()
        settings.maximumBodySize = ServiceRequestContext.maximumBodySize
        settings.requestReadTimeout = .seconds(Int64(requestReadTimeout))
        settings.idleTimeout = .seconds(Int64(idleTimeout))
        let http2 = HTTP2Serving(responder: responder, logger: logger, bindToEventLoop: handlersOnEventLoop, settings: settings, immediate: immediate)
        let handshakeTimeout = TimeAmount.seconds(Int64(self.handshakeTimeout))
        let context: ServerTLSContext
        if let tlsContext {
            context = tlsContext
        } else if let tls {
            context = try ServerTLSContext(fixed: tls.tlsConfiguration)
        } else {
            throw ConfigurationError(variable: "SERVER_SSL_KEY_STORE", message: "is not set; the \(name) listener needs TLS material")
        }
        let verification = tls?.customVerificationCallback
        return Application(
            responder: responder,
            server: HTTPServerBuilder { http1Responder in
                try ServiceServerChannel(
                    verification: verification, tlsContext: context, clientChainCallback: clientChainCallback, http1Responder: http1Responder, http2: http2,
                    handshakeTimeout: handshakeTimeout)
            },
            configuration: .init(address: .hostname(address, port: configured), serverName: nil),
            onServerRunning: { channel in
                let bound = channel.localAddress?.port ?? configured
                let added = onBound?(bound) ?? [:]
                port.fulfil(bound)
                logger.info("\(name) listening", metadata: [
                    LogKey.serverAddress: .string(address), LogKey.serverPort: .stringConvertible(bound), LogKey.tlsClientAuth: .string(clientAuth),
                ].merging(metadata) { $1 }.merging(added) { $1 })
            },
            logger: logger)
    }
}

// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "certauth",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "token-issuer", targets: ["TokenIssuerServer"]),
        .executable(name: "entra-emulator", targets: ["EntraEmulatorServer"]),
        .executable(name: "certauth", targets: ["CertAuthCLI"]),
        .executable(name: "authn", targets: ["AuthnServer"]),
        .executable(name: "roles", targets: ["RolesServer"]),
        .executable(name: "certauth-bench", targets: ["CertAuthBench"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.2"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.6"),
        .package(url: "https://github.com/apple/swift-crypto.git", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-certificates.git", from: "1.21.1"),
        .package(url: "https://github.com/apple/swift-asn1.git", from: "1.7.4"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-http-types.git", from: "1.8.0"),
        .package(url: "https://github.com/apple/swift-http-structured-headers.git", from: "1.7.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.1"),
        .package(url: "https://github.com/apple/swift-nio-extras.git", from: "1.35.2"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.13.0"),
        .package(url: "https://github.com/groue/GRDB.swift.git", from: "7.10.0"),
        .package(url: "https://github.com/vapor/postgres-nio.git", from: "1.33.2"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.7.3"),
        // OTLP/HTTP only: the default traits add OTLP/gRPC, which builds grpc-swift-2 and its transport (minutes of
        // every clean build) for an exporter the suite does not use.
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // base64 (WireFormat's encoder and lenient decoder; the strict JWS decoder is ours, held to it by a test).
        .package(url: "https://github.com/swift-extras/swift-extras-base64.git", from: "1.2.0"),
        // W3C trace context: the reference our lean-path `traceparent` parser is tested against (tests only).
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
    ],
    targets: [
        // MARK: Shared libraries
        // Wire formats every layer shares, one codec of each: hex, base64url (lenient and strict), JSON (value, strict
        // reader, writer with the one string escaper), RFC 3339 and HTTP dates, form URL-encoding. One package:
        // swift-extras-base64 under Base64URL (the strict JWS decoder is ours: bench/README.md).
        .target(
            name: "WireFormat",
            dependencies: [.product(name: "ExtrasBase64", package: "swift-extras-base64")],
            path: "Shared/WireFormat"
        ),
        .target(
            name: "AuthProtocol",
            dependencies: ["WireFormat", .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers")],
            path: "Shared/AuthProtocol"
        ),
        .target(
            name: "CPKCS12",
            path: "Shared/CPKCS12",
            linkerSettings: [.linkedLibrary("crypto")]
        ),
        .target(name: "CPlatform", path: "Shared/CPlatform"),
        // The system libnghttp2 (Debian: libnghttp2-dev): HTTP/2 framing, HPACK, stream state, flow control.
        .systemLibrary(name: "CNGHTTP2", path: "Shared/CNGHTTP2", pkgConfig: "libnghttp2", providers: [.apt(["libnghttp2-dev"])]),
        .target(
            name: "HTTPServing",
            dependencies: [
                "CNGHTTP2", "WireFormat",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Shared/HTTPServing"
        ),
        .target(
            name: "Keystore",
            dependencies: [
                "WireFormat", "CPKCS12",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Shared/Keystore"
        ),
        // JOSE: algorithms, the header, JWK/JWKS, the one strict compact-JWS reader, signing and the one `verify`.
        .target(
            name: "JOSE",
            dependencies: [
                "WireFormat", "Keystore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Shared/JOSE"
        ),
        .target(
            name: "ClientAssertion",
            dependencies: [
                "WireFormat", "Keystore", "JOSE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Shared/ClientAssertion"
        ),
        .target(
            name: "DevPKI",
            dependencies: [
                "Keystore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Shared/DevPKI"
        ),
        // Reading settings from the environment (and `*_FILE` secrets) with errors that name the variable: Foundation
        // only, so Storage and the CLI read settings without linking the server.
        .target(name: "Settings", path: "Shared/Settings"),
        .target(
            name: "ServiceSupport",
            dependencies: [
                "WireFormat", "AuthProtocol", "Settings",
                "CPlatform",
                "HTTPServing",
                "Keystore",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "NIOTLS", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOHTTPTypes", package: "swift-nio-extras"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "UnixSignals", package: "swift-service-lifecycle"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/ServiceSupport"
        ),
        // The outbound side: the internal client with its peer pool, and the IdP calls' egress proxy and transport
        // rules. Only the services that call out link AsyncHTTPClient through it.
        .target(
            name: "ServiceClient",
            dependencies: [
                "AuthProtocol", "Keystore", "Settings", "ServiceSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            path: "Shared/ServiceClient"
        ),
        // Trace export over OTLP/HTTP (swift-otel): only the service executables link it; the libraries make spans
        // through swift-distributed-tracing's API alone.
        .target(
            name: "TraceExport",
            dependencies: [
                "ServiceSupport", "AuthProtocol",
                .product(name: "OTel", package: "swift-otel"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Shared/TraceExport"
        ),
        .target(
            name: "TokenValidation",
            dependencies: [
                "WireFormat", "AuthProtocol", "Keystore", "JOSE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/TokenValidation"
        ),
        .target(
            name: "CertificateValidation",
            dependencies: [
                "WireFormat", "Keystore",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ],
            path: "Shared/CertificateValidation"
        ),
        .target(
            name: "Storage",
            dependencies: [
                "AuthProtocol", "Settings",
                .product(name: "GRDB", package: "GRDB.swift"),
                .product(name: "PostgresNIO", package: "postgres-nio"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Shared/Storage"
        ),

        // MARK: Services
        .target(
            name: "TokenIssuer",
            dependencies: [
                "WireFormat", "Settings", "AuthProtocol", "Keystore", "ClientAssertion", "JOSE", "ServiceSupport", "ServiceClient",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Services/TokenIssuer"
        ),
        .executableTarget(
            name: "TokenIssuerServer",
            dependencies: ["TokenIssuer", "ServiceSupport", "TraceExport", .product(name: "Logging", package: "swift-log")],
            path: "Services/TokenIssuerServer"
        ),
        .target(
            name: "EntraEmulator",
            dependencies: [
                "WireFormat", "Settings", "AuthProtocol", "Keystore", "JOSE", "ServiceSupport", "ServiceClient", "CertificateValidation", "TokenValidation",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/EntraEmulator"
        ),
        .executableTarget(
            name: "EntraEmulatorServer",
            dependencies: ["EntraEmulator", "ServiceSupport", "TraceExport", .product(name: "Logging", package: "swift-log")],
            path: "Services/EntraEmulatorServer"
        ),
        .target(
            name: "Authn",
            dependencies: [
                "WireFormat", "Settings", "AuthProtocol", "Keystore", "ServiceSupport", "ServiceClient", "HTTPServing", "TokenValidation", "CertificateValidation", "Storage",
                .product(name: "RawStructuredFieldValues", package: "swift-http-structured-headers"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HummingbirdTLS", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Authn"
        ),
        .executableTarget(
            name: "AuthnServer",
            dependencies: ["Authn", "ServiceSupport", "TraceExport", .product(name: "Logging", package: "swift-log")],
            path: "Services/AuthnServer"
        ),
        .target(
            name: "Roles",
            dependencies: [
                "WireFormat", "Settings", "AuthProtocol", "ServiceSupport", "Storage",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Services/Roles"
        ),
        .executableTarget(
            name: "RolesServer",
            dependencies: ["Roles", "ServiceSupport", "TraceExport", .product(name: "Logging", package: "swift-log")],
            path: "Services/RolesServer"
        ),
        .executableTarget(
            name: "CertAuthCLI",
            dependencies: [
                "WireFormat", "Settings", "DevPKI", "Keystore", "AuthProtocol", "JOSE", "TokenValidation", "CertificateValidation",
                "ServiceSupport", "ServiceClient", "Storage", "TokenIssuer", "Authn", "Roles", "EntraEmulator",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/CertAuthCLI"
        ),

        // MARK: Benchmarks (make bench)
        .executableTarget(
            name: "CertAuthBench",
            dependencies: [
                "WireFormat", "AuthProtocol", "ClientAssertion", "JOSE", "DevPKI", "Keystore", "Storage", "TokenValidation",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Services/CertAuthBench"
        ),

        // MARK: Tests
        .target(
            name: "TestSupport",
            dependencies: [
                "DevPKI", "Keystore", "ServiceSupport",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/TestSupport"
        ),
        .testTarget(
            name: "ServiceSupportTests",
            dependencies: [
                "ServiceSupport", "Settings", "AuthProtocol", "Keystore", "TestSupport", "CertificateValidation", "HTTPServing",
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            path: "Tests/ServiceSupportTests"
        ),
        .testTarget(
            name: "ServiceClientTests",
            dependencies: [
                "ServiceClient", "ServiceSupport", "Keystore", "CertificateValidation", "TestSupport", "Settings",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdHTTP2", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            path: "Tests/ServiceClientTests"
        ),
        .testTarget(name: "ArchitectureTests", path: "Tests/ArchitectureTests"),
        .testTarget(
            name: "WireFormatTests",
            dependencies: ["WireFormat", .product(name: "ExtrasBase64", package: "swift-extras-base64"), .product(name: "Hummingbird", package: "hummingbird")],
            path: "Tests/WireFormatTests"
        ),
        .testTarget(name: "SettingsTests", dependencies: ["Settings"], path: "Tests/SettingsTests"),
        .testTarget(
            name: "StorageTests",
            dependencies: ["Storage", "Settings", "AuthProtocol", "TestSupport", .product(name: "Logging", package: "swift-log")],
            path: "Tests/StorageTests"
        ),
        .testTarget(
            name: "HTTPServingTests",
            dependencies: [
                "HTTPServing", "CNGHTTP2",
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOEmbedded", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/HTTPServingTests"
        ),
        .testTarget(
            name: "AuthProtocolTests",
            dependencies: ["AuthProtocol", "WireFormat"],
            path: "Tests/AuthProtocolTests"
        ),
        .testTarget(
            name: "KeystoreTests",
            dependencies: ["WireFormat", "Keystore", "DevPKI", "TestSupport", .product(name: "X509", package: "swift-certificates")],
            path: "Tests/KeystoreTests"
        ),
        .testTarget(
            name: "ClientAssertionTests",
            dependencies: ["ClientAssertion", "JOSE", "Keystore", "DevPKI", "TestSupport",
                           .product(name: "Crypto", package: "swift-crypto"),
                           .product(name: "_CryptoExtras", package: "swift-crypto"),
                           .product(name: "X509", package: "swift-certificates")],
            path: "Tests/ClientAssertionTests"
        ),
        .testTarget(
            name: "JOSETests",
            dependencies: [
                "JOSE", "WireFormat", "Keystore",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
            ],
            path: "Tests/JOSETests"
        ),
        .testTarget(
            name: "TokenIssuerTests",
            dependencies: [
                "WireFormat", "Settings", "TokenIssuer", "EntraEmulator", "ServiceSupport", "ServiceClient", "AuthProtocol", "TestSupport", "DevPKI", "Keystore", "ClientAssertion", "JOSE",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "X509", package: "swift-certificates"),
            ],
            path: "Tests/TokenIssuerTests"
        ),
        .testTarget(
            name: "EntraEmulatorTests",
            dependencies: [
                "EntraEmulator", "WireFormat", "Settings", "AuthProtocol", "Keystore", "ClientAssertion", "JOSE", "DevPKI", "ServiceSupport", "ServiceClient", "TestSupport",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/EntraEmulatorTests"
        ),
        .testTarget(
            name: "DevPKITests",
            dependencies: [
                "DevPKI", "Keystore", "TestSupport",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
            ],
            path: "Tests/DevPKITests"
        ),
        .testTarget(
            name: "TokenValidationTests",
            dependencies: [
                "WireFormat", "TokenValidation", "AuthProtocol", "JOSE", "Keystore", "DevPKI", "TestSupport",
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Logging", package: "swift-log"),
            ],
            path: "Tests/TokenValidationTests"
        ),
        .testTarget(
            name: "CertificateValidationTests",
            dependencies: [
                "CertificateValidation", "Keystore", "DevPKI", "TestSupport",
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
            ],
            path: "Tests/CertificateValidationTests"
        ),
        .testTarget(
            name: "RolesTests",
            dependencies: [
                "WireFormat", "Settings", "Roles", "Storage", "AuthProtocol", "ServiceSupport", "TestSupport", "DevPKI", "CertificateValidation",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/RolesTests"
        ),
        .testTarget(
            name: "AuthnTests",
            dependencies: [
                "WireFormat", "Settings", "Authn", "HTTPServing", "TokenValidation", "CertificateValidation", "Storage", "AuthProtocol", "ServiceSupport",
                "TestSupport", "DevPKI", "Keystore", "ClientAssertion", "JOSE", "TokenIssuer", "EntraEmulator", "Roles",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HummingbirdTesting", package: "hummingbird"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
                .product(name: "Crypto", package: "swift-crypto"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ],
            path: "Tests/AuthnTests"
        ),
        .testTarget(
            name: "EndToEndTests",
            dependencies: [
                "AuthProtocol", "TestSupport", "DevPKI", "CertificateValidation", "Keystore", "JOSE", "WireFormat",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "X509", package: "swift-certificates"),
                .product(name: "SwiftASN1", package: "swift-asn1"),
                .product(name: "_CryptoExtras", package: "swift-crypto"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "HTTPTypes", package: "swift-http-types"),
            ],
            path: "Tests/EndToEndTests"
        ),
    ]
)

for target in package.targets where target.type != .plugin && target.type != .system {
    var settings = target.swiftSettings ?? []
    settings.append(.enableUpcomingFeature("ExistentialAny"))
    settings.append(.enableUpcomingFeature("MemberImportVisibility"))
    target.swiftSettings = settings
}

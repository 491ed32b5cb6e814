import Foundation

/// One HTTP/1.1 exchange with bytes exactly as given, over TLS by `openssl s_client` (an independent client that
/// does not normalise the request target the way HTTP libraries do).
public enum RawHTTP1 {
    public struct Answer: Sendable {
        public var status: Int
        public var text: String
        /// What openssl printed on standard error (with `-brief`: the protocol, cipher and peer signature type).
        public var diagnostics: String = ""
    }

    /// Runs the exchange on a dispatch thread, not on the Swift concurrency pool: it blocks until openssl ends, and a
    /// blocked pool thread (two on a 2-core machine) can starve the in-process server the test is talking to.
    /// `tlsArguments`: more `openssl s_client` options (`-tls1_2`, `-sigalgs`, `-brief`…).
    public static func send(port: Int, pki: TestPKI, certificate: String?, request: String, tlsArguments: [String] = []) async throws -> Answer {
        try await withCheckedThrowingContinuation { continuation in
            DispatchQueue.global().async {
                continuation.resume(with: Result {
                    try sendBlocking(port: port, pki: pki, certificate: certificate, request: request, tlsArguments: tlsArguments)
                })
            }
        }
    }

    static func sendBlocking(port: Int, pki: TestPKI, certificate: String?, request: String, tlsArguments: [String]) throws -> Answer {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/openssl")
        var arguments = ["s_client", "-connect", "127.0.0.1:\(port)", "-servername", "localhost", "-alpn", "http/1.1",
                         "-CAfile", pki.path("truststore.pem"), "-quiet", "-ign_eof"]
        if let certificate { arguments += ["-cert", pki.path("\(certificate).crt"), "-key", pki.path("\(certificate).key")] }
        process.arguments = arguments + tlsArguments
        let input = Pipe(), output = Pipe(), errors = Pipe()
        process.standardInput = input
        process.standardOutput = output
        process.standardError = errors
        try process.run()
        input.fileHandleForWriting.write(Data(request.utf8))
        try input.fileHandleForWriting.close()
        // Bounded: the server closes after its answer (Connection: close); if it does not, openssl is stopped at 30 s.
        DispatchQueue.global().asyncAfter(deadline: .now() + .seconds(30)) { [process] in
            if process.isRunning { process.terminate() }
        }
        let data = output.fileHandleForReading.readDataToEndOfFile()
        let diagnostics = errors.fileHandleForReading.readDataToEndOfFile()  // a few lines: never fills the pipe first
        process.waitUntilExit()
        let text = String(decoding: data, as: UTF8.self)
        let statusLine = text.split(separator: "\r\n", maxSplits: 1).first ?? ""
        let parts = statusLine.split(separator: " ")
        return Answer(
            status: parts.count > 1 ? Int(parts[1]) ?? 0 : 0, text: text, diagnostics: String(decoding: diagnostics, as: UTF8.self))
    }
}

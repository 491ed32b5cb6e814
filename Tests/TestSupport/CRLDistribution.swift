import Foundation

/// An `openssl ca` CA whose client certificates name a CRL distribution point (`crlDistributionPoints =
/// URI:http://127.0.0.1:PORT/...`), and a small HTTP server (Python's `http.server`, an independent implementation)
/// serving the CRLs it makes with `openssl ca -gencrl`, started on a port the test checks that very process holds
/// (issue 17 item 4).
public final class CRLDistribution: Sendable {
    public let directory: String
    /// What the HTTP server serves.
    public let served: String
    public let port: Int
    private let server: Process

    public struct Failure: Error, CustomStringConvertible {
        public var description: String
    }

    /// The URL of the CA's CRL (`ca.crl`, DER).
    public var url: String { "http://127.0.0.1:\(port)/ca.crl" }

    public init(name: String = "CRL DP Test CA") async throws {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("crl-dp-\(UUID().uuidString)").path
        let served = "\(directory)/www"
        try FileManager.default.createDirectory(atPath: served, withIntermediateDirectories: true)
        try Self.write(directory, "ca.cnf", """
            [ ca ]
            default_ca = dp_ca
            [ dp_ca ]
            database = index.txt
            new_certs_dir = .
            serial = serial
            crlnumber = crlnumber
            default_md = sha256
            default_days = 30
            default_crl_days = 7
            policy = accept_any
            unique_subject = no
            [ accept_any ]
            commonName = supplied

            """)
        try Self.write(directory, "req.cnf", """
            [ req ]
            distinguished_name = dn
            x509_extensions = v3
            [ dn ]
            [ v3 ]
            basicConstraints = critical,CA:TRUE
            keyUsage = critical,keyCertSign,cRLSign
            subjectKeyIdentifier = hash

            """)
        try Self.write(directory, "index.txt", "")
        try Self.write(directory, "serial", "3000\n")
        try Self.write(directory, "crlnumber", "01\n")
        try Self.openssl(in: directory, ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "30",
                                         "-subj", "/CN=\(name)", "-config", "req.cnf"])
        let python = FileManager.default.isExecutableFile(atPath: "/usr/bin/python3") ? "/usr/bin/python3" : "/usr/local/bin/python3"
        let started: (process: Process, port: Int)
        do {
            started = try await ListeningProcess.start("python3 -m http.server", seconds: 20) { port, _ in
                let process = Process()
                process.executableURL = URL(fileURLWithPath: python)
                process.arguments = ["-m", "http.server", String(port), "--bind", "127.0.0.1", "--directory", served]
                process.standardOutput = FileHandle.nullDevice
                process.standardError = FileHandle.nullDevice
                return process
            }
        } catch {
            try? FileManager.default.removeItem(atPath: directory)
            throw error
        }
        self.directory = directory
        self.served = served
        self.server = started.process
        self.port = started.port
    }

    /// Issues a client certificate `name` (key `name.key`, certificate `name.crt`) whose distribution point is
    /// `http://127.0.0.1:PORT/<path>`.
    @discardableResult
    public func issue(_ name: String, path: String = "ca.crl") throws -> String {
        try Self.write(directory, "\(name).ext", """
            basicConstraints = CA:FALSE
            keyUsage = digitalSignature
            extendedKeyUsage = clientAuth
            subjectKeyIdentifier = hash
            authorityKeyIdentifier = keyid
            crlDistributionPoints = URI:http://127.0.0.1:\(port)/\(path)

            """)
        try run(["req", "-new", "-newkey", "rsa:2048", "-nodes", "-keyout", "\(name).key", "-out", "\(name).csr", "-subj", "/CN=\(name)"])
        try run(["ca", "-batch", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-in", "\(name).csr",
                 "-out", "\(name).crt", "-notext", "-extfile", "\(name).ext"])
        return file("\(name).crt")
    }

    public func revoke(_ name: String) throws {
        try run(["ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-revoke", "\(name).crt"])
    }

    /// `openssl ca -gencrl`, served as DER at `ca.crl` (or `as`).
    public func publish(as name: String = "ca.crl") throws {
        try run(["ca", "-config", "ca.cnf", "-cert", "ca.crt", "-keyfile", "ca.key", "-gencrl", "-out", "gen.pem"])
        try run(["crl", "-in", "gen.pem", "-outform", "DER", "-out", "\(served)/\(name).tmp"])
        // rename(2): the server never sends half a CRL.
        guard rename("\(served)/\(name).tmp", "\(served)/\(name)") == 0 else {
            throw Failure(description: "cannot rename \(served)/\(name).tmp (errno \(errno))")
        }
    }

    /// Serves `data` at `name` (a wrong CRL, an oversized one).
    public func serve(_ data: Data, as name: String) throws {
        try data.write(to: URL(fileURLWithPath: "\(served)/\(name)"))
    }

    public func file(_ name: String) -> String { "\(directory)/\(name)" }

    public func run(_ arguments: [String]) throws {
        try Self.openssl(in: directory, arguments)
    }

    public func stop() {
        ListeningProcess.stop(server)
    }

    public func remove() {
        stop()
        try? FileManager.default.removeItem(atPath: directory)
    }

    static func write(_ directory: String, _ name: String, _ text: String) throws {
        try Data(text.utf8).write(to: URL(fileURLWithPath: "\(directory)/\(name)"))
    }

    static func openssl(in directory: String, _ arguments: [String]) throws {
        try OpenSSLCLI.run(arguments, in: directory)
    }
}

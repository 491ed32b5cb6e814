import DevPKI
import Foundation
import Keystore
import Testing
#if canImport(Glibc)
import Glibc
#endif

/// Issue 15, item 6: private key files are 0600 from their first byte, whatever the umask — never written wide and
/// tightened afterwards (a window in which anyone can open the file and keep the descriptor).
@Suite struct PrivateFileModeTests {
    static let secretFiles = ["ca.key", "client.key", "identity.p12", "authn.p12", "token-issuer.p12", "roles.p12", "entra-emulator.p12"]
    static let publicFiles = ["ca.crt", "truststore.pem", "client.crt", "identity.cer", "authn.crt"]

    static func temporaryDirectory() throws -> String {
        let path = NSTemporaryDirectory() + "certauth-modes-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
        return path
    }

    static func mode(_ path: String) -> mode_t? {
        var info = stat()
        guard stat(path, &info) == 0 else { return nil }
        return info.st_mode & 0o7777
    }

    /// The kernel's record (inotify) of what happened to the directory's entries while `body` ran: the name and the
    /// event mask of each event, in order. Events are queued by the kernel, so nothing is missed however fast `body` is.
    static func recordingEvents(in directory: String, _ body: () throws -> Void) throws -> [(name: String, mask: UInt32)] {
        let inotify = inotify_init1(0o4000 | 0o2000000)  // IN_NONBLOCK | IN_CLOEXEC
        try #require(inotify >= 0, "inotify_init1 failed: errno \(errno)")
        defer { close(inotify) }
        let attrib: UInt32 = 0x4, closeWrite: UInt32 = 0x8, movedTo: UInt32 = 0x80, create: UInt32 = 0x100
        let watch = inotify_add_watch(inotify, directory, attrib | closeWrite | movedTo | create)
        try #require(watch >= 0, "inotify_add_watch failed: errno \(errno)")
        try body()
        var events: [(String, UInt32)] = []
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(inotify, $0.baseAddress, $0.count) }
            if count <= 0 { break }
            var offset = 0
            while offset + 16 <= count {
                let mask = buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 4, as: UInt32.self) }
                let length = Int(buffer.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: offset + 12, as: UInt32.self) })
                let nameBytes = buffer[(offset + 16)..<(offset + 16 + length)].prefix { $0 != 0 }
                events.append((String(decoding: nameBytes, as: UTF8.self), mask))
                offset += 16 + length
            }
        }
        return events
    }

    @Test func pkiInitCreatesKeysWith0600FromTheFirstByte() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let events = try Self.recordingEvents(in: directory) {
            _ = try DevPKI.initialize(directory: directory, password: "changeit")
        }
        let attrib: UInt32 = 0x4
        for name in Self.secretFiles {
            #expect(Self.mode(directory + "/" + name) == 0o600, "\(name): mode \(String(Self.mode(directory + "/" + name) ?? 0, radix: 8))")
            // A mode change on the final name means the file was visible under its name with other bits first.
            let changed = events.filter { $0.name == name && $0.mask & attrib != 0 }
            #expect(changed.isEmpty, "\(name) had its mode changed after it appeared (write, then chmod)")
        }
        for name in Self.publicFiles {
            #expect(Self.mode(directory + "/" + name) == 0o644, "\(name)")
        }
        // No temporary file is left behind.
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasSuffix(".tmp") }
        #expect(leftovers.isEmpty, "\(leftovers)")
    }

    @Test func theModeDoesNotDependOnTheUmask() throws {
        // `certauth pki init` as a process under umask 000 (the widest) and 0277 (narrower than 0600).
        let binary = (ProcessInfo.processInfo.environment["CERTAUTH_BIN_DIR"]
            ?? FileManager.default.currentDirectoryPath + "/.build/debug") + "/certauth"
        try #require(FileManager.default.isExecutableFile(atPath: binary), "\(binary) is missing: run swift build first (or set CERTAUTH_BIN_DIR)")
        for umask in ["000", "277"] {
            let parent = try Self.temporaryDirectory()
            defer { try? FileManager.default.removeItem(atPath: parent) }
            let out = parent + "/pki"
            let process = Process()
            process.executableURL = URL(fileURLWithPath: "/bin/sh")
            process.arguments = ["-c", "umask \(umask) && exec \"$0\" pki init --out \"$1\" --password changeit", binary, out]
            process.standardOutput = FileHandle.nullDevice
            let errors = Pipe()
            process.standardError = errors
            try process.run()
            process.waitUntilExit()
            let message = String(decoding: errors.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            #expect(process.terminationStatus == 0, "umask \(umask): \(message)")
            for name in Self.secretFiles {
                #expect(Self.mode(out + "/" + name) == 0o600, "umask \(umask), \(name)")
            }
            for name in Self.publicFiles {
                #expect(Self.mode(out + "/" + name) == 0o644, "umask \(umask), \(name)")
            }
        }
    }

    @Test func pkcs12WriterWritesKeystoresWith0600() throws {
        let directory = try Self.temporaryDirectory()
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let material = try Material.get()
        let path = directory + "/store.p12"
        try Data("old".utf8).write(to: URL(fileURLWithPath: path))
        chmod(path, 0o644)
        let events = try Self.recordingEvents(in: directory) {
            try PKCS12Writer.write(
                entries: [PKCS12Entry(alias: "writer", privateKeyDER: material.identityKeyDER, certificateDER: material.identityCertDER,
                                      chainDER: [material.caCertDER])],
                password: "changeit", toFile: path)
        }
        #expect(Self.mode(path) == 0o600)
        #expect(events.filter { $0.name == "store.p12" && $0.mask & 0x4 != 0 }.isEmpty)
        let loaded = try KeystoreLoader.load(path: path, password: "changeit", alias: nil, keyPassword: nil, settings: settings)
        #expect(loaded.credential.alias == "writer")
    }
}

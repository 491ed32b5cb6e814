import Foundation
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
import WireFormat

/// Why a file could not be written; names the path and the system's reason, never the contents.
public struct SecureFileError: Error, CustomStringConvertible, Sendable {
    public var path: String
    public var reason: String
    public var description: String { "cannot write \(path): \(reason); check that the directory exists and is writable" }
}

/// Writes files whose mode is right from the first byte: private keys and keystores 0600, never readable by others
/// for a moment (`Data.write` creates with 0666 minus the umask, and a `chmod` afterwards leaves a window in which
/// anyone can open the file and keep the descriptor).
///
/// The file is created next to its destination with `open(O_CREAT | O_EXCL | O_NOFOLLOW, mode)`: never wider than
/// `mode`, whatever the umask; `fchmod` then sets exactly `mode` on the descriptor (a umask can only have narrowed it),
/// the bytes are written and synced, and the file is renamed over the destination (atomic: a reader sees the old file
/// or the new one, never half of one).
public enum SecureFile {
    /// Mode of private keys and keystores.
    public static let privateMode: mode_t = 0o600
    /// Mode of certificates and other public files.
    public static let publicMode: mode_t = 0o644

    public static func write(_ bytes: [UInt8], to path: String, mode: mode_t = privateMode) throws(SecureFileError) {
        let directory = (path as NSString).deletingLastPathComponent
        let name = (path as NSString).lastPathComponent
        let suffix = Hex.encode((0..<8).map { _ in UInt8.random(in: 0...255) })
        let temporary = ((directory.isEmpty ? "." : directory) as NSString).appendingPathComponent(".\(name).\(suffix).tmp")
        let descriptor = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode)
        guard descriptor >= 0 else { throw failure(path, "open") }
        var closed = false
        defer { if !closed { _ = close(descriptor) } }
        do throws(SecureFileError) {
            guard fchmod(descriptor, mode) == 0 else { throw failure(path, "fchmod") }
            var offset = 0
            while offset < bytes.count {
                let written = bytes.withUnsafeBytes { buffer -> Int in
                    guard let base = buffer.baseAddress else { return 0 }
                    return systemWrite(descriptor, base + offset, buffer.count - offset)
                }
                if written < 0 {
                    if errno == EINTR { continue }
                    throw failure(path, "write")
                }
                offset += written
            }
            guard fsync(descriptor) == 0 else { throw failure(path, "fsync") }
            closed = true
            guard close(descriptor) == 0 else { throw failure(path, "close") }
            guard rename(temporary, path) == 0 else { throw failure(path, "rename") }
        } catch {
            _ = unlink(temporary)
            throw error
        }
    }

    private static func failure(_ path: String, _ call: String) -> SecureFileError {
        SecureFileError(path: path, reason: "\(call) failed: \(String(cString: strerror(errno)))")
    }
}

/// `write(2)`, named apart from `SecureFile.write`.
private func systemWrite(_ descriptor: Int32, _ buffer: UnsafeRawPointer, _ count: Int) -> Int {
    #if canImport(Glibc)
    return Glibc.write(descriptor, buffer, count)
    #else
    return Darwin.write(descriptor, buffer, count)
    #endif
}

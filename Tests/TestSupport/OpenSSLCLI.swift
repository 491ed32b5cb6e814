import Foundation

/// Runs the openssl command-line tool, the independent implementation most tests compare with: one runner for every
/// test target (stdout returned; stderr in the error, or appended with `mergeStandardError`).
public enum OpenSSLCLI {
    public static let executable = "/usr/bin/openssl"

    @discardableResult
    public static func run(_ arguments: [String], in directory: String? = nil, mergeStandardError: Bool = false) throws -> String {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        if let directory {
            process.currentDirectoryURL = URL(fileURLWithPath: directory)
        }
        let scratch = FileManager.default.temporaryDirectory
            .appendingPathComponent("openssl-stderr-\(UUID().uuidString)")
        guard FileManager.default.createFile(atPath: scratch.path, contents: nil) else {
            throw OpenSSLCLIError(description: "cannot create \(scratch.path)")
        }
        defer { try? FileManager.default.removeItem(at: scratch) }
        let errorHandle = try FileHandle(forWritingTo: scratch)
        let output = Pipe()
        process.standardOutput = output
        process.standardError = errorHandle
        process.standardInput = FileHandle.nullDevice
        try process.run()
        let data = output.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        try errorHandle.close()
        let stdout = String(decoding: data, as: UTF8.self)
        let stderr = (try? String(contentsOf: scratch, encoding: .utf8)) ?? ""
        guard process.terminationStatus == 0 else {
            throw OpenSSLCLIError(
                description: "openssl \(arguments.joined(separator: " ")) failed (\(process.terminationStatus)): \(stderr)"
            )
        }
        return mergeStandardError ? stdout + stderr : stdout
    }

    /// Hex digest of a certificate as printed by `openssl x509 -fingerprint`, lower-case without colons.
    public static func fingerprint(certificatePEM path: String, digest: String) throws -> String {
        let text = try run(["x509", "-noout", "-fingerprint", "-\(digest)", "-in", path])
        guard let value = text.split(separator: "=", maxSplits: 1).last else {
            throw OpenSSLCLIError(description: "unexpected fingerprint output \(text)")
        }
        return value.trimmingCharacters(in: .whitespacesAndNewlines)
            .replacingOccurrences(of: ":", with: "")
            .lowercased()
    }
}

/// openssl exited non-zero (its standard error in the description) or a scratch file could not be made.
public struct OpenSSLCLIError: Error, CustomStringConvertible {
    public var description: String
}

import Foundation
import WireFormat

/// File-level helpers shared by the keystore and truststore loaders.
enum KeystoreFile {
    enum ReadFailure: Error {
        case notFound
        case unreadable(String)
    }

    static func read(path: String) throws(ReadFailure) -> [UInt8] {
        var isDirectory: ObjCBool = false
        guard FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) else {
            throw .notFound
        }
        if isDirectory.boolValue {
            throw .unreadable("it is a directory")
        }
        guard FileManager.default.isReadableFile(atPath: path),
              let data = FileManager.default.contents(atPath: path)
        else {
            throw .unreadable("permission denied")
        }
        return Array(data)
    }

    /// The bytes of the file `path`, or an error naming it, the `setting` that named it and the fix: `what` is the file's
    /// kind as the first word of a sentence ("Certificate keystore", "Truststore", "Certificate file"); the
    /// unreadable-file sentence uses `shortName` (default: `what` in lower case).
    static func read(_ path: String, what: String, shortName: String? = nil, setting: String) throws(KeystoreError) -> [UInt8] {
        do {
            return try read(path: path)
        } catch {
            switch error {
            case .notFound:
                throw KeystoreError(
                    code: .notFound, message: "\(what) not found: \(path); check \(setting) and that the file is mounted (for example /certs:ro).")
            case .unreadable(let reason):
                throw KeystoreError(
                    code: .unreadable,
                    message: "Cannot read \(shortName ?? what.lowercased()) \(path) (\(reason)); check \(setting) and that the service user may read the file.")
            }
        }
    }

    /// Whether `path` names a directory (following symbolic links, as Kubernetes' `..data` links need).
    static func isDirectory(_ path: String) -> Bool {
        var isDirectory: ObjCBool = false
        return FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory) && isDirectory.boolValue
    }

    /// The permission bits of the file, or nil when they cannot be read.
    static func permissions(path: String) -> Int? {
        guard let attributes = try? FileManager.default.attributesOfItem(atPath: path),
              let number = attributes[.posixPermissions] as? NSNumber
        else {
            return nil
        }
        return number.intValue & 0o7777
    }

    static func octal(_ mode: Int) -> String {
        let digits = String(mode, radix: 8)
        return digits.count >= 4 ? digits : String(repeating: "0", count: 4 - digits.count) + digits
    }

    enum Format: Equatable {
        case empty
        case jks
        case jceks
        case pem
        case other
    }

    static let jksMagic: [UInt8] = [0xFE, 0xED, 0xFE, 0xED]
    static let jceksMagic: [UInt8] = [0xCE, 0xCE, 0xCE, 0xCE]

    static func sniff(_ data: [UInt8]) -> Format {
        if data.isEmpty {
            return .empty
        }
        if data.starts(with: jksMagic) {
            return .jks
        }
        if data.starts(with: jceksMagic) {
            return .jceks
        }
        if looksLikePEM(data) {
            return .pem
        }
        return .other
    }

    /// True when the data starts with "-----BEGIN" after optional UTF-8 BOM and whitespace.
    static func looksLikePEM(_ data: [UInt8]) -> Bool {
        var slice = data[...]
        if slice.starts(with: [0xEF, 0xBB, 0xBF]) {
            slice = slice.dropFirst(3)
        }
        let whitespace: Set<UInt8> = [0x20, 0x09, 0x0A, 0x0D]
        slice = slice.drop { whitespace.contains($0) }
        return slice.starts(with: Array("-----BEGIN".utf8))
    }

    static func iso8601(_ date: Date) -> String {
        RFC3339.string(date)
    }
}

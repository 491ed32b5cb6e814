import Foundation
import Keystore

/// A Kubernetes secret volume as the kubelet writes it: `tls.crt -> ..data/tls.crt`, `..data -> ..<version>`, and an
/// update renames a new `..data` link over the old one (atomic: a reader sees the old files or the new ones).
public struct SecretVolume: Sendable {
    public let path: String

    public init(path: String) throws {
        self.path = path
        try FileManager.default.createDirectory(atPath: path, withIntermediateDirectories: true)
    }

    public func publish(_ files: [String: String]) throws {
        let name = "..2026_12_06_\(UUID().uuidString.prefix(8))"
        let directory = (path as NSString).appendingPathComponent(name)
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        for (file, content) in files {
            try SecureFile.write(Array(content.utf8), to: (directory as NSString).appendingPathComponent(file), mode: file.hasSuffix(".key") ? 0o600 : 0o644)
        }
        let staging = (path as NSString).appendingPathComponent("..data_tmp")
        try? FileManager.default.removeItem(atPath: staging)
        try FileManager.default.createSymbolicLink(atPath: staging, withDestinationPath: name)
        guard rename(staging, (path as NSString).appendingPathComponent("..data")) == 0 else {
            throw SecretVolumeError(description: "rename ..data failed in \(path)")
        }
        for file in files.keys {
            let link = (path as NSString).appendingPathComponent(file)
            if (try? FileManager.default.destinationOfSymbolicLink(atPath: link)) == nil {
                try FileManager.default.createSymbolicLink(atPath: link, withDestinationPath: "..data/\(file)")
            }
        }
    }
}

public struct SecretVolumeError: Error, CustomStringConvertible {
    public var description: String
}

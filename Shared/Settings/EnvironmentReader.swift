import Foundation

/// A configuration problem found at start: names the variable and what a good value looks like.
public struct ConfigurationError: Error, CustomStringConvertible, Sendable {
    /// The environment variable at fault.
    public var variable: String
    /// What is wrong and what a good value looks like.
    public var message: String

    public init(variable: String, message: String) {
        self.variable = variable
        self.message = message
    }

    public var description: String { "\(variable): \(message)" }
}

/// Reads settings from environment variables, strictly: a malformed value is an error naming the variable,
/// never a silent default. Secret values are never echoed in errors.
public struct EnvironmentReader: Sendable {
    public let values: [String: String]

    public init(_ values: [String: String] = ProcessInfo.processInfo.environment) {
        self.values = values
    }

    /// The environment with every `NAME_FILE=/path` replaced by `NAME=<contents of the file>` (one trailing line
    /// break removed), the convention of Docker secrets and Kubernetes secret volumes: passwords and database URLs stay
    /// out of `docker inspect` and process listings. Setting both `NAME` and `NAME_FILE` is an error, as is a file
    /// that can't be read. The file's contents are never part of an error. Only the caller's own settings (names
    /// starting with one of `prefixes`; the suite's are `ServiceMain.settingPrefixes`) are read this way: other
    /// programs' `*_FILE` variables that happen to be in the environment (`TF_CLI_CONFIG_FILE`, `KUBECONFIG_FILE`, …)
    /// are left alone.
    public static func readingFiles(_ values: [String: String], prefixes: [String]) throws(ConfigurationError) -> EnvironmentReader {
        var resolved = values
        for (key, path) in values where key.hasSuffix("_FILE") && key.count > 5 {
            let name = String(key.dropLast(5))
            guard prefixes.contains(where: { name.hasPrefix($0) }) else { continue }
            if values[name] != nil {
                throw ConfigurationError(variable: key, message: "both \(name) and \(key) are set; set only one (\(key) names a file holding the value, e.g. a Docker secret).")
            }
            let trimmedPath = path.trimmingCharacters(in: .whitespaces)
            guard !trimmedPath.isEmpty else {
                throw ConfigurationError(variable: key, message: "is empty; expected the path of a file holding \(name), e.g. /run/secrets/\(name.lowercased()).")
            }
            let data: Data
            do {
                data = try Data(contentsOf: URL(fileURLWithPath: trimmedPath))
            } catch {
                let reason = (error as NSError).localizedFailureReason ?? (error as NSError).localizedDescription
                throw ConfigurationError(variable: key, message: "cannot read \(trimmedPath) (\(reason)); mount the secret there or fix the path.")
            }
            guard var text = String(data: data, encoding: .utf8) else {
                throw ConfigurationError(variable: key, message: "\(trimmedPath) is not UTF-8 text; it must hold the value of \(name) as text.")
            }
            if text.last?.isNewline == true { text.removeLast() }  // "\r\n" is one Character
            resolved[name] = text
            resolved[key] = nil
        }
        return EnvironmentReader(resolved)
    }

    /// The trimmed value, or nil when unset or blank.
    public func string(_ name: String) -> String? {
        guard let raw = values[name] else { return nil }
        let trimmed = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        return trimmed.isEmpty ? nil : trimmed
    }

    /// The value as given (not trimmed), for secrets such as passwords; nil when unset.
    public func secret(_ name: String) -> String? {
        values[name]
    }

    /// The value, or an error saying it is not set and what to set it to.
    public func required(_ name: String, expected: String) throws(ConfigurationError) -> String {
        guard let value = string(name) else {
            throw ConfigurationError(variable: name, message: "is not set; expected \(expected).")
        }
        return value
    }

    /// A boolean: `true` or `false` (any case); default when unset.
    public func bool(_ name: String, default defaultValue: Bool) throws(ConfigurationError) -> Bool {
        guard let value = string(name) else { return defaultValue }
        switch value.lowercased() {
        case "true": return true
        case "false": return false
        default:
            throw ConfigurationError(variable: name, message: "'\(value)' is not a boolean; expected true or false.")
        }
    }

    /// An integer within `range`; default when unset.
    public func int(_ name: String, default defaultValue: Int, range: ClosedRange<Int>) throws(ConfigurationError) -> Int {
        guard let value = string(name) else { return defaultValue }
        guard let number = Int(value) else {
            throw ConfigurationError(
                variable: name,
                message: "'\(value)' is not a whole number; expected a number from \(range.lowerBound) to \(range.upperBound).")
        }
        guard range.contains(number) else {
            throw ConfigurationError(
                variable: name,
                message: "\(number) is out of range; expected a number from \(range.lowerBound) to \(range.upperBound).")
        }
        return number
    }

    /// A TCP port (0 lets the system choose); default when unset.
    public func port(_ name: String, default defaultValue: Int) throws(ConfigurationError) -> Int {
        try int(name, default: defaultValue, range: 0...65535)
    }

    /// One of `allowed` (compared case-insensitively, returned as spelled in `allowed`); default when unset.
    public func choice(_ name: String, default defaultValue: String, allowed: [String]) throws(ConfigurationError) -> String {
        guard let value = string(name) else { return defaultValue }
        if let match = allowed.first(where: { $0.caseInsensitiveCompare(value) == .orderedSame }) {
            return match
        }
        throw ConfigurationError(
            variable: name, message: "'\(value)' is not supported; expected one of \(allowed.joined(separator: ", ")).")
    }

    /// An absolute `https://` (or, when `allowHTTP`, `http://`) URL; nil when unset.
    public func url(_ name: String, allowHTTP: Bool = false) throws(ConfigurationError) -> URL? {
        guard let value = string(name) else { return nil }
        let schemes = allowHTTP ? ["https", "http"] : ["https"]
        guard let url = URL(string: value), let scheme = url.scheme?.lowercased(), schemes.contains(scheme),
              let host = url.host, !host.isEmpty
        else {
            throw ConfigurationError(
                variable: name,
                message: "'\(value)' is not an absolute \(schemes.joined(separator: " or ")) URL; expected for example https://login.microsoftonline.com/<tenant-id>/v2.0.")
        }
        return url
    }

    /// A comma-separated list, entries trimmed, blanks dropped; empty when unset.
    public func list(_ name: String) -> [String] {
        guard let value = string(name) else { return [] }
        return value.split(separator: ",").map { $0.trimmingCharacters(in: .whitespaces) }.filter { !$0.isEmpty }
    }

    /// The first variable of `names` that is set, with its name.
    public func first(of names: [String]) -> (name: String, value: String)? {
        for name in names {
            if let value = string(name) { return (name, value) }
        }
        return nil
    }
}

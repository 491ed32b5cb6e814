import AuthProtocol
import Foundation
import Logging
import Settings
import WireFormat

/// How log lines are written: JSON objects (default, for collectors) or text (for humans, `LOG_FORMAT=text`).
public enum LogFormat: String, Sendable {
    case json
    case text
}

/// Log settings read from `LOG_FORMAT` and `LOG_LEVEL`.
public struct LogSettings: Sendable {
    public var format: LogFormat
    public var level: Logger.Level

    public init(format: LogFormat = .json, level: Logger.Level = .info) {
        self.format = format
        self.level = level
    }

    /// ## Configuration keys
    /// - `LOG_FORMAT`: `json` (default) or `text`
    /// - `LOG_LEVEL`: `trace`, `debug`, `info` (default), `notice`, `warning`, `error`, `critical`
    public init(environment: EnvironmentReader) throws(ConfigurationError) {
        let format = try environment.choice("LOG_FORMAT", default: "json", allowed: ["json", "text"])
        let levels = Logger.Level.allCases.map(\.rawValue)
        let level = try environment.choice("LOG_LEVEL", default: "info", allowed: levels)
        self.init(format: LogFormat(rawValue: format) ?? .json, level: Logger.Level(rawValue: level) ?? .info)
    }

    /// Installs the process-wide log handler. Call once, from `main` only, never from tests. `metadataProvider` adds
    /// to every line (the current span's `trace_id` when traces are exported).
    public func bootstrap(metadataProvider: Logger.MetadataProvider? = nil) {
        let format = self.format
        let level = self.level
        LoggingSystem.bootstrap({ label, provider in
            var handler: any LogHandler
            switch format {
            case .json: handler = JSONLogHandler(label: label)
            case .text: handler = StreamLogHandler.standardError(label: label, metadataProvider: provider)
            }
            handler.metadataProvider = provider
            handler.logLevel = level
            return handler
        }, metadataProvider: metadataProvider)
    }
}

/// Writes one JSON object per line to standard error: `ts`, `level`, `logger`, `message`, then the metadata (an
/// `error:` argument as `error.message` and `error.type`).
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    public var logLevel: Logger.Level = .info
    private let label: String
    private let write: @Sendable (String) -> Void

    public init(label: String, write: @escaping @Sendable (String) -> Void = JSONLogHandler.writeToStandardError) {
        self.label = label
        self.write = write
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var fields: [String: any Sendable] = [:]
        var merged = self.metadata
        if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
        if let extra = event.metadata { merged.merge(extra) { _, new in new } }
        for (key, value) in merged { fields[key] = Self.unpack(value) }
        if let error = event.error {
            // swift-log's `error:` argument, as OpenTelemetry names it.
            fields[LogKey.errorMessage] = String(describing: error)
            fields[LogKey.errorType] = String(describing: type(of: error))
        }
        fields["ts"] = Self.timestamp()
        fields["level"] = event.level.rawValue
        fields["logger"] = label
        fields["message"] = event.message.description
        let line = Self.encode(fields)
        write(line + "\n")
    }

    /// Default sink: one `write(2)` per line, so lines from several threads never interleave.
    public static let writeToStandardError: @Sendable (String) -> Void = { line in
        FileHandle.standardError.write(Data(line.utf8))
    }

    private static func unpack(_ value: Logger.Metadata.Value) -> any Sendable {
        switch value {
        case .string(let string): return string
        case .stringConvertible(let convertible): return convertible.description
        case .array(let array): return array.map { unpack($0) }
        case .dictionary(let dictionary): return dictionary.mapValues { unpack($0) }
        }
    }

    private static func timestamp() -> String {
        RFC3339.stringWithMilliseconds(Date())
    }

    private static func encode(_ fields: [String: any Sendable]) -> String {
        // Fixed keys first so lines read well; then the rest sorted.
        let order = ["ts", "level", "logger", "message"]
        var parts: [String] = []
        for key in order { if let value = fields[key] { parts.append("\(quote(key)):\(encodeValue(value))") } }
        for key in fields.keys.sorted() where !order.contains(key) {
            if let value = fields[key] { parts.append("\(quote(key)):\(encodeValue(value))") }
        }
        return "{" + parts.joined(separator: ",") + "}"
    }

    private static func encodeValue(_ value: any Sendable) -> String {
        switch value {
        case let string as String: return quote(string)
        case let array as [any Sendable]: return "[" + array.map(encodeValue).joined(separator: ",") + "]"
        case let dictionary as [String: any Sendable]:
            return "{" + dictionary.keys.sorted().map { "\(quote($0)):\(encodeValue(dictionary[$0] ?? ""))" }.joined(separator: ",") + "}"
        default: return quote(String(describing: value))
        }
    }

    /// The one JSON string escaper (``JSONTextWriter``): `"`, `\`, control characters (`\b \f \n \r \t`, the rest as
    /// `\u00XX`); `/` and non-ASCII as they are.
    private static func quote(_ string: String) -> String {
        JSONTextWriter.quoted(string)
    }
}

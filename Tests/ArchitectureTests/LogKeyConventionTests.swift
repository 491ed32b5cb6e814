import Foundation
import Testing

/// One convention for log metadata keys (issue 20): dotted and lower case, as OpenTelemetry names attributes, defined
/// once (`Shared/AuthProtocol/LogKey.swift`; a module that cannot import it keeps its own `enum LogKey` under the same
/// rule) and used everywhere instead of string literals; errors go to swift-log's `error:` argument, never stringified
/// into metadata. The scan is textual: it reads the places a key is written (`metadata: [...]`, `Logger.Metadata = [...]`,
/// `metadata.merging([...])`, `metadata["…"]`, `[metadataKey: "…"]`, an `AdminGrantEvent`'s `details: [...]`).
@Suite struct LogKeyConventionTests {
    static let root = ModuleGraphTests.root
    /// The OpenTelemetry log record's own fields (not attributes), which keep their names.
    static let recordFields: Set<String> = ["trace_id", "span_id"]

    struct Finding: CustomStringConvertible, Equatable {
        var file: String
        var line: Int
        var what: String
        var description: String { "\(file):\(line): \(what)" }
    }

    /// Every Swift source under `Shared/` and `Services/`, relative path and text.
    static func sources() throws -> [(path: String, text: String)] {
        var found: [(String, String)] = []
        for top in ["Shared", "Services"] {
            let directory = root.appendingPathComponent(top)
            let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
            while let file = files?.nextObject() as? URL {
                guard file.pathExtension == "swift" else { continue }
                let relative = top + "/" + file.path.dropFirst(directory.path.count + 1)
                found.append((relative, try String(contentsOf: file, encoding: .utf8)))
            }
        }
        return found.sorted { $0.0 < $1.0 }
    }

    /// String-literal metadata keys and stringified errors in `text`.
    static func violations(in text: String, file: String) throws -> [Finding] {
        let scalars = Array(text.unicodeScalars)
        var lineStarts: [Int] = [0]
        for (index, scalar) in scalars.enumerated() where scalar == "\n" { lineStarts.append(index + 1) }
        // Regex matches are on `String.Index`; the scan below on scalar offsets.
        func offset(_ index: String.Index) -> Int { text.unicodeScalars.distance(from: text.unicodeScalars.startIndex, to: index) }
        func line(_ offset: Int) -> Int { (lineStarts.lastIndex { $0 <= offset } ?? 0) + 1 }
        var findings: [Finding] = []

        // `logger[metadataKey: "x"]`, `metadata["x"] = …`.
        for match in text.matches(of: try Regex(#"metadataKey:\s*"|[Mm]etadata\s*\[\s*""#)) {
            findings.append(Finding(file: file, line: line(offset(match.range.lowerBound)), what: "literal key in \(text[match.range])…"))
        }
        // A metadata value no other type has: `"x": .stringConvertible(…)`.
        for match in text.matches(of: try Regex(#""[^"\n]*"\s*:\s*\.stringConvertible\("#)) {
            findings.append(Finding(file: file, line: line(offset(match.range.lowerBound)), what: "literal key \(text[match.range])"))
        }
        // An error stringified into metadata instead of `error:`.
        for match in text.matches(of: try Regex(#"LogKey\.\w+\s*:\s*(\.string\()?("\\\(error\)"|String\(describing:\s*error\))"#)) {
            findings.append(Finding(file: file, line: line(offset(match.range.lowerBound)), what: "stringified error \(text[match.range]); pass it as error:"))
        }
        // Dictionary literals that become metadata: their top-level keys.
        let opening = try Regex(#"(metadata:\s*|Logger\.Metadata\s*=\s*|[Mm]etadata\.merging\(\s*|AdminGrantEvent\([^\[\]]*?details:\s*)\["#)
        for match in text.matches(of: opening) {
            var index = offset(match.range.upperBound)
            var depth = 1
            var inString = false
            var keyStart: Int?
            while index < scalars.count, depth > 0 {
                let scalar = scalars[index]
                if inString {
                    if scalar == "\\" {
                        index += 1
                    } else if scalar == "\"" {
                        inString = false
                        // A literal at the top level followed by `:` is a key.
                        if depth == 1, let start = keyStart {
                            var next = index + 1
                            while next < scalars.count, scalars[next] == " " { next += 1 }
                            if next < scalars.count, scalars[next] == ":" {
                                let key = String(String.UnicodeScalarView(scalars[(start + 1)..<index]))
                                findings.append(Finding(file: file, line: line(start), what: "literal key \"\(key)\""))
                            }
                        }
                        keyStart = nil
                    }
                } else if scalar == "\"" {
                    inString = true
                    keyStart = index
                } else if scalar == "[" || scalar == "(" || scalar == "{" {
                    depth += 1
                } else if scalar == "]" || scalar == ")" || scalar == "}" {
                    depth -= 1
                }
                index += 1
            }
        }
        return findings
    }

    /// The `static let name = "value"` members of every `enum LogKey` under `Shared/` and `Services/`.
    static func definedKeys() throws -> [(file: String, name: String, value: String)] {
        var keys: [(String, String, String)] = []
        for (path, text) in try sources() where text.contains("enum LogKey") {
            for match in text.matches(of: try Regex(#"static let (\w+) = "([^"]*)""#)) {
                keys.append((path, String(match.output[1].substring ?? ""), String(match.output[2].substring ?? "")))
            }
        }
        return keys
    }

    @Test func noSourceWritesALiteralMetadataKeyOrAStringifiedError() throws {
        var findings: [Finding] = []
        for (path, text) in try Self.sources() {
            findings += try Self.violations(in: text, file: path)
        }
        #expect(findings.isEmpty, "use a LogKey constant (Shared/AuthProtocol/LogKey.swift) and swift-log's error: argument:\n\(findings.map(\.description).joined(separator: "\n"))")
    }

    @Test func everyLogKeyIsLowerCaseAndDotted() throws {
        let keys = try Self.definedKeys()
        #expect(keys.count > 50, "the shared LogKey enum was not found")
        #expect(keys.contains { $0.file == "Shared/AuthProtocol/LogKey.swift" })
        let dotted = try Regex(#"^[a-z][a-z0-9_]*(\.[a-z0-9_]+)+$"#)
        for key in keys where !Self.recordFields.contains(key.value) {
            #expect(key.value.wholeMatch(of: dotted) != nil, "\(key.file): LogKey.\(key.name) = \"\(key.value)\" is not lower-case dotted")
        }
        // One name per key in the shared enum: two constants for one key would let the two drift apart in the docs.
        let shared = keys.filter { $0.file == "Shared/AuthProtocol/LogKey.swift" }
        let values = Dictionary(grouping: shared, by: \.value).filter { $0.value.count > 1 }
        #expect(values.isEmpty, "keys defined twice: \(values.keys.sorted())")
    }

    @Test func theScannerSeesEachKindOfLiteralKey() throws {
        let source = #"""
        logger.info("a", metadata: ["flat_key": .string(x), LogKey.ok: .string(y)])
        var metadata: Logger.Metadata = [
            "nested": .dictionary(["inner": "v"]), LogKey.fine: "z",
        ]
        metadata["added"] = .string(x)
        logger[metadataKey: "trace"] = "t"
        logger.info("b", metadata: metadata.merging(["merged": .string(x)]) { $1 })
        AdminGrantEvent(.mappingRule, role: r, principal: p, details: ["role.id": id]).log(to: logger)
        let jwk: [String: JSONValue] = ["kty": .string("RSA")]
        health.up("x", details: ["reason": "fine"])
        logger.warning("c", metadata: [LogKey.errorMessage: "\(error)"])
        logger.warning("d", metadata: ["count": .stringConvertible(n)])
        """#
        let found = try Self.violations(in: source, file: "A.swift").map(\.what)
        for expected in ["\"flat_key\"", "\"nested\"", "metadata[\"", "metadataKey: \"", "\"merged\"", "\"role.id\"", "stringified error", "\"count\": .stringConvertible("] {
            #expect(found.contains { $0.contains(expected) }, "\(expected) not found in \(found)")
        }
        // Not metadata: a JWK's members, health details, and keys nested inside a value.
        #expect(!found.contains { $0.contains("kty") || $0.contains("reason") || $0.contains("inner") }, "\(found)")
    }
}

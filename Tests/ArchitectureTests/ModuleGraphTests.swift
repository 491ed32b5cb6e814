import Foundation
import Testing

/// `docs/architecture.md` says which project module may import which (issue 20); these tests hold the code and
/// `Package.swift` to it, so the document stays true and the layering cannot erode one convenient import at a time.
@Suite struct ModuleGraphTests {
    static let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

    /// The allowed imports per module, from the block between `<!-- imports:begin -->` and `<!-- imports:end -->`.
    static func allowed() throws -> [String: Set<String>] {
        let text = try String(contentsOf: root.appendingPathComponent("docs/architecture.md"), encoding: .utf8)
        let begin = try #require(text.range(of: "<!-- imports:begin -->"))
        let end = try #require(text.range(of: "<!-- imports:end -->"))
        var allowed: [String: Set<String>] = [:]
        for line in text[begin.upperBound..<end.lowerBound].split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1, omittingEmptySubsequences: false)
            guard parts.count == 2, !parts[0].contains("`") else { continue }
            allowed[String(parts[0]).trimmingCharacters(in: .whitespaces)] = Set(parts[1].split(separator: " ").map(String.init))
        }
        return allowed
    }

    /// The project modules every source file under `directory` imports (C headers' `#include`s are not imports).
    static func imports(in directory: URL, of modules: Set<String>) throws -> [String: Set<String>] {
        var found: [String: Set<String>] = [:]
        let files = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil)
        while let file = files?.nextObject() as? URL {
            guard file.pathExtension == "swift" else { continue }
            for line in try String(contentsOf: file, encoding: .utf8).split(separator: "\n") {
                let words = line.split(separator: " ").filter { !$0.hasPrefix("@") }
                guard let index = words.firstIndex(of: "import"), index + 1 < words.count,
                    words[..<index].allSatisfy({ ["public", "package", "internal", "private", "fileprivate"].contains($0) })
                else { continue }
                var name = String(words[index + 1])
                if ["struct", "class", "enum", "protocol", "func", "var", "let", "typealias"].contains(name), index + 2 < words.count {
                    name = String(words[index + 2])
                }
                name = String(name.prefix { $0 != "." })
                if modules.contains(name) { found[name, default: []].insert(file.lastPathComponent) }
            }
        }
        return found
    }

    /// Each target of `Package.swift` with its path and the project targets it depends on by name.
    static func packageTargets() throws -> [(name: String, path: String, dependencies: Set<String>)] {
        let manifest = try String(contentsOf: root.appendingPathComponent("Package.swift"), encoding: .utf8)
        var targets: [(String, String, Set<String>)] = []
        let pattern = try Regex(#"\.(?:target|executableTarget|systemLibrary|testTarget)\(\s*name:\s*"([^"]+)"([\s\S]*?)path:\s*"([^"]+)""#)
        for match in manifest.matches(of: pattern) {
            let name = String(match.output[1].substring ?? "")
            let body = String(match.output[2].substring ?? "")
            let path = String(match.output[3].substring ?? "")
            var dependencies: Set<String> = []
            if let open = body.range(of: "dependencies: ["), let close = body[open.upperBound...].firstIndex(of: "]") {
                // Bare names only: `.product(name: …, package: …)` entries are other packages.
                let list = body[open.upperBound..<close].replacing(try Regex(#"\.product\([^)]*\)"#), with: "")
                for dependency in list.matches(of: try Regex(#""([A-Za-z0-9_]+)""#)) {
                    dependencies.insert(String(dependency.output[1].substring ?? ""))
                }
            }
            targets.append((name, path, dependencies))
        }
        return targets
    }

    @Test func everyModuleImportsOnlyWhatTheDocumentAllows() throws {
        let allowed = try Self.allowed()
        let modules = Set(allowed.keys)
        #expect(modules.count > 15, "the imports block of docs/architecture.md was read")
        var checked = 0
        for top in ["Shared", "Services"] {
            let base = Self.root.appendingPathComponent(top)
            for directory in try FileManager.default.contentsOfDirectory(atPath: base.path).sorted() {
                guard let permitted = allowed[directory] else {
                    Issue.record("\(top)/\(directory) is not in docs/architecture.md's imports block: add its line")
                    continue
                }
                for (module, files) in try Self.imports(in: base.appendingPathComponent(directory), of: modules)
                where module != directory && !permitted.contains(module) {
                    Issue.record("\(directory) imports \(module) (\(files.sorted().joined(separator: ", "))), which docs/architecture.md does not allow")
                }
                checked += 1
            }
        }
        #expect(checked == modules.count, "every module of the document has a directory under Shared/ or Services/")
    }

    @Test func packageDependenciesStayWithinTheDocument() throws {
        let allowed = try Self.allowed()
        let targets = try Self.packageTargets()
        #expect(targets.count > 20, "Package.swift's targets were read")
        for target in targets where target.path.hasPrefix("Shared/") || target.path.hasPrefix("Services/") {
            guard let permitted = allowed[target.name] else {
                Issue.record("target \(target.name) (\(target.path)) is not in docs/architecture.md's imports block")
                continue
            }
            for dependency in target.dependencies.subtracting(permitted) {
                Issue.record("Package.swift: \(target.name) depends on \(dependency), which docs/architecture.md does not allow")
            }
        }
    }

    @Test func theCheckerSeesAForbiddenImport() throws {
        // The scanner itself: an import hidden behind attributes and access levels is still found.
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("architecture-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        try "@preconcurrency public import Authn\nimport struct Roles.RolesView\n// import Storage\n".write(
            to: directory.appendingPathComponent("A.swift"), atomically: true, encoding: .utf8)
        let found = try Self.imports(in: directory, of: ["Authn", "Roles", "Storage"])
        #expect(Set(found.keys) == ["Authn", "Roles"])
    }
}

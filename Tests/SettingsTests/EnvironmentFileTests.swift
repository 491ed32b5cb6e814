import Foundation
import Settings
import Testing

/// `NAME_FILE` settings (Docker secrets, Kubernetes secret volumes).
@Suite struct EnvironmentFileTests {
    /// The caller's prefixes (the services pass `ServiceMain.settingPrefixes`, which Settings does not know).
    static let prefixes = ["SERVER_", "CAMUNDA_"]

    static func withFile<T>(_ contents: String, _ body: (String) throws -> T) throws -> T {
        let path = NSTemporaryDirectory() + "certauth-secret-" + UUID().uuidString
        try Data(contents.utf8).write(to: URL(fileURLWithPath: path))
        defer { try? FileManager.default.removeItem(atPath: path) }
        return try body(path)
    }

    @Test func aFileSettingBecomesTheValueWithoutItsLineBreak() throws {
        for contents in ["s3cret-Pa55\n", "s3cret-Pa55\r\n", "s3cret-Pa55"] {
            let reader = try Self.withFile(contents) { path in
                try EnvironmentReader.readingFiles(["SERVER_SSL_KEY_STORE_PASSWORD_FILE": path, "SERVER_PORT": "8443"], prefixes: Self.prefixes)
            }
            #expect(reader.secret("SERVER_SSL_KEY_STORE_PASSWORD") == "s3cret-Pa55")
            #expect(reader.values["SERVER_SSL_KEY_STORE_PASSWORD_FILE"] == nil)
            #expect(reader.string("SERVER_PORT") == "8443")
        }
        // Only one line break goes: a value that itself ends in spaces keeps them.
        let reader = try Self.withFile(" pass \n") { path in try EnvironmentReader.readingFiles(["SERVER_SSL_KEY_PASSWORD_FILE": path], prefixes: Self.prefixes) }
        #expect(reader.secret("SERVER_SSL_KEY_PASSWORD") == " pass ")
    }

    @Test func bothTheValueAndTheFileIsAnError() throws {
        try Self.withFile("from-file") { path in
            do throws(ConfigurationError) {
                _ = try EnvironmentReader.readingFiles(["CAMUNDA_DATABASE_URL": "postgres://u:inline-secret@db/x", "CAMUNDA_DATABASE_URL_FILE": path], prefixes: Self.prefixes)
                Issue.record("expected an error")
            } catch {
                #expect(error.variable == "CAMUNDA_DATABASE_URL_FILE")
                #expect(error.message.contains("set only one"))
                #expect(!error.description.contains("inline-secret") && !error.description.contains("from-file"))
            }
        }
    }

    @Test func anUnreadableFileNamesThePathAndTheFix() throws {
        do throws(ConfigurationError) {
            _ = try EnvironmentReader.readingFiles(["SERVER_SSL_KEY_STORE_PASSWORD_FILE": "/run/secrets/does-not-exist"], prefixes: Self.prefixes)
            Issue.record("expected an error")
        } catch {
            #expect(error.variable == "SERVER_SSL_KEY_STORE_PASSWORD_FILE")
            #expect(error.message.contains("/run/secrets/does-not-exist") && error.message.contains("mount the secret"))
        }
        #expect(throws: ConfigurationError.self) { try EnvironmentReader.readingFiles(["CAMUNDA_X_PASSWORD_FILE": "  "], prefixes: Self.prefixes) }
    }

    @Test func otherProgramsFileVariablesAreLeftAlone() throws {
        // Found on a real machine: TF_CLI_CONFIG_FILE pointing at a file that does not exist.
        let reader = try EnvironmentReader.readingFiles(["TF_CLI_CONFIG_FILE": "/root/.terraformrc-missing", "GIT_CONFIG_FILE": ""], prefixes: Self.prefixes)
        #expect(reader.values["TF_CLI_CONFIG_FILE"] == "/root/.terraformrc-missing")
        #expect(reader.values["TF_CLI_CONFIG"] == nil)
    }
}

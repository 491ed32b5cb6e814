import AuthProtocol
import JOSE
import Foundation
import ServiceSupport
import WireFormat

/// Where token-issuer's client assertion comes from (`CAMUNDA_SECURITY_AUTHENTICATION_OIDC_CLIENT_ASSERTION_SOURCE`).
public enum ClientAssertionSource: Sendable, Equatable {
    /// Signed by token-issuer with the client certificate's key (the default).
    case keystore
    /// A JWT another party writes to a file (workload identity federation: the Kubernetes projected service account
    /// token), read fresh for every exchange.
    case file(FederatedTokenFile)
}

/// A federated token file: a JWT the platform writes and rotates (the kubelet writes the projected service account
/// token and replaces it at 80 % of its lifetime), handed to the IdP as the client assertion. Read fresh for every
/// exchange, never cached: a token read once and kept until the IdP answers AADSTS700024 an hour later is the failure
/// users of other clients hit (Azure/azure-workload-identity #693).
public struct FederatedTokenFile: Sendable, Equatable {
    public var path: String
    /// The `aud` the token must carry (Entra: `api://AzureADTokenExchange`); nil: not checked.
    public var audience: String?
    /// Seconds of clock difference tolerated on `nbf`.
    public var clockSkew: Int = 60
    /// A token that expires sooner than this (seconds) is refused: the IdP would see it expired.
    public var minimumRemaining: Int = 5

    public init(path: String, audience: String?) {
        self.path = path
        self.audience = audience
    }

    /// The Entra audience of federated tokens.
    public static let entraAudience = "api://AzureADTokenExchange"
    /// Largest token file read.
    static let maximumSize = 16 * 1024

    /// Reads the token and checks what the IdP would refuse: unreadable, not a JWT, expired, not yet valid, wrong
    /// audience. Every error names the file and what to fix; it never contains the token.
    public func read(now: Date = Date()) throws(TokenIssuanceError) -> String {
        guard let data = FileManager.default.contents(atPath: path) else {
            let exists = FileManager.default.fileExists(atPath: path)
            throw failure(
                "The federated token file \(path) \(exists ? "cannot be read (permission denied?)" : "does not exist")",
                hint: "Mount the projected service account token (Kubernetes: a serviceAccountToken volume with audience \(audience ?? Self.entraAudience), or the azure-workload-identity webhook, which sets AZURE_FEDERATED_TOKEN_FILE) and point \(TokenIssuerSetting.assertionFile) at it; the service user must be allowed to read it.")
        }
        guard data.count <= Self.maximumSize else {
            throw failure("The federated token file \(path) holds \(data.count) bytes, more than a JWT", hint: "Point \(TokenIssuerSetting.assertionFile) at the token file itself (one JWT).")
        }
        let token = String(decoding: data, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        struct Claims: Decodable {
            var exp: Double?
            var nbf: Double?
            var audience: JWTAudience?
            var iss: String?
            var sub: String?
            enum CodingKeys: String, CodingKey { case exp, nbf, audience = "aud", iss, sub }
            var aud: [String]? { audience?.values }
        }
        let claims: Claims
        do {
            claims = try StrictJWS(parsing: token).claims(as: Claims.self)
        } catch {
            throw failure("The federated token file \(path) does not hold a JWT (\(error.message))", hint: "Point \(TokenIssuerSetting.assertionFile) at the projected service account token file (one signed JWT).")
        }
        let current = now.timeIntervalSince1970
        guard let exp = claims.exp else {
            throw failure("The federated token in \(path) has no expiry ('exp')", hint: "The IdP refuses tokens without 'exp'; use a projected service account token (expirationSeconds) as the federated token.")
        }
        if exp - Double(minimumRemaining) <= current {
            throw failure(
                "The federated token in \(path) expired at \(RFC3339.string(Date(timeIntervalSince1970: exp))) (now \(RFC3339.string(now))); the IdP would refuse it (AADSTS700024)",
                hint: "Whoever writes \(path) has stopped renewing it: the kubelet renews a projected service account token at 80 % of its lifetime while the pod runs; check the pod's serviceAccountToken volume (expirationSeconds) and the kubelet, or the process that writes the file. token-issuer reads the file fresh for every exchange, so a renewed file is used at once.")
        }
        if let nbf = claims.nbf, nbf - Double(clockSkew) > current {
            throw failure(
                "The federated token in \(path) is not valid before \(RFC3339.string(Date(timeIntervalSince1970: nbf))) (now \(RFC3339.string(now)))",
                hint: "The clocks of this machine and the token's issuer differ; synchronise them (NTP).")
        }
        if let audience, !(claims.aud ?? []).contains(audience) {
            throw failure(
                "The federated token in \(path) is for audience \((claims.aud ?? []).map { "'\($0)'" }.joined(separator: ", ").ifEmpty("(none)")), not '\(audience)'; the IdP would refuse it (AADSTS700212)",
                hint: "Request the token for '\(audience)' (Kubernetes: serviceAccountToken audience: \(audience)), or set \(TokenIssuerSetting.assertionFileAudience) to the audience of the federated credential.")
        }
        return token
    }

    private func failure(_ description: String, hint: String) -> TokenIssuanceError {
        TokenIssuanceError(status: 500, body: OAuthErrorResponse(error: "server_error", errorDescription: description, hint: hint))
    }
}

extension String {
    fileprivate func ifEmpty(_ replacement: String) -> String { isEmpty ? replacement : self }
}

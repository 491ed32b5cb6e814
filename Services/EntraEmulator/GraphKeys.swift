import Crypto
import Foundation
import JOSE
import Keystore
import SwiftASN1
import WireFormat
import X509
import _CryptoExtras

/// The app registrations as they change at run time: Graph `addKey` / `removeKey` add and remove certificates, which
/// the token endpoint then accepts or refuses.
public actor AppRegistryStore {
    private var registry: AppRegistry

    public init(_ registry: AppRegistry) { self.registry = registry }

    /// The registrations now (a value: one request sees one consistent view).
    public func snapshot() -> AppRegistry { registry }

    /// Graph addKey: registers `certificate` on the app `clientID` (a certificate already registered is refused).
    func add(_ certificate: RegisteredCertificate, clientID: String) throws(GraphFailure) {
        var app = try app(clientID)
        guard !app.certificates.contains(where: { $0.x5tS256 == certificate.x5tS256 }) else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "A key credential with the same thumbprint already exists on the application.")
        }
        app.certificates.append(certificate)
        registry.apps[clientID.lowercased()] = app
    }

    /// Graph removeKey: removes the key credential `keyID` of the app `clientID`.
    func remove(keyID: String, clientID: String) throws(GraphFailure) -> RegisteredCertificate {
        var app = try app(clientID)
        guard let index = app.certificates.firstIndex(where: { $0.keyID == keyID }) else {
            throw GraphFailure(status: 404, code: "Request_ResourceNotFound", message: "No key credential with keyId '\(keyID)' on the application.")
        }
        let removed = app.certificates.remove(at: index)
        registry.apps[clientID.lowercased()] = app
        return removed
    }

    private func app(_ clientID: String) throws(GraphFailure) -> AppRegistration {
        guard let app = registry.apps[clientID.lowercased()] else {
            throw GraphFailure(status: 404, code: "Request_ResourceNotFound", message: "Resource '\(clientID)' does not exist or one of its queried reference-property objects are not present.")
        }
        return app
    }
}

/// A Graph error answer: `{"error": {"code", "message"}}` with its HTTP status.
public struct GraphFailure: Error, Sendable, Equatable {
    /// HTTP status (``status`` is the same as Hummingbird's status, for the routes that throw it).
    public var statusCode: Int
    public var code: String
    public var message: String

    public init(status: Int, code: String, message: String) {
        self.statusCode = status
        self.code = code
        self.message = message
    }
}

/// Graph's `keyCredential` resource as addKey answers it and `GET /applications/{id}` lists it (`key` is never
/// returned).
public struct GraphKeyCredential: Codable, Sendable, Equatable {
    public var customKeyIdentifier: String
    public var displayName: String
    public var endDateTime: String
    public var keyId: String
    public var startDateTime: String
    public var type: String
    public var usage: String
    public var key: String?

    init(_ registered: RegisteredCertificate) {
        customKeyIdentifier = registered.customKeyIdentifier
        displayName = registered.displayName
        endDateTime = RFC3339.string(registered.certificate.notValidAfter)
        startDateTime = RFC3339.string(registered.certificate.notValidBefore)
        keyId = registered.keyID
        type = "AsymmetricX509Cert"
        usage = "Verify"
        key = nil
    }
}

/// Graph's checks for `application: addKey` / `removeKey` (learn.microsoft.com, graph/api/application-addkey and
/// application-removekey; graph/application-rollkey-prooftoken): an app-only Graph token of the application itself (an
/// application needs no permission to roll its own keys; another application's token is refused), and a proof of
/// possession: a JWT signed with one of the application's registered, currently valid certificates, `aud`
/// `00000002-0000-0000-c000-000000000000`, `iss` the application object's id, `nbf` and `exp` with `exp` at most
/// 10 minutes after `nbf`.
public struct GraphKeyLogic: Sendable {
    public static let proofAudience = "00000002-0000-0000-c000-000000000000"
    public static let maximumProofLifetime: Double = 600

    let issuer: String
    let clockSkew: Double

    public init(issuer: String, clockSkew: Int) {
        self.issuer = issuer
        self.clockSkew = Double(clockSkew)
    }

    /// Finds the application by Graph's two addressings: `{id}` (object id) or `(appId='{appId}')`.
    public static func application(_ selector: String, in registry: AppRegistry) -> AppRegistration? {
        let lowered = selector.lowercased()
        if lowered.hasPrefix("(appid='"), lowered.hasSuffix("')") {
            let appID = String(lowered.dropFirst("(appid='".count).dropLast(2))
            return registry.apps[appID]
        }
        return registry.apps.values.first { $0.applicationObjectID == lowered }
    }

    /// The bearer token must be an app-only Graph token the emulator issued to `app` itself.
    public func checkAccessToken(_ authorization: String?, app: AppRegistration, keys: [SigningKeys.Key], now: Date) throws(GraphFailure) {
        guard let authorization, authorization.lowercased().hasPrefix("bearer ") else {
            throw GraphFailure(status: 401, code: "InvalidAuthenticationToken", message: "Access token is empty.")
        }
        let token = String(authorization.dropFirst("bearer ".count)).trimmingCharacters(in: .whitespaces)
        struct Claims: Decodable { var aud: String; var iss: String; var exp: Double; var azp: String? }
        guard let jws = try? StrictJWS(parsing: token, algorithms: [.rs256]), let claims = try? jws.claims(as: Claims.self) else {
            throw GraphFailure(status: 401, code: "InvalidAuthenticationToken", message: "IDX14100: JWT is not well formed.")
        }
        guard let key = keys.first(where: { $0.kid == jws.header.kid }), JWS.verify(jws, key: .rsa(key.privateKey.publicKey))
        else {
            throw GraphFailure(status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure: signature is invalid.")
        }
        guard claims.iss == issuer, GraphResource.identifiers.contains(claims.aud.lowercased()) else {
            throw GraphFailure(status: 401, code: "InvalidAuthenticationToken", message: "Access token validation failure. Invalid audience.")
        }
        guard claims.exp + clockSkew >= now.timeIntervalSince1970 else {
            throw GraphFailure(status: 401, code: "InvalidAuthenticationToken", message: "Lifetime validation failed, the token is expired.")
        }
        guard claims.azp?.lowercased() == app.clientID.lowercased() else {
            throw GraphFailure(status: 403, code: "Authorization_RequestDenied", message: "Insufficient privileges to complete the operation. (An application may roll only its own keys without Application.ReadWrite permissions.)")
        }
    }

    /// The proof of possession: returns the registered certificate that signed it.
    public func checkProof(_ proof: String?, app: AppRegistration, now: Date) throws(GraphFailure) -> RegisteredCertificate {
        guard let proof, !proof.isEmpty else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "The 'proof' parameter is required: a JWT signed with one of the application's existing certificates.")
        }
        struct Claims: Decodable { var aud: String?; var iss: String?; var nbf: Double?; var exp: Double? }
        guard let jws = try? StrictJWS(parsing: proof, algorithms: [.rs256, .ps256]), let claims = try? jws.claims(as: Claims.self) else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession is not a well-formed RS256 or PS256 JWT (no '=' padding in its parts).")
        }
        // The signing certificate by x5t#S256, x5t, or a kid holding the SHA-1 thumbprint in hex (as .NET's X509SigningCredentials).
        guard let signer = app.certificate(namedBy: jws.header, kidAsSHA1Hex: true) else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession is not signed with a certificate registered on application '\(app.clientID)'.")
        }
        guard let publicKey = _RSA.Signing.PublicKey(signer.certificate.publicKey), JWS.verify(jws, key: .rsa(publicKey)) else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession's signature does not verify with the registered certificate.")
        }
        guard now >= signer.certificate.notValidBefore, now <= signer.certificate.notValidAfter else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The certificate that signed the proof of possession is not within its validity period; an application without a valid certificate cannot use addKey (use Update application).")
        }
        guard claims.aud == Self.proofAudience else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession's audience must be \(Self.proofAudience), not '\(claims.aud?.prefix(100) ?? "")'.")
        }
        guard claims.iss?.lowercased() == app.applicationObjectID else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession's issuer must be the id of the application object (\(app.applicationObjectID)), not '\(claims.iss?.prefix(100) ?? "")'.")
        }
        guard let nbf = claims.nbf, let exp = claims.exp else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession needs 'nbf' and 'exp'.")
        }
        guard exp - nbf <= Self.maximumProofLifetime else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession is valid for \(Int(exp - nbf)) seconds; at most 10 minutes ('exp' = 'nbf' + 10 min).")
        }
        let current = now.timeIntervalSince1970
        guard nbf - clockSkew <= current, exp + clockSkew >= current else {
            throw GraphFailure(status: 401, code: "Authentication_MissingOrMalformed", message: "The proof of possession is not valid now (nbf \(Int(nbf)), exp \(Int(exp))).")
        }
        return signer
    }

    /// The `keyCredential` of an addKey body: a public X.509 certificate (`AsymmetricX509Cert`, usage `Verify`).
    public func newCertificate(_ body: AddKeyBody) throws(GraphFailure) -> RegisteredCertificate {
        guard let credential = body.keyCredential else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "The 'keyCredential' parameter is required.")
        }
        guard credential.type == "AsymmetricX509Cert", credential.usage == "Verify" else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "keyCredential: type must be AsymmetricX509Cert with usage Verify (X509CertAndPassword/Sign is not emulated); got type '\(credential.type?.prefix(40) ?? "")', usage '\(credential.usage?.prefix(40) ?? "")'.")
        }
        guard credential.keyId == nil else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "keyCredential: keyId must be null; Graph assigns it.")
        }
        guard let key = credential.key, let der = Data(base64Encoded: key), let certificate = try? Certificate(derEncoded: Array(der)) else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "keyCredential: 'key' must be the base64 DER of an X.509 certificate (public part only).")
        }
        guard _RSA.Signing.PublicKey(certificate.publicKey) != nil else {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "keyCredential: the certificate's key must be RSA (Entra's certificate credentials).")
        }
        if body.passwordCredential != nil {
            throw GraphFailure(status: 400, code: "Request_BadRequest", message: "passwordCredential must be null for AsymmetricX509Cert.")
        }
        return RegisteredCertificate.added(certificate, der: Array(der), displayName: credential.displayName)
    }
}

/// The body of `POST /applications/{id}/addKey`.
public struct AddKeyBody: Decodable, Sendable {
    public struct KeyCredential: Decodable, Sendable {
        var type: String?
        var usage: String?
        var key: String?
        var keyId: String?
        var displayName: String?
    }
    /// Only `secretText` matters (X509CertAndPassword); any non-null value is refused for AsymmetricX509Cert.
    public struct PasswordCredential: Decodable, Sendable {
        var secretText: String?
    }
    var keyCredential: KeyCredential?
    var passwordCredential: PasswordCredential?
    var proof: String?
}

/// The body of `POST /applications/{id}/removeKey`.
public struct RemoveKeyBody: Decodable, Sendable {
    var keyId: String?
    var proof: String?
}

import Foundation
import Hummingbird

extension TokenEndpointLogic {
    /// The token request's `application/x-www-form-urlencoded` body, read with Hummingbird's `URLEncodedFormDecoder`
    /// (`+` and `%20` are spaces, percent-encoding must be valid UTF-8, a part without `=` is ignored), and what Entra
    /// answers when it cannot be used: a parameter sent twice (RFC 6749 §3.2: "MUST NOT be included more than once")
    /// is AADSTS9000411; a body that is not a flat form (bad percent-encoding, `name[key]` nesting) reads as empty,
    /// so the first missing parameter is named (AADSTS900144 `grant_type`), as before. The refusal is answered where
    /// the handler answers the other refusals, after fault injection and the request count.
    ///
    /// Percent-encoded bytes that are not UTF-8 are checked first: Hummingbird's decoder would turn them into U+FFFD
    /// and pass the value on; the emulator refuses such a body as it always has (`removingPercentEncoding` is nil
    /// exactly when some part is not valid percent-encoded UTF-8, the separators being ASCII).
    public static func readForm(_ body: String) -> (form: [String: String], refusal: EntraFailure?) {
        guard body.removingPercentEncoding != nil else { return ([:], nil) }
        do {
            return (try URLEncodedFormDecoder().decode([String: String].self, from: body), nil)
        } catch let error as URLEncodedFormError where error.code == .duplicateKeys {
            return ([:], EntraFailure(
                error: "invalid_request", code: 9000411,
                message: "The request is not properly formatted. The parameter '\(error.value)' is duplicated."))
        } catch {
            return ([:], nil)
        }
    }

    /// Throws `refusal`, if any (typed, so the handler's `catch` stays an `EntraFailure`).
    public static func refuse(_ refusal: EntraFailure?) throws(EntraFailure) {
        if let refusal { throw refusal }
    }
}

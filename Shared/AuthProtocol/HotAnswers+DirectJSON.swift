import WireFormat

// MARK: - The hot answers (members in sorted order, as `.sortedKeys`)

extension PrincipalResponse: DirectJSONEncodable {
    public func writeJSON(to writer: inout JSONTextWriter) {
        writer.beginObject()
        writer.member("authentication_method", authenticationMethod.rawValue)
        writer.member("authorities", authorities)
        writer.member("client_id", clientID)
        writer.member("expires_at", expiresAt)
        writer.member("principal", principal)
        writer.member("roles", roles)
        writer.member("tenant_id", tenantID)
        writer.endObject()
    }
}

extension TokenResponse: DirectJSONEncodable {
    public func writeJSON(to writer: inout JSONTextWriter) {
        writer.beginObject()
        writer.member("access_token", accessToken)
        writer.member("expires_at", expiresAt)
        writer.member("expires_in", expiresIn)
        writer.member("scope", scope)
        writer.member("token_type", tokenType)
        writer.endObject()
    }
}

extension ResolveResponse: DirectJSONEncodable {
    public func writeJSON(to writer: inout JSONTextWriter) {
        writer.beginObject()
        writer.member("mapping_rules", mappingRules)
        writer.member("roles", roles)
        writer.endObject()
    }
}

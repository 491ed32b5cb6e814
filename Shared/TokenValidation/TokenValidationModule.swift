/// Bearer-token validation: JWKS key set cache, JWT checks, verified-token cache. (Being written.)
public enum TokenValidationModule {}

/// Client certificate chain validation (swift-certificates Verifier) and subject principals. (Being written.)
public enum CertificateValidationModule {}

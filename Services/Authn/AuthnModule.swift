/// The authn service. (Being written.)
public enum AuthnModule {}

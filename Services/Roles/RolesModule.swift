/// The roles service. (Being written.)
public enum RolesModule {}

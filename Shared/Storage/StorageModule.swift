/// Durable storage: SQLite (GRDB) and PostgreSQL (postgres-nio). (Being written.)
public enum StorageModule {}

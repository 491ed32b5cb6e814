import Crypto
import Foundation
import Synchronization

/// Tokens that passed validation, so a repeated token costs no signature check. Keyed by the SHA-256 of the token
/// (the token itself is never stored); an entry ends at the token's `exp`. Holds at most `capacity` entries, dropping
/// the oldest first. Use one cache per validator: an entry means "valid under that validator's settings".
///
/// A `Mutex`, not an actor: every bearer request looks a token up (and every new token is stored), and the lookup is a
/// dictionary probe; as an actor each was a hop there and back (two task switches, `swift_task_switch` with its
/// executor-preference lock, perf). Nothing is awaited while the lock is held.
public final class VerifiedTokenCache: Sendable {
    /// One cached token, boxed: the table's buckets (a third of them empty) then hold a reference, not the
    /// ~200-byte token.
    private final class Entry: Sendable {
        let token: ValidatedToken

        init(_ token: ValidatedToken) {
            self.token = token
        }
    }


    private let state: Mutex<DigestTable<Entry>>

    public init(capacity: Int = 10_000) {
        state = Mutex(DigestTable(capacity: capacity))
    }

    /// The validated token, if `token` is cached and `now` is before its `exp`; an expired entry is dropped.
    public func lookup(_ token: String, now: Date) -> ValidatedToken? {
        lookup(key: Self.key(token), now: now)
    }

    /// Remembers `validated` as the result for `token` until its `exp`.
    public func store(_ token: String, _ validated: ValidatedToken) {
        store(key: Self.key(token), validated)
    }

    /// Entries held now (expired ones count until looked up or evicted).
    public var count: Int { state.withLock { $0.entries.count } }

    // MARK: - By digest (the validator hashes each token once)

    func lookup(key: SHA256Digest, now: Date) -> ValidatedToken? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard now < entry.token.expiresAt else {
                state.entries[key] = nil
                return nil
            }
            return entry.token
        }
    }

    func store(key: SHA256Digest, _ validated: ValidatedToken) {
        let entry = Entry(validated)
        state.withLock { $0.insert(entry, for: key) }
    }

    /// Drops every entry verified with one of `keyIDs` (keys that left the JWKS: their tokens are no longer valid).
    public func remove(keyIDs: Set<String>) {
        guard !keyIDs.isEmpty else { return }
        state.withLock { state in
            state.entries = state.entries.filter { !keyIDs.contains($0.value.token.keyID) }
        }
    }

    func remove(key: SHA256Digest) {
        _ = state.withLock { $0.entries.removeValue(forKey: key) }
    }

    static func key(_ token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}

/// Tokens refused after their signature check (a bad signature, a key that does not fit, claims that fail), so the
/// same token sent again is refused with the same error without another RSA verification: a client retrying a bad
/// token, or authn's lean path declining a token the route then checks again, costs a digest and a lookup. Keyed by
/// the token's SHA-256 like ``VerifiedTokenCache``; an entry lasts `lifetime` (30 s), at most `capacity` are held.
/// Refusals that time can undo (`nbf`/`iat` in the future) and those made before the signature check (cheap anyway)
/// are not kept.
final class RefusedTokenCache: Sendable {
    private struct Entry {
        var error: TokenValidationError
        var until: Date
    }

    private let lifetime: TimeInterval
    private let state: Mutex<DigestTable<Entry>>

    init(capacity: Int = 1024, lifetime: TimeInterval = 30) {
        state = Mutex(DigestTable(capacity: capacity))
        self.lifetime = lifetime
    }

    static func keeps(_ code: TokenValidationError.Code) -> Bool {
        switch code {
        case .algorithmKeyMismatch, .invalidSignature, .malformed, .invalidIssuer, .invalidAudience, .expired,
             .missingExpiry, .lifetimeTooLong, .wrongTokenType, .invalidTenant:
            return true
        case .notYetValid, .tooLarge, .unsupportedAlgorithm, .missingKeyID, .unknownKeyID, .criticalHeader, .keysUnavailable:
            return false
        }
    }

    func lookup(key: SHA256Digest, now: Date) -> TokenValidationError? {
        state.withLock { state in
            guard let entry = state.entries[key] else { return nil }
            guard now < entry.until else {
                state.entries[key] = nil
                return nil
            }
            return entry.error
        }
    }

    func store(key: SHA256Digest, _ error: TokenValidationError, now: Date) {
        guard Self.keeps(error.code) else { return }
        let entry = Entry(error: error, until: now.addingTimeInterval(lifetime))
        state.withLock { $0.insert(entry, for: key) }
    }
}

/// Entries by token digest, at most `capacity`, the oldest stored dropped first: the table of both token caches.
struct DigestTable<Entry> {
    var entries: [SHA256Digest: Entry] = [:]
    /// Keys in insertion order, a ring of at most `capacity` slots; `next` is the oldest once the ring is full.
    /// Storing a new key into a full ring evicts the key in its slot (unless that one was dropped already).
    private var ring: [SHA256Digest] = []
    private var next = 0
    private let capacity: Int

    init(capacity: Int) {
        self.capacity = max(1, capacity)
    }

    mutating func insert(_ entry: Entry, for key: SHA256Digest) {
        if entries.updateValue(entry, forKey: key) != nil { return }
        if ring.count < capacity {
            ring.append(key)
            return
        }
        entries[ring[next]] = nil
        ring[next] = key
        next = next + 1 == capacity ? 0 : next + 1
    }
}

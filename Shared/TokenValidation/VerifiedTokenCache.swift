import Crypto
import Foundation

/// Tokens that passed validation, so a repeated token costs no signature check. Keyed by the SHA-256 of the token
/// (the token itself is never stored); an entry ends at the token's `exp`. Holds at most `capacity` entries, dropping
/// the oldest first. Use one cache per validator: an entry means "valid under that validator's settings".
public actor VerifiedTokenCache {
    /// One cached token, boxed: the table's buckets (a third of them empty) then hold a reference, not the
    /// ~200-byte token.
    private final class Entry: Sendable {
        let token: ValidatedToken

        init(_ token: ValidatedToken) {
            self.token = token
        }
    }

    private let capacity: Int
    private var entries: [SHA256Digest: Entry] = [:]
    /// Keys in insertion order, a ring of at most `capacity` slots; `next` is the oldest once the ring is full.
    /// Storing a new key into a full ring evicts the key in its slot (unless that one was dropped already).
    private var ring: [SHA256Digest] = []
    private var next = 0

    public init(capacity: Int = 10_000) {
        self.capacity = max(1, capacity)
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
    public var count: Int { entries.count }

    // MARK: - By digest (the validator hashes each token once)

    func lookup(key: SHA256Digest, now: Date) -> ValidatedToken? {
        guard let entry = entries[key] else { return nil }
        guard now < entry.token.expiresAt else {
            entries[key] = nil
            return nil
        }
        return entry.token
    }

    func store(key: SHA256Digest, _ validated: ValidatedToken) {
        if entries.updateValue(Entry(validated), forKey: key) != nil { return }
        if ring.count < capacity {
            ring.append(key)
            return
        }
        entries[ring[next]] = nil
        ring[next] = key
        next = next + 1 == capacity ? 0 : next + 1
    }

    static func key(_ token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}

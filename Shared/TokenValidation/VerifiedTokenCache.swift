import Crypto
import Foundation

/// Tokens that passed validation, so a repeated token costs no signature check. Keyed by the SHA-256 of the token
/// (the token itself is never stored); an entry ends at the token's `exp`. Holds at most `capacity` entries, dropping
/// the oldest first. Use one cache per validator: an entry means "valid under that validator's settings".
public actor VerifiedTokenCache {
    private struct Entry {
        var token: ValidatedToken
        var expiresAt: Date
    }

    private let capacity: Int
    private var entries: [SHA256Digest: Entry] = [:]
    /// Insertion order, oldest at `head`; keys already dropped (expired on lookup) are skipped when evicting.
    private var order: [SHA256Digest] = []
    private var head = 0

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
        guard now < entry.expiresAt else {
            entries[key] = nil
            return nil
        }
        return entry.token
    }

    func store(key: SHA256Digest, _ validated: ValidatedToken) {
        if entries.updateValue(Entry(token: validated, expiresAt: validated.expiresAt), forKey: key) != nil { return }
        order.append(key)
        while entries.count > capacity, head < order.count {
            entries[order[head]] = nil
            head += 1
        }
        compactOrder()
    }

    /// Keeps `order` from growing without bound: drops the consumed prefix and keys no longer cached.
    private func compactOrder() {
        guard order.count - head > 2 * capacity || head > capacity else { return }
        order = order[head...].filter { entries[$0] != nil }
        head = 0
    }

    static func key(_ token: String) -> SHA256Digest {
        var token = token
        return token.withUTF8 { SHA256.hash(data: UnsafeRawBufferPointer($0)) }
    }
}

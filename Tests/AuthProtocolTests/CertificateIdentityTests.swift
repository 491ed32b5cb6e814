import AuthProtocol
import Foundation
import Testing

/// SPIFFE IDs and patterns, SAN wire names, DNS patterns and SPKI digests (issue 17 item 5).
@Suite struct CertificateIdentityTests {
    @Test(arguments: [
        "spiffe://prod.example/ns/payments/sa/api",
        "spiffe://prod.example",
        "spiffe://td_1-a.b/A.b-c_d",
    ])
    func validSPIFFEIDs(_ text: String) {
        #expect(SPIFFEID(text)?.description == text)
        #expect(SPIFFEID.problem(text) == nil)
    }

    @Test(arguments: [
        ("http://prod.example/x", "does not start with spiffe://"),
        ("SPIFFE://prod.example/x", "does not start with spiffe://"),
        ("spiffe:///x", "empty trust domain"),
        ("spiffe://Prod.example/x", "trust domain"),
        ("spiffe://prod.example:443/x", "trust domain"),
        ("spiffe://user@prod.example/x", "trust domain"),
        ("spiffe://prod.example/a//b", "empty path segment"),
        ("spiffe://prod.example/a/", "empty path segment"),
        ("spiffe://prod.example/a/../b", "'..'"),
        ("spiffe://prod.example/a?x=1", "query"),
        ("spiffe://prod.example/a%2Fb", "percent"),
    ])
    func invalidSPIFFEIDs(_ text: String, _ reason: String) {
        #expect(SPIFFEID(text) == nil)
        #expect(SPIFFEID.problem(text)?.contains(reason) == true, "\(SPIFFEID.problem(text) ?? "nil")")
    }

    @Test(arguments: [
        ("spiffe://prod.example/ns/payments/sa/*", "spiffe://prod.example/ns/payments/sa/api", true),
        ("spiffe://prod.example/ns/payments/sa/*", "spiffe://prod.example/ns/payments/sa/api/extra", false),
        ("spiffe://prod.example/ns/payments/sa/*", "spiffe://staging.example/ns/payments/sa/api", false),
        ("spiffe://prod.example/ns/*/sa/api", "spiffe://prod.example/ns/orders/sa/api", true),
        ("spiffe://prod.example/ns/pay*/sa/api", "spiffe://prod.example/ns/payments/sa/api", true),
        ("spiffe://prod.example/ns/pay*/sa/api", "spiffe://prod.example/ns/orders/sa/api", false),
        ("spiffe://prod.example/**", "spiffe://prod.example/a/b/c", true),
        ("spiffe://prod.example/**", "spiffe://prod.example", true),
        ("spiffe://prod.example/ns/**/api", "spiffe://prod.example/ns/api", true),
        ("spiffe://prod.example/ns/**/api", "spiffe://prod.example/ns/x/y/api", true),
        ("spiffe://prod.example/ns/**/api", "spiffe://prod.example/ns/x/y/apix", false),
        ("spiffe://prod.example/exact", "spiffe://prod.example/Exact", false),
    ])
    func spiffePatterns(_ pattern: String, _ id: String, _ expected: Bool) throws {
        let compiled = try #require(SPIFFEPattern(pattern))
        let parsed = try #require(SPIFFEID(id))
        #expect(compiled.matches(parsed) == expected)
    }

    @Test(arguments: ["spiffe://prod.*/x", "spiffe://prod.example/a**", "spiffe://prod.example//x", "https://prod.example/x"])
    func invalidPatterns(_ pattern: String) {
        #expect(SPIFFEPattern(pattern) == nil)
        #expect(SPIFFEPattern.problem(pattern) != nil)
    }

    @Test func manyStarsDoNotBacktrackForever() throws {
        let pattern = try #require(SPIFFEPattern("spiffe://t/" + String(repeating: "*a", count: 200) + "b"))
        let id = try #require(SPIFFEID("spiffe://t/" + String(repeating: "a", count: 2000)))
        let clock = ContinuousClock()
        let start = clock.now
        #expect(!pattern.matches(id))
        #expect(clock.now - start < .seconds(1))
    }

    @Test func sanWireNames() {
        #expect(CertificateSAN(wire: "DNS:a.example") == .dns("a.example"))
        #expect(CertificateSAN(wire: "uri:spiffe://t/x") == .uri("spiffe://t/x"))
        #expect(CertificateSAN(wire: "IP:127.0.0.1") == nil)
        #expect(CertificateSAN(wire: "DNS:") == nil)
        #expect(CertificateSAN.uri("urn:x").wire == "URI:urn:x")
    }

    @Test func dnsPatterns() {
        #expect(DNSNamePattern.matches("operate.example", "OPERATE.example."))
        #expect(DNSNamePattern.matches("*.svc.example", "a.svc.example"))
        #expect(!DNSNamePattern.matches("*.svc.example", "a.b.svc.example"))
        #expect(!DNSNamePattern.matches("*.svc.example", "svc.example"))
        #expect(DNSNamePattern.problem("*.example") != nil)  // a wildcard over a whole TLD-like suffix
        #expect(DNSNamePattern.problem("a.*.example") != nil)
        #expect(DNSNamePattern.problem("a b.example") != nil)
        #expect(DNSNamePattern.problem("*.svc.example") == nil)
    }

    @Test func spkiDigestForms() {
        let hex = "5e8a1e3d2c4b6a798877665544332211ffeeddccbbaa99887766554433221100"
        let colons = stride(from: 0, to: 64, by: 2).map { index -> String in
            let start = hex.index(hex.startIndex, offsetBy: index)
            return String(hex[start..<hex.index(start, offsetBy: 2)]).uppercased()
        }.joined(separator: ":")
        #expect(SPKIDigest.canonical(hex) == hex)
        #expect(SPKIDigest.canonical(colons) == hex)
        var bytes: [UInt8] = []
        var index = hex.startIndex
        while index < hex.endIndex {
            let next = hex.index(index, offsetBy: 2)
            bytes.append(UInt8(hex[index..<next], radix: 16)!)
            index = next
        }
        let base64url = Data(bytes).base64EncodedString()
            .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_").replacingOccurrences(of: "=", with: "")
        #expect(SPKIDigest.canonical(base64url) == hex)
        #expect(SPKIDigest.canonical(base64url + "=") == hex)
        #expect(SPKIDigest.canonical("abc") == nil)
        #expect(SPKIDigest.canonical(String(hex.dropLast())) == nil)
        #expect(SPKIDigest.canonical(String(repeating: "g", count: 64)) == nil)
    }
}

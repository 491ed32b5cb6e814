import ServiceSupport
import Testing
import W3CTraceContext

/// Our `traceparent` parser (``ServiceSupport/TraceContext``, kept because it runs on the lean path: bench/README.md,
/// "Trace context and base64") against swift-w3c-trace-context's, the kept library: the same accept or refuse and the
/// same ids and flags for every version-00 value of the corpus; for a higher version ours reads the version-00 prefix
/// as W3C Trace Context §3.2.4 asks, where the library refuses (the one allowed difference). We read no `tracestate`
/// (the installed tracer propagates it), so only `traceparent` is compared.
@Suite struct TraceContextEquivalenceTests {
    typealias Ours = ServiceSupport.TraceContext
    typealias Library = W3CTraceContext.TraceContext

    static let trace = "4bf92f3577b34da6a3ce929d0e0e4736"
    static let span = "00f067aa0ba902b7"

    /// Version-00 values, valid and not: the spec's examples, each field at each wrong length, uppercase, zero ids,
    /// bad delimiters, surrounding whitespace, extra fields, every flags byte class, non-ASCII.
    static let version00: [String] = {
        var corpus = [
            "00-\(trace)-\(span)-01",
            "00-\(trace)-\(span)-00",
            "00-\(trace)-\(span)-ff",
            "00-\(trace)-\(span)-09",
            "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01",
            "00-00000000000000000000000000000000-\(span)-01",
            "00-\(trace)-0000000000000000-01",
            "00-00000000000000000000000000000001-0000000000000001-01",
            "00-\(trace.uppercased())-\(span)-01",
            "00-\(trace)-\(span.uppercased())-01",
            "00-\(trace)-\(span)-0A",
            "0A-\(trace)-\(span)-01",
            "00-\(trace)-\(span)-01-",
            "00-\(trace)-\(span)-01-extra",
            "00-\(trace)-\(span)-01 ",
            " 00-\(trace)-\(span)-01",
            "00_\(trace)-\(span)-01",
            "00-\(trace)_\(span)-01",
            "00-\(trace)-\(span)_01",
            "00-\(trace)-\(span)-0",
            "00-\(trace)-\(span)-001",
            "00-\(trace)-\(span)",
            "00-\(trace)-\(span)-",
            "00-\(trace)\(span)-01",
            "00-\(trace)-\(span)-0g",
            "00-\(trace.dropLast())g-\(span)-01",
            "00-\(trace)-\(span.dropLast())x-01",
            "00-\(trace.dropLast())é-\(span)-01",
            "00--\(trace)-\(span)-01",
            "",
            "-",
            "00",
            "00-",
            String(repeating: "0", count: 55),
            String(repeating: "-", count: 55),
        ]
        // Each id one digit short and one long (length errors that keep the total length or not).
        corpus += [
            "00-\(trace.dropLast())-\(span)-01", "00-\(trace)0-\(span)-01",
            "00-\(trace)-\(span.dropLast())-01", "00-\(trace)-\(span)0-01",
            "00-\(trace.dropLast())-\(span)0-01", "00-\(trace)0-\(span.dropLast())-01",
            "0-\(trace)0-\(span)-01", "000-\(trace.dropLast())-\(span)-01",
        ]
        // Every byte in every position of a valid value: what each of 55 positions accepts.
        let valid = Array("00-\(trace)-\(span)-01".utf8)
        for position in valid.indices {
            for byte in [UInt8(ascii: "0"), UInt8(ascii: "a"), UInt8(ascii: "f"), UInt8(ascii: "g"), UInt8(ascii: "A"),
                         UInt8(ascii: "F"), UInt8(ascii: "-"), UInt8(ascii: " "), 0x00, 0x7f] {
                var mutated = valid
                mutated[position] = byte
                corpus.append(String(decoding: mutated, as: UTF8.self))
            }
        }
        return corpus
    }()

    static func reference(_ value: String) -> (traceID: String, spanID: String, flags: String)? {
        guard let parsed = try? Library(traceParentHeaderValue: value) else { return nil }
        return (parsed.traceID.description, parsed.spanID.description, parsed.flags.description)
    }

    @Test(arguments: version00)
    func acceptedAndReadAsTheLibraryDoes(value: String) throws {
        let ours = Ours(traceparent: value)
        let library = Self.reference(value)
        guard value.utf8.starts(with: "00".utf8) else {
            // A mutated version byte: the library reads only 00; ours reads a valid higher version (§3.2.4) by the
            // version-00 layout, so it must accept exactly what the library accepts under version 00.
            #expect(library == nil)
            if let ours {
                let as00 = try #require(Self.reference("00" + value.utf8.dropFirst(2).prefix(53).map { String(UnicodeScalar($0)) }.joined()))
                #expect(ours.traceID == as00.traceID && ours.spanID == as00.spanID && ours.flags == as00.flags, "\(value.debugDescription)")
            }
            return
        }
        #expect((ours == nil) == (library == nil), "\(value.debugDescription): ours \(ours?.traceparent ?? "refused"), library \(library.map { "\($0)" } ?? "refused")")
        if let ours, let library {
            #expect(ours.traceID == library.traceID && ours.spanID == library.spanID && ours.flags == library.flags)
            // What we send on is what the library would send for the same context.
            #expect(ours.traceparent == (try? Library(traceParentHeaderValue: value))?.traceParentHeaderValue)
        }
    }

    /// §3.2.4: a higher version is parsed by the version-00 layout of its first 55 bytes, followed by nothing or `-`;
    /// `ff` is invalid. The library knows only `00` and refuses all of them.
    @Test func higherVersionsAreReadByTheirVersion00PrefixWhereTheLibraryRefuses() throws {
        for value in ["01-\(Self.trace)-\(Self.span)-01", "cc-\(Self.trace)-\(Self.span)-00", "01-\(Self.trace)-\(Self.span)-01-what-ever"] {
            let ours = try #require(Ours(traceparent: value), "\(value)")
            #expect(ours.traceID == Self.trace && ours.spanID == Self.span)
            #expect(Self.reference(value) == nil, "the library reads only version 00")
            // Sent on as version 00, which is what the library reads.
            #expect(Self.reference(ours.traceparent)?.traceID == Self.trace)
        }
        for value in ["ff-\(Self.trace)-\(Self.span)-01", "01-\(Self.trace)-\(Self.span)-01x", "01-\(Self.trace)-\(Self.span)-1",
                      "01-\(Self.trace.uppercased())-\(Self.span)-01", "01-00000000000000000000000000000000-\(Self.span)-01"] {
            #expect(Ours(traceparent: value) == nil, "\(value)")
            #expect(Self.reference(value) == nil)
        }
    }

    /// The ids we make (random, child, and the lean path's one-string form) are read back by the library unchanged.
    @Test func whatWeMakeTheLibraryReads() throws {
        for _ in 0..<200 {
            let made = Ours.random()
            for header in [made.traceparent, made.child().traceparent, Ours.randomTraceparent()] {
                let library = try #require(Self.reference(header), "\(header)")
                let ours = try #require(Ours(traceparent: header))
                #expect(ours.traceID == library.traceID && ours.spanID == library.spanID && ours.flags == library.flags)
            }
        }
    }
}

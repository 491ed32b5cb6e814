import Foundation
import ServiceSupport
import Testing

/// W3C Trace Context ids made for answers without an incoming `traceparent` (the router's and the lean path's).
@Suite struct TraceContextTests {
    @Test func newTracesAreWellFormedAndDistinct() throws {
        var seen = Set<String>()
        for _ in 0..<500 {
            let trace = TraceContext.random()
            #expect(trace.traceID.utf8.count == 32 && trace.spanID.utf8.count == 16 && trace.flags == "01")
            let parsed = try #require(TraceContext(traceparent: trace.traceparent))
            #expect(parsed == trace)
            let header = TraceContext.randomTraceparent()
            let fromHeader = try #require(TraceContext(traceparent: header), "\(header)")
            #expect(fromHeader.traceparent == header && header.utf8.count == 55)
            #expect(seen.insert(trace.traceID).inserted && seen.insert(fromHeader.traceID).inserted)
        }
        // A child keeps the trace and changes the span.
        let parent = TraceContext.random()
        let child = parent.child()
        #expect(child.traceID == parent.traceID && child.spanID != parent.spanID && child.spanID.utf8.count == 16)
    }
}

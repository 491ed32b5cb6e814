/// Log metadata keys of this module, under the suite's convention (`AuthProtocol.LogKey`: dotted, lower case,
/// OpenTelemetry names where they exist); HTTPServing cannot import `AuthProtocol`, so its keys are here.
enum LogKey {
    /// libnghttp2's description of a failure (an error code, not a Swift error).
    static let errorMessage = "error.message"
    static let http2StreamID = "http2.stream_id"
}

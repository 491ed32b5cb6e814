import AsyncHTTPClient
import Foundation
import NIOHTTP1
import Testing

/// `certauth_authn_decisions_total` as authn's `/metrics` shows it: each series (its label text) and value.
struct DecisionSeries: Sendable {
    var values: [String: Double]

    static func scrape(_ client: HTTPClient, management: Int) async throws -> DecisionSeries {
        let answer = try await call(client, "http://127.0.0.1:\(management)/metrics")
        var values: [String: Double] = [:]
        for line in answer.text.split(separator: "\n") where line.hasPrefix("certauth_authn_decisions_total{") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else { continue }
            values[String(line[..<space])] = value
        }
        #expect(answer.text.contains("# HELP certauth_authn_decisions_total "), "the decision counter has a HELP line")
        return DecisionSeries(values: values)
    }

    /// The series that changed since `before`, with how much.
    func changes(since before: DecisionSeries) -> [(series: String, by: Double)] {
        values.compactMap { series, value in
            let delta = value - (before.values[series] ?? 0)
            return delta == 0 ? nil : (series, delta)
        }
    }
}

/// Runs `refusal` and checks that it moved exactly one decision series, by exactly 1, labelled with the `reason`
/// the answer's body gave (and `method`, `result` when given). Returns what `refusal` returned.
@discardableResult
func expectOneDecision(
    _ client: HTTPClient, management: Int, method: String? = nil, result: String, _ name: String,
    _ refusal: () async throws -> Answer
) async throws -> Answer {
    let before = try await DecisionSeries.scrape(client, management: management)
    let answer = try await refusal()
    let after = try await DecisionSeries.scrape(client, management: management)
    let changes = after.changes(since: before)
    #expect(changes.count == 1 && changes.first?.by == 1, "\(name): decision counters moved \(changes)")
    let reason = (try? JSONSerialization.jsonObject(with: answer.body) as? [String: Any])?["reason"] as? String
    #expect(reason != nil, "\(name): the body names no reason: \(answer.text.prefix(300))")
    if let reason, let series = changes.first?.series {
        #expect(series.contains("reason=\"\(reason)\""), "\(name): \(series) is not the body's reason \(reason)")
        #expect(series.contains("result=\"\(result)\""), "\(name): \(series)")
        if let method { #expect(series.contains("method=\"\(method)\""), "\(name): \(series)") }
    }
    return answer
}

import AuthProtocol
import Foundation
import HTTPTypes
import Hummingbird
import NIOCore
import Storage
import WireFormat

/// Field rules of the management API (Camunda 8.8's identifier rules).
public enum RoleValidation {
    public static let maxIdentifierLength = 256
    public static let maxNameLength = 256
    public static let maxClaimNameLength = 256
    public static let maxClaimValueLength = 1024
    /// DNs and DN regexes.
    public static let maxSubjectValueLength = 4096
    public static let maxDescriptionLength = 1024
    static let identifierCharacters = Set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_~@.+-")

    /// Why `value` is not a valid id (`mappingRuleId`, `roleId`), or nil.
    public static func identifierProblem(_ value: String) -> String? {
        if value.isEmpty { return "must not be empty" }
        if value.count > maxIdentifierLength { return "is longer than \(maxIdentifierLength) characters" }
        if let bad = value.unicodeScalars.first(where: { !identifierCharacters.contains(Character($0)) }) {
            let shown = bad.properties.generalCategory == .control ? "U+" + String(bad.value, radix: 16, uppercase: true) : String(bad)
            return "contains '\(shown)'; use only letters, digits and _ ~ @ . + -"
        }
        return nil
    }

    /// Why `value` is not a valid claim name, or nil.
    public static func claimNameProblem(_ value: String) -> String? {
        textProblem(value, maxLength: maxClaimNameLength)
    }

    /// Why free text (names, values) is not acceptable: empty, too long, or with control characters.
    static func textProblem(_ value: String, maxLength: Int, allowEmpty: Bool = false) -> String? {
        if !allowEmpty && value.trimmingCharacters(in: .whitespaces).isEmpty { return "must not be empty" }
        if value.count > maxLength { return "is longer than \(maxLength) characters" }
        if value.unicodeScalars.contains(where: { $0.properties.generalCategory == .control }) {
            return "contains a control character"
        }
        return nil
    }
}

/// A JSON object from a request body, read strictly: unknown fields, wrong types and bad values are 400s naming
/// the field (`filter.claimName`, `sort[0].field`).
struct JSONFields {
    let values: [String: JSONValue]
    let prefix: String

    init(values: [String: JSONValue], prefix: String = "") {
        self.values = values
        self.prefix = prefix
    }

    /// Parses the body; an empty body is `{}` when `allowEmpty`.
    static func parse(_ buffer: ByteBuffer, allowEmpty: Bool = false) throws(RolesError) -> JSONFields {
        let data = Data(buffer.readableBytesView)
        if data.allSatisfy({ $0 == 0x20 || $0 == 0x0A || $0 == 0x0D || $0 == 0x09 }) {
            if allowEmpty { return JSONFields(values: [:]) }
            throw .badRequest("The request body is empty; expected a JSON object.")
        }
        let value: JSONValue
        do {
            value = try JSONDecoder().decode(JSONValue.self, from: data)
        } catch {
            throw .badRequest("The request body is not valid JSON; expected a JSON object.")
        }
        guard case .object(let object) = value else { throw .badRequest("The request body must be a JSON object.") }
        return JSONFields(values: object)
    }

    func path(_ key: String) -> String { prefix + key }

    /// Fails on the first field not in `allowed` (sorted, so the answer is stable).
    func checkKnown(_ allowed: [String]) throws(RolesError) {
        if let unknown = values.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw .badRequest(
                "Unknown field '\(path(unknown))'; allowed here: \(allowed.joined(separator: ", ")).", field: path(unknown))
        }
    }

    /// A string field; null counts as absent.
    func string(_ key: String, required: Bool) throws(RolesError) -> String? {
        switch values[key] {
        case nil, .null?:
            if required { throw .badRequest("No \(path(key)) provided.", field: path(key)) }
            return nil
        case .string(let value)?:
            return value
        default:
            throw .badRequest("'\(path(key))' must be a string.", field: path(key))
        }
    }

    /// A checked free-text field.
    func text(_ key: String, required: Bool, maxLength: Int, allowEmpty: Bool = false) throws(RolesError) -> String? {
        guard let value = try string(key, required: required) else { return nil }
        if let problem = RoleValidation.textProblem(value, maxLength: maxLength, allowEmpty: allowEmpty) {
            throw .badRequest("'\(path(key))' \(problem).", field: path(key))
        }
        return value
    }

    /// A checked identifier field.
    func identifier(_ key: String) throws(RolesError) -> String {
        let value = try string(key, required: true) ?? ""
        if let problem = RoleValidation.identifierProblem(value) {
            throw .badRequest("'\(path(key))' \(problem).", field: path(key))
        }
        return value
    }

    /// A nested object.
    func object(_ key: String) throws(RolesError) -> JSONFields? {
        switch values[key] {
        case nil, .null?: return nil
        case .object(let object)?: return JSONFields(values: object, prefix: path(key) + ".")
        default: throw .badRequest("'\(path(key))' must be an object.", field: path(key))
        }
    }

    /// An array.
    func array(_ key: String) throws(RolesError) -> [JSONValue]? {
        switch values[key] {
        case nil, .null?: return nil
        case .array(let array)?: return array
        default: throw .badRequest("'\(path(key))' must be an array.", field: path(key))
        }
    }

    /// A whole number in `range`.
    func int(_ key: String, range: ClosedRange<Int>) throws(RolesError) -> Int? {
        switch values[key] {
        case nil, .null?: return nil
        case .number(let number)?:
            guard number.rounded() == number, number >= Double(range.lowerBound), number <= Double(range.upperBound) else {
                throw .badRequest("'\(path(key))' must be a whole number from \(range.lowerBound) to \(range.upperBound).", field: path(key))
            }
            return Int(number)
        default:
            throw .badRequest("'\(path(key))' must be a number.", field: path(key))
        }
    }
}

/// The part of a search request that applies to every resource.
struct SearchSpec {
    var filter: [String: String]
    var sort: [(field: String, descending: Bool)]
    var from: Int
    var limit: Int

    static let defaultLimit = 100
    static let maxLimit = 1000

    /// Reads `{"filter": {...}, "sort": [{"field", "order"}], "page": {"from", "limit"}}`.
    static func parse(_ body: JSONFields, filterFields: [String], sortFields: [String],
                      check: (String, String) throws(RolesError) -> Void = { _, _ in }) throws(RolesError) -> SearchSpec {
        try body.checkKnown(["filter", "sort", "page"])
        var filter: [String: String] = [:]
        if let fields = try body.object("filter") {
            try fields.checkKnown(filterFields)
            for key in filterFields {
                if let value = try fields.string(key, required: false) {
                    try check(key, value)
                    filter[key] = value
                }
            }
        }
        var sort: [(field: String, descending: Bool)] = []
        if let entries = try body.array("sort") {
            guard entries.count <= sortFields.count else {
                throw .badRequest("'sort' has more entries than sortable fields (\(sortFields.joined(separator: ", "))).", field: "sort")
            }
            for (index, entry) in entries.enumerated() {
                guard case .object(let object) = entry else {
                    throw .badRequest("'sort[\(index)]' must be an object with 'field' and 'order'.", field: "sort[\(index)]")
                }
                let fields = JSONFields(values: object, prefix: "sort[\(index)].")
                try fields.checkKnown(["field", "order"])
                let field = try fields.string("field", required: true) ?? ""
                guard sortFields.contains(field) else {
                    throw .badRequest("'sort[\(index)].field' is '\(field)'; sortable fields: \(sortFields.joined(separator: ", ")).",
                                      field: "sort[\(index)].field")
                }
                let order = try fields.string("order", required: false)?.uppercased() ?? "ASC"
                guard order == "ASC" || order == "DESC" else {
                    throw .badRequest("'sort[\(index)].order' must be ASC or DESC.", field: "sort[\(index)].order")
                }
                sort.append((field, order == "DESC"))
            }
        }
        var from = 0
        var limit = defaultLimit
        if let page = try body.object("page") {
            try page.checkKnown(["from", "limit"])
            from = try page.int("from", range: 0...Int(Int32.max)) ?? 0
            limit = try page.int("limit", range: 1...maxLimit) ?? defaultLimit
        }
        return SearchSpec(filter: filter, sort: sort, from: from, limit: limit)
    }

    /// Filters, sorts (then by `idField`, for a stable order) and pages `items`.
    func apply<Item>(_ items: [Item], idField: String, value: (Item, String) -> String) -> (page: [Item], total: Int) {
        let matching = items.filter { item in filter.allSatisfy { value(item, $0.key) == $0.value } }
        let keys = sort + [(idField, false)]
        let sorted = matching.sorted { left, right in
            for key in keys {
                let a = value(left, key.field), b = value(right, key.field)
                if a != b { return key.descending ? a > b : a < b }
            }
            return false
        }
        let page = from < sorted.count ? Array(sorted[from..<min(sorted.count, from + limit)]) : []
        return (page, matching.count)
    }
}

import CPKCS12

/// One safe bag decoded by the C shim.
struct PKCS12Bag: Sendable {
    enum Kind: Sendable, Equatable {
        case key
        case certificate
    }

    enum Curve: Sendable, Equatable {
        case p256
        case p384
        case p521
        case other
    }

    enum KeyType: Sendable, Equatable {
        case none
        case rsa(bits: Int)
        case ec(Curve, name: String)
        case unsupported(String)
    }

    var kind: Kind
    var friendlyName: String?
    var localKeyID: [UInt8]?
    /// Certificate DER, or private-key DER (PKCS#1 / SEC1); empty when absent.
    var der: [UInt8]
    var keyType: KeyType
    var keyShrouded: Bool
    var keyDecryptFailed: Bool
    /// The key is encrypted with an algorithm libcrypto does not provide.
    var keyDecryptUnsupported: Bool
    var keySkipped: Bool
}

struct ParsedPKCS12: Sendable {
    var bags: [PKCS12Bag]
    var macPresent: Bool
}

enum PKCS12NativeError: Error, Sendable {
    case notPKCS12(detail: String)
    case wrongPassword
    case unsupportedAlgorithm
    case other(detail: String)
}

enum PKCS12WriteError: Error, Sendable {
    case badKey(entry: Int)
    case badCertificate(entry: Int)
    case keyMismatch(entry: Int)
    case other(detail: String)
}

/// Swift face of the C shim. Passwords are handed to C as NUL-terminated strings and never stored.
enum PKCS12Native {
    private static let detailCapacity = 256

    static func parse(
        _ data: [UInt8],
        storePassword: String,
        keyPassword: String?,
        skipKeys: Bool
    ) throws(PKCS12NativeError) -> ParsedPKCS12 {
        var detail = [CChar](repeating: 0, count: detailCapacity)
        var resultPointer: UnsafeMutablePointer<cpkcs12_result>?
        let status: cpkcs12_status = data.withUnsafeBufferPointer { bytes in
            storePassword.withCString { store in
                withOptionalCString(keyPassword) { key in
                    detail.withUnsafeMutableBufferPointer { detailBuffer in
                        cpkcs12_parse(
                            bytes.baseAddress, bytes.count, store, key, skipKeys ? 1 : 0,
                            &resultPointer, detailBuffer.baseAddress, detailBuffer.count
                        )
                    }
                }
            }
        }
        defer { cpkcs12_result_free(resultPointer) }

        switch status {
        case CPKCS12_OK:
            break
        case CPKCS12_ERR_NOT_PKCS12:
            throw .notPKCS12(detail: string(from: detail))
        case CPKCS12_ERR_BAD_PASSWORD, CPKCS12_ERR_DECRYPT:
            throw .wrongPassword
        case CPKCS12_ERR_UNSUPPORTED_ALGORITHM:
            throw .unsupportedAlgorithm
        default:
            throw .other(detail: string(from: detail))
        }
        guard let result = resultPointer else {
            throw .other(detail: "no result")
        }

        var bags: [PKCS12Bag] = []
        bags.reserveCapacity(result.pointee.count)
        let raw = UnsafeBufferPointer(start: result.pointee.bags, count: result.pointee.count)
        for bag in raw {
            bags.append(convert(bag))
        }
        return ParsedPKCS12(bags: bags, macPresent: result.pointee.mac_present != 0)
    }

    private static func convert(_ bag: cpkcs12_bag) -> PKCS12Bag {
        let kind: PKCS12Bag.Kind = bag.kind == CPKCS12_BAG_KEY ? .key : .certificate
        let friendlyName = bag.friendly_name.map { String(cString: $0) }
        let localKeyID = bag.local_key_id.map { Array(UnsafeBufferPointer(start: $0, count: bag.local_key_id_len)) }
        let der = bag.der.map { Array(UnsafeBufferPointer(start: $0, count: bag.der_len)) } ?? []
        let typeName = bag.key_type_name.map { String(cString: $0) }

        let keyType: PKCS12Bag.KeyType
        switch bag.key_type {
        case CPKCS12_KEY_RSA:
            keyType = .rsa(bits: Int(bag.key_bits))
        case CPKCS12_KEY_EC:
            let curve: PKCS12Bag.Curve
            switch bag.curve {
            case CPKCS12_CURVE_P256: curve = .p256
            case CPKCS12_CURVE_P384: curve = .p384
            case CPKCS12_CURVE_P521: curve = .p521
            default: curve = .other
            }
            keyType = .ec(curve, name: typeName ?? "unknown curve")
        case CPKCS12_KEY_UNSUPPORTED:
            keyType = .unsupported(typeName ?? "unknown")
        default:
            keyType = .none
        }

        return PKCS12Bag(
            kind: kind,
            friendlyName: friendlyName,
            localKeyID: localKeyID,
            der: der,
            keyType: keyType,
            keyShrouded: bag.key_shrouded != 0,
            keyDecryptFailed: bag.key_decrypt_failed != 0,
            keyDecryptUnsupported: bag.key_decrypt_unsupported != 0,
            keySkipped: bag.key_skipped != 0
        )
    }

    struct WriteEntry {
        var alias: String
        var privateKeyDER: [UInt8]?
        var certificateDER: [UInt8]
        var chainDER: [[UInt8]]
    }

    static func write(
        entries: [WriteEntry],
        storePassword: String,
        keyPassword: String?
    ) throws(PKCS12WriteError) -> [UInt8] {
        // Flatten everything into one blob addressed by spans, so that C gets plain pointers.
        var blob: [UInt8] = []
        var cEntries: [cpkcs12_entry] = []
        var chainSpans: [cpkcs12_span] = []

        func append(_ bytes: [UInt8]) -> cpkcs12_span {
            let span = cpkcs12_span(offset: blob.count, length: bytes.count)
            blob.append(contentsOf: bytes)
            return span
        }

        for entry in entries {
            let alias = append(Array(entry.alias.utf8))
            let key = append(entry.privateKeyDER ?? [])
            let certificate = append(entry.certificateDER)
            let chainFirst = chainSpans.count
            for der in entry.chainDER {
                chainSpans.append(append(der))
            }
            cEntries.append(
                cpkcs12_entry(
                    alias: alias,
                    private_key: key,
                    certificate: certificate,
                    chain_first: chainFirst,
                    chain_count: entry.chainDER.count
                )
            )
        }
        defer {
            // The blob holds private keys: wipe it.
            for index in blob.indices {
                blob[index] = 0
            }
        }

        var detail = [CChar](repeating: 0, count: detailCapacity)
        var output: UnsafeMutablePointer<UInt8>?
        var outputLength = 0
        var failedEntry = 0
        let status: cpkcs12_status = blob.withUnsafeBufferPointer { blobBuffer in
            cEntries.withUnsafeBufferPointer { entryBuffer in
                chainSpans.withUnsafeBufferPointer { chainBuffer in
                    storePassword.withCString { store in
                        withOptionalCString(keyPassword) { key in
                            detail.withUnsafeMutableBufferPointer { detailBuffer in
                                cpkcs12_write(
                                    blobBuffer.baseAddress, blobBuffer.count,
                                    entryBuffer.baseAddress, entryBuffer.count,
                                    chainBuffer.baseAddress, chainBuffer.count,
                                    store, key,
                                    &output, &outputLength, &failedEntry,
                                    detailBuffer.baseAddress, detailBuffer.count
                                )
                            }
                        }
                    }
                }
            }
        }
        defer { cpkcs12_buffer_free(output, outputLength) }

        switch status {
        case CPKCS12_OK:
            guard let output else { throw .other(detail: "no output") }
            return Array(UnsafeBufferPointer(start: output, count: outputLength))
        case CPKCS12_ERR_BAD_KEY:
            throw .badKey(entry: failedEntry)
        case CPKCS12_ERR_BAD_CERT:
            throw .badCertificate(entry: failedEntry)
        case CPKCS12_ERR_KEY_MISMATCH:
            throw .keyMismatch(entry: failedEntry)
        case CPKCS12_ERR_INVALID_ARGUMENT:
            throw .other(detail: "invalid arguments")
        default:
            throw .other(detail: string(from: detail))
        }
    }

    private static func string(from buffer: [CChar]) -> String {
        let bytes = buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }
        return String(decoding: bytes, as: UTF8.self)
    }
}

private func withOptionalCString<Result>(
    _ string: String?,
    _ body: (UnsafePointer<CChar>?) -> Result
) -> Result {
    if let string {
        return string.withCString { body($0) }
    }
    return body(nil)
}

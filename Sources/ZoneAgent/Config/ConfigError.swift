/// A configuration that cannot be used: names the file, the key and what is wrong. Exits 78 (EX_CONFIG).
struct ConfigError: Error, CustomStringConvertible, Equatable {
    var file: String
    var key: String?
    var problem: String

    var description: String {
        if let key, !key.isEmpty { return "\(file): \(key): \(problem)" }
        return "\(file): \(problem)"
    }
}

#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif

// The subset of discovery.k8s.io/v1 that discovery needs. Decoding is strict about the fields we rely
// on (a slice without a name or an endpoint without addresses is an error) and ignores every field we
// do not declare, because Kubernetes adds fields over time and an old agent must keep working.

/// Object metadata: the fields discovery reads.
struct ObjectMeta: Codable, Sendable, Equatable {
    var name: String?
    var namespace: String?
    var resourceVersion: String?
}

/// List metadata: the resourceVersion a watch resumes from.
struct ListMeta: Codable, Sendable, Equatable {
    var resourceVersion: String?
}

/// One `discovery.k8s.io/v1` EndpointSlice.
struct EndpointSlice: Codable, KubernetesObject {
    var metadata: ObjectMeta
    /// `IPv4`, `IPv6` or `FQDN`; kept as a string so a future type skips one slice instead of failing the list.
    var addressType: String
    // The API serialises empty lists as null, so both are optional on the wire.
    var endpoints: [Endpoint]?
    var ports: [EndpointPort]?

    /// The key a slice is stored under: names are unique within the namespace we watch.
    var name: String { metadata.name ?? "" }
}

/// One endpoint of a slice: one or more addresses that share conditions.
struct Endpoint: Codable, Sendable, Equatable {
    var addresses: [String]
    var conditions: EndpointConditions?
    var nodeName: String?
    var zone: String?
}

/// The three conditions Kubernetes reports for an endpoint; each may be absent.
struct EndpointConditions: Codable, Sendable, Equatable {
    var ready: Bool?
    var serving: Bool?
    var terminating: Bool?
}

/// A port of a slice; every field is optional in the API.
struct EndpointPort: Codable, Sendable, Equatable {
    var name: String?
    var port: Int?
    /// `TCP` when absent, as the API documents.
    var `protocol`: String?
}

/// The answer to a list request.
struct ObjectList<Object: KubernetesObject>: Decodable, Sendable {
    var metadata: ListMeta
    var items: [Object]?
}

typealias EndpointSliceList = ObjectList<EndpointSlice>

/// A `meta/v1` Status: what the API server sends with an error, and inside `ERROR` watch events.
struct Status: Codable, Sendable, Equatable {
    var code: Int?
    var reason: String?
    var message: String?
}

/// One event of a watch stream of `Object`s.
enum ObjectWatchEvent<Object: KubernetesObject>: Sendable, Equatable {
    case added(Object)
    case modified(Object)
    case deleted(Object)
    /// A checkpoint: nothing changed, but the stream has reached this resourceVersion.
    case bookmark(resourceVersion: String)
    case error(Status)
}

typealias WatchEvent = ObjectWatchEvent<EndpointSlice>

extension ObjectWatchEvent: Decodable {
    private enum CodingKeys: String, CodingKey { case type, object }

    /// A bookmark's object carries only metadata, so it is decoded as this rather than as a full object.
    private struct BookmarkObject: Decodable { var metadata: ObjectMeta }

    init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        let type = try container.decode(String.self, forKey: .type)
        switch type {
        case "ADDED": self = .added(try container.decode(Object.self, forKey: .object))
        case "MODIFIED": self = .modified(try container.decode(Object.self, forKey: .object))
        case "DELETED": self = .deleted(try container.decode(Object.self, forKey: .object))
        case "BOOKMARK":
            let object = try container.decode(BookmarkObject.self, forKey: .object)
            guard let version = object.metadata.resourceVersion, !version.isEmpty else {
                throw DecodingError.dataCorruptedError(
                    forKey: .object, in: container, debugDescription: "BOOKMARK without a resourceVersion")
            }
            self = .bookmark(resourceVersion: version)
        case "ERROR": self = .error(try container.decode(Status.self, forKey: .object))
        default:
            throw DecodingError.dataCorruptedError(
                forKey: .type, in: container, debugDescription: "unknown watch event type '\(type)'")
        }
    }
}

extension JSONDecoder {
    /// Decodes `type` from `data`, turning Foundation's errors into a discovery error that says where it broke.
    func decodeKubernetes<T: Decodable>(_ type: T.Type, from data: Data) throws(KubernetesDiscoveryError) -> T {
        do {
            return try decode(type, from: data)
        } catch let error as DecodingError {
            throw .malformedResponse(Self.describe(error))
        } catch {
            throw .malformedResponse(String(describing: error))
        }
    }

    private static func describe(_ error: DecodingError) -> String {
        func path(_ context: DecodingError.Context) -> String {
            let keys = context.codingPath.map { $0.intValue.map { "[\($0)]" } ?? ".\($0.stringValue)" }.joined()
            return keys.isEmpty ? "top level" : keys
        }
        switch error {
        case .keyNotFound(let key, let context):
            return "missing field '\(key.stringValue)' at \(path(context))"
        case .typeMismatch(_, let context), .valueNotFound(_, let context):
            return "wrong type at \(path(context)): \(context.debugDescription)"
        case .dataCorrupted(let context):
            return "\(context.debugDescription) at \(path(context))"
        @unknown default:
            return String(describing: error)
        }
    }
}

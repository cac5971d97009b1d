import Foundation

// The subset of networking.k8s.io/v1 Ingress that routing reads: what the gateway's Ingress parser needs (host
// rules, paths, backends, annotations) and the class. Every other field is ignored, as for EndpointSlices.

/// Ingress metadata: the fields routing reads.
struct IngressMeta: Codable, Sendable, Equatable {
    var name: String?
    var namespace: String?
    var resourceVersion: String?
    var annotations: [String: String]?
}

/// One `networking.k8s.io/v1` Ingress.
struct Ingress: Codable, Sendable, Equatable {
    var ingressMeta: IngressMeta
    var spec: Spec?

    struct Spec: Codable, Sendable, Equatable {
        var ingressClassName: String?
        var rules: [Rule]?
        var defaultBackend: Backend?
    }

    struct Rule: Codable, Sendable, Equatable {
        var host: String?
        var http: HTTP?
    }

    struct HTTP: Codable, Sendable, Equatable {
        var paths: [Path]?
    }

    struct Path: Codable, Sendable, Equatable {
        var path: String?
        var pathType: String?
        var backend: Backend?
    }

    struct Backend: Codable, Sendable, Equatable {
        var service: Service?
        /// Resource backends are refused by the parser; only their presence matters.
        var resource: [String: String]?
    }

    struct Service: Codable, Sendable, Equatable {
        var name: String?
        var port: Port?
    }

    struct Port: Codable, Sendable, Equatable {
        var number: Int?
        var name: String?
    }

    private enum CodingKeys: String, CodingKey { case ingressMeta = "metadata", spec }

    /// The older way of naming the class, still honoured by most controllers.
    static let classAnnotation = "kubernetes.io/ingress.class"

    /// The class the Ingress asks for: `spec.ingressClassName`, else the `kubernetes.io/ingress.class` annotation.
    var ingressClass: String? { spec?.ingressClassName ?? ingressMeta.annotations?[Self.classAnnotation] }
}

extension Ingress: KubernetesObject {
    var metadata: ObjectMeta {
        ObjectMeta(name: ingressMeta.name, namespace: ingressMeta.namespace, resourceVersion: ingressMeta.resourceVersion)
    }
}

/// An Ingress of the watched class, as the gateway's route parser reads it.
public struct WatchedIngress: Sendable, Equatable {
    /// `NAMESPACE/NAME`, for log lines and metrics.
    public var id: String
    /// The Ingress as a JSON manifest (`apiVersion`, `kind`, `metadata`, `spec`): JSON is YAML, so the parser of
    /// Ingress files reads it unchanged.
    public var manifest: String

    public init(id: String, manifest: String) {
        self.id = id
        self.manifest = manifest
    }

    init(_ ingress: Ingress) {
        struct Manifest: Encodable {
            var apiVersion = "networking.k8s.io/v1"
            var kind = "Ingress"
            var metadata: IngressMeta
            var spec: Ingress.Spec?
        }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.sortedKeys]
        let data = (try? encoder.encode(Manifest(metadata: ingress.ingressMeta, spec: ingress.spec))) ?? Data("{}".utf8)
        self.init(id: ingress.storeKey, manifest: String(decoding: data, as: UTF8.self))
    }
}

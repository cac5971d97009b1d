import Foundation

/// An Ingress as a test writes it: the seed's shape, with its class and cluster weights, rendered to JSON the way the
/// API server sends it (with fields routing ignores mixed in).
struct IngressFixture: Sendable {
    var namespace: String
    var name: String
    var ingressClass: String? = "alb"
    /// The older `kubernetes.io/ingress.class` annotation, when set.
    var classAnnotation: String? = nil
    /// The weight annotations, as strings (so a test can write a bad one).
    var weights: [String: String] = ["c1": "20", "c2": "80"]
    var host = "alb.ingress.alibaba.com"
    var path = "/svc1"

    var id: String { "\(namespace)/\(name)" }

    func object(resourceVersion: Int) -> [String: Any] {
        var annotations: [String: String] = ["kubectl.kubernetes.io/last-applied-configuration": "{}"]
        if let classAnnotation { annotations["kubernetes.io/ingress.class"] = classAnnotation }
        for (cluster, weight) in weights { annotations["alb.ingress.kubernetes.io/cluster-weight.\(cluster)"] = weight }
        var spec: [String: Any] = [
            "rules": [[
                "host": host,
                "http": ["paths": [[
                    "path": path, "pathType": "Prefix",
                    "backend": ["service": ["name": "service1", "port": ["number": 80]]],
                ]]],
            ]],
            "tls": [["hosts": [host], "secretName": "demo-tls"]],
        ]
        if let ingressClass { spec["ingressClassName"] = ingressClass }
        return [
            "kind": "Ingress", "apiVersion": "networking.k8s.io/v1",
            "metadata": [
                "name": name, "namespace": namespace, "uid": UUID().uuidString, "generation": 1,
                "resourceVersion": String(resourceVersion), "annotations": annotations,
            ],
            "spec": spec,
            "status": ["loadBalancer": [:] as [String: Any]],
        ]
    }
}

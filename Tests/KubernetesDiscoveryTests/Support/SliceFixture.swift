import Foundation

/// An endpoint as a test writes it; nil conditions are left out of the JSON, as Kubernetes does.
struct EndpointFixture: Sendable {
    var addresses: [String]
    var ready: Bool? = true
    var serving: Bool? = nil
    var terminating: Bool? = nil
    var nodeName: String? = nil
    var zone: String? = nil
}

/// A slice port as a test writes it.
struct PortFixture: Sendable {
    var name: String? = "http"
    var port: Int? = 8080
    var proto: String? = "TCP"
}

/// An EndpointSlice as a test writes it, rendered to JSON the way the API server sends it.
struct SliceFixture: Sendable {
    var name: String
    var addressType = "IPv4"
    var endpoints: [EndpointFixture]
    var ports: [PortFixture] = [PortFixture()]

    /// The object JSON, with fields the watcher does not know about mixed in to prove they are ignored.
    func object(namespace: String, service: String, resourceVersion: Int) -> [String: Any] {
        var endpointObjects: [[String: Any]] = []
        for endpoint in endpoints {
            var conditions: [String: Any] = [:]
            if let ready = endpoint.ready { conditions["ready"] = ready }
            if let serving = endpoint.serving { conditions["serving"] = serving }
            if let terminating = endpoint.terminating { conditions["terminating"] = terminating }
            var object: [String: Any] = [
                "addresses": endpoint.addresses,
                "conditions": conditions,
                "targetRef": ["kind": "Pod", "namespace": namespace, "name": "pod-\(endpoint.addresses[0])"],
                "hints": ["forZones": [["name": "zone-a"]]],
            ]
            if let nodeName = endpoint.nodeName { object["nodeName"] = nodeName }
            if let zone = endpoint.zone { object["zone"] = zone }
            endpointObjects.append(object)
        }
        let portObjects: [[String: Any]] = ports.map { port in
            var object: [String: Any] = ["appProtocol": "http"]
            if let name = port.name { object["name"] = name }
            if let number = port.port { object["port"] = number }
            if let proto = port.proto { object["protocol"] = proto }
            return object
        }
        return [
            "kind": "EndpointSlice",
            "apiVersion": "discovery.k8s.io/v1",
            "metadata": [
                "name": name,
                "namespace": namespace,
                "generateName": "\(service)-",
                "uid": UUID().uuidString,
                "resourceVersion": String(resourceVersion),
                "labels": ["kubernetes.io/service-name": service, "endpointslice.kubernetes.io/managed-by": "test"],
                "managedFields": [["manager": "kube-controller-manager", "operation": "Update"]],
            ],
            "addressType": addressType,
            "endpoints": endpointObjects.isEmpty ? NSNull() : endpointObjects,
            "ports": portObjects.isEmpty ? NSNull() : portObjects,
        ]
    }
}

/// Serialises a JSON object on one line, as the watch stream frames events.
func jsonLine(_ object: [String: Any]) -> String {
    let data = (try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys])) ?? Data("{}".utf8)
    return String(decoding: data, as: UTF8.self)
}

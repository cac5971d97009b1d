import Foundation
import KubernetesDiscovery
import WeightTable
import Yams

extension Config.RoutesConfig {
    /// `routes:` as written: `ingress: FILE` (read and parsed now), `kubernetes: { ingressClass, namespaces }`, or a
    /// list of inline routes. Every weighted cluster must be one of `knownClusters` (the trust roster's).
    static func parse(
        _ node: Node, y: YAMLReader, resolve: (String) -> String, knownClusters: Set<String>
    ) throws(ConfigError) -> Config.RoutesConfig {
        if node.sequence != nil {
            do { return .inline(try RouteSpec.inlineRoutes(node, source: y.file, knownClusters: knownClusters)) } catch {
                throw ConfigError(error)
            }
        }
        guard node.mapping != nil else {
            throw y.fail("routes", "must be `ingress: FILE`, `kubernetes: { ingressClass: CLASS }` or a list of routes")
        }
        let r = try y.mapping(node, at: "routes", allowed: ["ingress", "kubernetes"])
        if r["ingress"] != nil && r["kubernetes"] != nil {
            throw y.fail("routes", "takes ingress or kubernetes, not both")
        }
        if let kube = r["kubernetes"] {
            let k = try y.mapping(kube, at: "routes.kubernetes", allowed: ["ingressClass", "namespaces"])
            let ingressClass = try y.requiredString(k["ingressClass"], at: "routes.kubernetes.ingressClass")
            var namespaces: [String] = []
            for (i, item) in try y.list(k["namespaces"], at: "routes.kubernetes.namespaces").enumerated() {
                let key = "routes.kubernetes.namespaces[\(i)]"
                let namespace = try y.requiredString(item, at: key)
                // A namespace is a DNS label; ServiceRef checks exactly that for its namespace half.
                do { _ = try ServiceRef(parsing: "\(namespace)/x") } catch { throw y.fail(key, "`\(namespace)`: \(error)") }
                namespaces.append(namespace)
            }
            return .kubernetes(Config.KubernetesRoutes(ingressClass: ingressClass, namespaces: namespaces))
        }
        let path = resolve(try y.requiredString(r["ingress"], at: "routes.ingress"))
        guard let data = FileManager.default.contents(atPath: path), let text = String(data: data, encoding: .utf8) else {
            throw y.fail("routes.ingress", "\(path) cannot be read (missing, or no permission)")
        }
        do { return .ingress(path: path, routes: try IngressParser.routes(fromYAML: text, source: path, knownClusters: knownClusters)) } catch {
            throw ConfigError(error)
        }
    }
}

extension ConfigError {
    /// A route that cannot be used, as a configuration error naming the file (the Ingress, or the configuration for
    /// inline routes), the field and the problem.
    init(_ error: RouteError) {
        self.init(file: error.source, key: error.field.isEmpty ? nil : error.field, problem: error.problem)
    }
}

// The built-in proxy's opt-in features, wired where the gateway starts so its command stays one screen:
// passive outlier detection (`failover.outlierDetection`) and cluster pinning (`proxy.pinHeader`).
import GatewayHTTP
import Synchronization

enum GatewayFeatures {
    /// `base` with the outlier detector fed from it; the detector's ejections reach the table through `loop`. It
    /// detects while `failover.outlierDetection` is set, which a reload may change (`GatewayLoop.reconfigure(outliers:)`).
    static func hooks(_ mesh: MeshRuntime, loop: GatewayLoop, base: ProxyHooks) async -> ProxyHooks {
        var base = base
        if mesh.config.proxy.pinHeader != nil {
            let counters = Self.metrics(mesh)
            base.onPinned = { cluster, result in counters.pinned(cluster: cluster, result: result.rawValue) }
        }
        let monitor = OutlierMonitor(policy: mesh.config.failover.outlierDetection, metrics: { Self.metrics(mesh) },
                                     logger: mesh.logger) {
            Task { await loop.scheduleRebuild() }
        }
        await loop.useOutliers(monitor)
        return monitor.feeding(base)
    }

    /// The outlier and pinning series, made once, at 0 for every roster cluster.
    static func metrics(_ mesh: MeshRuntime) -> OutlierMetrics {
        shared.withLock { made in
            if let made { return made }
            let metrics = OutlierMetrics(registry: ZoneMetrics.registry, clusters: mesh.config.keys.roster.clusters)
            made = metrics
            return metrics
        }
    }

    private static let shared = Mutex<OutlierMetrics?>(nil)
}

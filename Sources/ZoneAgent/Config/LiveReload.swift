import Foundation
import Logging
import ServiceLifecycle

/// How each role takes a reloaded configuration: what changes in place, and the watch that triggers it.
enum LiveReload {
    /// The agent's: trust roster, mesh keyring and signing key, static endpoints, probe settings.
    static func agent(_ mesh: MeshRuntime, loop: AgentLoop) -> ConfigReloader {
        ConfigReloader(current: mesh.config, logger: mesh.logger, load: { () throws(ConfigError) in
            try Config.load(path: mesh.config.file, role: .agent)
        }, apply: { new, old in
            await applyKeys(new, old: old, mesh: mesh)
            if let signing = new.keys.signing, signing.keyID != mesh.keys.signer?.keyID {
                mesh.keys.signer?.replace(signing)
                mesh.logger.notice("signing with a new cluster key", metadata: ["key": "\(signing.keyID)"])
                await loop.republish()
            }
            if new.probe != old.probe { await loop.reconfigure(probe: new.probe) }
            await loop.setConfigured(new.endpoints.staticList.map(ProbeTarget.init))
        })
    }

    /// The gateway's: routes (from a file or inline), failover settings (outlier detection too), trust roster and
    /// mesh keyring.
    static func gateway(_ mesh: MeshRuntime, loop: GatewayLoop) -> ConfigReloader {
        ConfigReloader(current: mesh.config, logger: mesh.logger, load: { () throws(ConfigError) in
            try Config.load(path: mesh.config.file, role: .gateway)
        }, apply: { new, old in
            await applyKeys(new, old: old, mesh: mesh)
            // Routes watched through the Kubernetes API keep coming from the watch.
            let routes = new.routes?.kubernetes == nil ? new.routes?.routes : nil
            let current = await loop.currentRoutes
            await loop.reconfigure(routes: routes ?? current, policy: new.failover.policy)
            if new.failover.outlierDetection != old.failover.outlierDetection {
                await loop.reconfigure(outliers: new.failover.outlierDetection)
            }
            if new.outputs != old.outputs {
                loop.outputs.replace(GatewayLoop.outputs(new.outputs))
                mesh.logger.notice("outputs replaced", metadata: [
                    "envoy": "\(new.outputs.envoyDirectory ?? "none")", "haproxy": "\(new.outputs.haproxy.map { "\($0.socket) \($0.backend)" } ?? "none")",
                ])
            }
        })
    }

    private static func applyKeys(_ new: Config, old: Config, mesh: MeshRuntime) async {
        if new.keys.roster != mesh.keys.currentRoster {
            mesh.keys.replace(roster: new.keys.roster)
            mesh.logger.notice("trust roster replaced", metadata: ["clusters": "\(new.keys.roster.clusters)"])
        }
        if let ring = new.keys.mesh, ring.keys != old.keys.mesh?.keys || ring.primary != old.keys.mesh?.primary {
            if await mesh.gossip.replaceKeyring(ring) {
                mesh.logger.notice("mesh keyring replaced", metadata: ["keys": "\(ring.keys.count)"])
            }
        }
    }

    /// Reloads on every change of a file the configuration names, until graceful shutdown.
    static func watchService(_ reloader: ConfigReloader) -> any Service {
        TaskService("configuration watch") {
            try await cancelWhenGracefulShutdown {
                try await FileWatch().run(paths: { await reloader.current.files }) { changed in
                    await reloader.reload(cause: "changed: \(changed.joined(separator: ", "))")
                }
            }
        }
    }

    /// What SIGHUP does: a reload, as nginx and HAProxy do.
    static func hangup(_ reloader: ConfigReloader) -> @Sendable () -> Void {
        { Task { await reloader.reload(cause: "SIGHUP") } }
    }
}

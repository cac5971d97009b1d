import Foundation
import Logging

/// What a reload did.
enum ReloadOutcome: Sendable, Equatable {
    /// The new configuration is in force; `needsRestart` names the keys that changed but only apply at the next start.
    case applied(needsRestart: [String])
    /// The new configuration was refused; the running one keeps serving.
    case refused(ConfigError)
}

/// Re-reads the configuration, validates it whole (every file it names included) and hands it to the running
/// process, or refuses it with a log line and a metric naming the file, the key and the problem while the running
/// configuration keeps serving; the next good edit applies.
actor ConfigReloader {
    private(set) var current: Config
    private let load: @Sendable () throws(ConfigError) -> Config
    private let apply: @Sendable (_ new: Config, _ old: Config) async -> Void
    private let logger: Logger
    /// The refusal in force, so its metric goes back to 0 when an edit applies.
    private var refusal: ConfigError?

    /// - Parameters:
    ///   - load: reads and validates the configuration (`Config.load` with the path and role the process started with).
    ///   - apply: puts a validated configuration in force; it must not fail (everything that can fail is in `load`).
    init(current: Config, logger: Logger, load: @escaping @Sendable () throws(ConfigError) -> Config,
         apply: @escaping @Sendable (_ new: Config, _ old: Config) async -> Void) {
        self.current = current
        self.load = load
        self.apply = apply
        self.logger = logger
    }

    /// Reloads once; `cause` (`SIGHUP`, or the file that changed) goes into the log.
    @discardableResult
    func reload(cause: String) async -> ReloadOutcome {
        let new: Config
        do { new = try load() } catch {
            ZoneMetrics.configReload(applied: false)
            if let refusal, refusal != error { ConfigRefusals.shared.note(refusal, refused: false) }
            ConfigRefusals.shared.note(error, refused: true)
            refusal = error
            logger.error("configuration refused, the running one keeps serving", metadata: [
                "cause": "\(cause)", "file": "\(error.file)", "key": "\(error.key ?? "")", "problem": "\(error.problem)",
            ])
            return .refused(error)
        }
        if let refusal {
            ConfigRefusals.shared.note(refusal, refused: false)
            self.refusal = nil
        }
        let restart = Self.needsRestart(from: current, to: new)
        for key in restart {
            logger.warning("configuration key changed that applies only at the next start; restart the process to apply it",
                           metadata: ["file": "\(new.file)", "key": "\(key)"])
        }
        await apply(new, current)
        current = new
        ZoneMetrics.configReload(applied: true)
        logger.notice("configuration reloaded", metadata: ["cause": "\(cause)", "files": "\(new.files.count)"])
        return .applied(needsRestart: restart)
    }

    /// The keys whose change a running process cannot take: what binds sockets, names this member, or starts tasks.
    static func needsRestart(from old: Config, to new: Config) -> [String] {
        var keys: [String] = []
        func check(_ key: String, _ same: Bool) { if !same { keys.append(key) } }
        check("node", old.node == new.node)
        check("cluster", old.cluster == new.cluster)
        check("zone", old.zone == new.zone)
        check("gossip", old.gossip == new.gossip)
        check("keys.mesh", (old.keys.mesh == nil) == (new.keys.mesh == nil))
        check("admin", old.adminListen == new.adminListen && old.admin == new.admin)
        check("proxy", old.proxyListen == new.proxyListen && old.proxy == new.proxy)
        check("endpoints.kubernetes", old.endpoints.kubernetesServices == new.endpoints.kubernetesServices)
        check("routes.kubernetes", old.routes?.kubernetes == new.routes?.kubernetes)
        return keys
    }
}

extension Config.RoutesConfig {
    /// The Kubernetes watch settings, nil for routes from a file or inline.
    var kubernetes: Config.KubernetesRoutes? {
        if case .kubernetes(let settings) = self { return settings }
        return nil
    }
}

/// Tells when any of some files changes: by content, polled, so that every way of changing a file counts (an edit in
/// place, a new file renamed over it, a Kubernetes ConfigMap or Secret whose `..data` symlink is swapped to a new
/// directory). inotify on the file would miss the swap, which changes neither the file's inode nor its directory.
struct FileWatch: Sendable {
    /// How often the files are read. 250 ms: a change is seen within 250 ms and, being read twice to let a
    /// non-atomic write finish, applied within 500 ms, inside the 1 s a reload may take; reading a few small files
    /// four times a second costs nothing measurable.
    var interval: Duration = .milliseconds(250)

    /// The files' contents now; an unreadable file is nil (which is itself a change, and a refusal on reload).
    static func snapshot(_ paths: [String]) -> [String: Data?] {
        var out: [String: Data?] = [:]
        for path in paths { out[path] = FileManager.default.contents(atPath: path) }
        return out
    }

    /// Polls until cancelled. `paths` is asked each round (a reload may name new files); `onChange` gets the changed
    /// paths once their contents have held still for one round, so a file caught half-written is not reloaded.
    func run(paths: @Sendable () async -> [String], onChange: @Sendable ([String]) async -> Void) async throws {
        var seen = Self.snapshot(await paths())
        var pending: [String: Data?]?
        while !Task.isCancelled {
            try await Task.sleep(for: interval)
            let now = Self.snapshot(await paths())
            if now == seen {
                pending = nil
                continue
            }
            guard now == pending else {
                pending = now   // changed: wait one round for it to hold still
                continue
            }
            let changed = Set(now.keys).union(seen.keys).filter { now[$0] != seen[$0] }.sorted()
            seen = now
            pending = nil
            await onChange(changed)
        }
    }
}

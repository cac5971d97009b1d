import Foundation
import Prometheus
import Synchronization

/// The process's own figures under the names Prometheus client libraries use (`process_*`), read from /proc at
/// each scrape, and `zone_agent_build_info{version}`.
final class ProcessMetrics: Sendable {
    let residentMemory: Gauge
    let virtualMemory: Gauge
    let cpuSeconds: Counter
    let openFDs: Gauge
    let maxFDs: Gauge
    let startTime: Gauge
    let buildInfo: Gauge
    /// The CPU seconds already added to the counter, which only takes increments.
    private let countedCPU = Mutex(0.0)

    init(registry: PrometheusCollectorRegistry, version: String) {
        residentMemory = registry.gauge("process_resident_memory_bytes", help: "Resident memory size in bytes.")
        virtualMemory = registry.gauge("process_virtual_memory_bytes", help: "Virtual memory size in bytes.")
        cpuSeconds = registry.counter("process_cpu_seconds_total", help: "Total user and system CPU time spent in seconds.")
        openFDs = registry.gauge("process_open_fds", help: "Number of open file descriptors.")
        maxFDs = registry.gauge("process_max_fds", help: "Maximum number of open file descriptors.")
        startTime = registry.gauge("process_start_time_seconds", help: "Start time of the process since the Unix epoch in seconds.")
        buildInfo = registry.gauge("zone_agent_build_info", [("version", version)],
                                   help: "Always 1; its version label names the running build.")
        buildInfo.set(Int64(1))
        refresh()
    }

    /// Reads /proc now (a scrape calls this before rendering). Where /proc cannot be read the figures stay as
    /// they were: a missing figure is better than a scrape that fails.
    func refresh() {
        guard let stat = Self.read("/proc/self/stat"), let sample = ProcessSample(stat: stat, clockTicksPerSecond: Self.clockTicks,
                                                                                 pageSize: Self.pageSize, bootTime: Self.bootTime) else { return }
        residentMemory.set(Int64(sample.residentBytes))
        virtualMemory.set(Int64(sample.virtualBytes))
        startTime.set(sample.startTimeSeconds)
        let add = countedCPU.withLock { counted -> Double in
            let delta = max(0, sample.cpuSeconds - counted)
            counted += delta
            return delta
        }
        if add > 0 { cpuSeconds.increment(by: add) }
        if let fds = try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd") { openFDs.set(Int64(fds.count)) }
        var limit = rlimit()
        #if canImport(Glibc)
        let resource = __rlimit_resource_t(RLIMIT_NOFILE.rawValue)
        #else
        let resource = RLIMIT_NOFILE
        #endif
        if getrlimit(resource, &limit) == 0 { maxFDs.set(Int64(clamping: limit.rlim_cur)) }
    }

    private static let clockTicks = Double(max(1, sysconf(Int32(_SC_CLK_TCK))))
    private static let pageSize = Int(max(1, sysconf(Int32(_SC_PAGESIZE))))
    /// Boot time in seconds since the epoch (`btime` of /proc/stat): process start times count from it.
    private static let bootTime: Double = {
        guard let text = read("/proc/stat") else { return 0 }
        for line in text.split(separator: "\n") where line.hasPrefix("btime ") {
            return Double(line.dropFirst(6).trimmingCharacters(in: .whitespaces)) ?? 0
        }
        return 0
    }()

    private static func read(_ path: String) -> String? {
        FileManager.default.contents(atPath: path).map { String(decoding: $0, as: UTF8.self) }
    }
}

/// The figures of one /proc/PID/stat line (proc(5)).
struct ProcessSample: Equatable {
    var cpuSeconds: Double
    var startTimeSeconds: Double
    var virtualBytes: Int
    var residentBytes: Int

    /// Parses `stat`; nil when it is not a stat line. The command name (field 2) may hold spaces and
    /// parentheses, so the fields are counted from its last closing parenthesis.
    init?(stat: String, clockTicksPerSecond: Double, pageSize: Int, bootTime: Double) {
        guard let close = stat.lastIndex(of: ")") else { return nil }
        let fields = stat[stat.index(after: close)...].split(separator: " ")
        // fields[0] is field 3 (state): field N is fields[N - 3].
        guard fields.count > 21, let utime = Double(fields[11]), let stime = Double(fields[12]),
              let start = Double(fields[19]), let vsize = Int(fields[20]), let rss = Int(fields[21]) else { return nil }
        cpuSeconds = (utime + stime) / clockTicksPerSecond
        startTimeSeconds = bootTime + start / clockTicksPerSecond
        virtualBytes = vsize
        residentBytes = rss * pageSize
    }
}

import AsyncHTTPClient
import Foundation
import NIOCore
import WeightTable

/// The gateway a drill observer watches: its proxy, its admin API, where its table is read.
struct DrillGateway: Sendable {
    var name: String
    var proxyURL: String
    var host: String
    var adminURL: String
    var adminToken: String?
    var tableSource: DrillTableSource

    /// The target's one gateway.
    init(_ target: any DrillTarget) {
        self.init(name: "gateway", proxyURL: target.proxyURL, host: target.host, adminURL: target.adminURL,
                  adminToken: target.adminToken, tableSource: target.tableSource)
    }

    init(name: String, proxyURL: String, host: String, adminURL: String, adminToken: String? = nil, tableSource: DrillTableSource = .zoneAgent) {
        (self.name, self.proxyURL, self.host, self.adminURL, self.adminToken, self.tableSource) = (name, proxyURL, host, adminURL, adminToken, tableSource)
    }
}

/// Watches a drill from the client's side: an open-loop request stream through the gateway (each request sent on
/// schedule whether or not the one before has answered, as real clients do), and the gateway's table every 100 ms.
final class DrillObserver: @unchecked Sendable {
    let origin: ContinuousClock.Instant
    /// The wall clock at `origin`, to place the gateway's `generatedAt` on the drill's clock.
    let wallOriginMs: Int
    let gateway: DrillGateway
    private let rate: Int
    /// Request n is pinned to `pins[n % pins.count]` by the `pin` scenario's header (nil: not pinned).
    private let pins: [String?]
    private let http: HTTPClient
    private let lock = NSLock()
    private var record = DrillRecord()
    private var running: Task<Void, Never>?
    /// A request unanswered this long counts as failed: longer than any retry the proxy makes.
    static let requestTimeout: TimeAmount = .seconds(10)
    /// Requests in flight at most; beyond it a scheduled request is counted as failed, not queued, so a hung
    /// gateway cannot make the drill itself grow without bound.
    static let maxInFlight = 2_000

    convenience init(target: any DrillTarget, rate: Int, pins: [String?] = [nil]) {
        self.init(gateway: DrillGateway(target), rate: rate, pins: pins)
    }

    /// Observers of several gateways share one `origin`, so their records read on one clock.
    init(gateway: DrillGateway, rate: Int, origin: ContinuousClock.Instant = .now, pins: [String?] = [nil]) {
        self.gateway = gateway
        self.origin = origin
        self.wallOriginMs = Int(Date().timeIntervalSince1970 * 1000) - Self.milliseconds(.now - origin)
        self.rate = rate
        self.pins = pins.isEmpty ? [nil] : pins
        self.http = HTTPClient(eventLoopGroupProvider: .singleton, configuration: .init(
            timeout: .init(connect: .seconds(2), read: .seconds(10)),
            connectionPool: .init(idleTimeout: .seconds(30), concurrentHTTP1ConnectionsPerHostSoftLimit: 64)))
    }

    /// Milliseconds since the drill started.
    func elapsedMs(_ at: ContinuousClock.Instant = .now) -> Int {
        Self.milliseconds(at - origin)
    }

    private static func milliseconds(_ d: Duration) -> Int {
        Int(d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000)
    }

    func note(_ kind: DrillRecord.Event.Kind, _ what: String) {
        let event = DrillRecord.Event(atMs: elapsedMs(), kind: kind, what: what)
        lock.withLock { record.events.append(event) }
    }

    var snapshot: DrillRecord { lock.withLock { record } }

    func start() {
        running = Task {
            await withDiscardingTaskGroup { group in
                group.addTask { await self.sampleTable() }
                group.addTask { await self.streamRequests() }
            }
        }
    }

    /// Stops sending, waits for the requests in flight, and returns what was recorded.
    func stop() async -> DrillRecord {
        running?.cancel()
        await running?.value
        try? await http.shutdown()
        return snapshot
    }

    // MARK: The table

    /// The newest table sample's weights, if it was taken at or after `since` (milliseconds of the drill).
    func latestWeights(since: Int = 0) -> [String: Int]? {
        lock.withLock { record.samples.last.flatMap { $0.atMs >= since ? $0.weights : nil } }
    }

    /// The newest table sample, if it was taken at or after `since` (milliseconds of the drill).
    func latestSample(since: Int = 0) -> DrillRecord.TableSample? {
        lock.withLock { record.samples.last.flatMap { $0.atMs >= since ? $0 : nil } }
    }

    /// The body of an admin API path, or nil when it cannot be had.
    func fetch(_ path: String) async -> Data? {
        guard let response = try? await http.execute(adminRequest(path), timeout: .seconds(2)),
              response.status == .ok, let body = try? await response.body.collect(upTo: 16 << 20) else { return nil }
        return Data(body.readableBytesView)
    }

    private func sampleTable() async {
        let interval = Duration.milliseconds(100)
        var next = ContinuousClock.now
        while !Task.isCancelled {
            if let sample = await fetchTable() { lock.withLock { record.samples.append(sample) } }
            next += interval
            if next < .now { next = .now }
            try? await Task.sleep(until: next, clock: .continuous)
        }
    }

    func fetchTable() async -> DrillRecord.TableSample? {
        if case .haproxyStats(let url) = gateway.tableSource {
            guard let response = try? await http.execute(HTTPClientRequest(url: url), timeout: .seconds(2)),
                  let body = try? await response.body.collect(upTo: 1 << 20),
                  let weights = HAProxyAnchor.weights(csv: String(buffer: body)) else { return nil }
            return DrillRecord.TableSample(atMs: elapsedMs(), weights: weights, reasons: weights.mapValues { "HAProxy: \($0)% of the UP servers' weight" })
        }
        do {
            let response = try await http.execute(adminRequest("/v1/table"), timeout: .seconds(2))
            guard response.status == .ok else { return nil }
            let body = try await response.body.collect(upTo: 16 << 20)
            let table = try TableJSON.decode(Array(body.readableBytesView))
            guard let route = table.routes.first else { return nil }
            var weights: [String: Int] = [:], reasons: [String: String] = [:]
            for c in route.clusters {
                weights[c.cluster] = c.effectiveWeight
                reasons[c.cluster] = c.reason
            }
            let built = table.generatedAtMillis > 0 ? Int(table.generatedAtMillis) - wallOriginMs : nil
            return DrillRecord.TableSample(atMs: elapsedMs(), weights: weights, reasons: reasons, builtAtMs: built, fallback: route.fallback?.rawValue, hash: table.hash)
        } catch {
            return nil
        }
    }

    private func adminRequest(_ path: String) -> HTTPClientRequest {
        var request = HTTPClientRequest(url: gateway.adminURL + path)
        if let token = gateway.adminToken { request.headers.add(name: "Authorization", value: "Bearer \(token)") }
        return request
    }

    // MARK: The request stream

    private func streamRequests() async {
        let interval = Duration.nanoseconds(1_000_000_000 / max(1, rate))
        var next = ContinuousClock.now
        let inFlight = InFlightCount()
        await withDiscardingTaskGroup { group in
            // Bounded: at most an hour of requests, whatever the scenario asks.
            for n in 0..<(rate * 3600) {
                guard !Task.isCancelled else { break }
                let sentAt = ContinuousClock.now
                let pin = pins[n % pins.count]
                if inFlight.add(1) > Self.maxInFlight {
                    inFlight.add(-1)
                    append(.init(sentMs: elapsedMs(sentAt), latencyMs: 0, cluster: nil, outcome: "error: not sent, \(Self.maxInFlight) requests in flight", pin: pin))
                } else {
                    group.addTask {
                        let result = await self.send(pinnedTo: pin)
                        inFlight.add(-1)
                        let latency = ContinuousClock.now - sentAt
                        self.append(.init(sentMs: self.elapsedMs(sentAt), latencyMs: Double(latency.components.attoseconds) / 1e15 + Double(latency.components.seconds) * 1000,
                                          cluster: result.cluster, outcome: result.outcome, pin: pin))
                    }
                }
                next += interval
                do { try await Task.sleep(until: next, clock: .continuous) } catch { break }
            }
        }
    }

    private func append(_ request: DrillRecord.Request) {
        lock.withLock { record.requests.append(request) }
    }

    private func send(pinnedTo pin: String?) async -> (cluster: String?, outcome: String) {
        var request = HTTPClientRequest(url: gateway.proxyURL)
        request.headers.replaceOrAdd(name: "Host", value: gateway.host)
        if let pin { request.headers.add(name: DrillScenario.pinHeader, value: pin) }
        // Not cancelled with the stream: a request in flight when the drill ends is still answered and counted.
        let http = http
        return await Task { () -> (cluster: String?, outcome: String) in
            do {
                let response = try await http.execute(request, timeout: Self.requestTimeout)
                _ = try await response.body.collect(upTo: 1 << 20)
                let cluster = response.headers.first(name: "x-zone-cluster")
                return (response.status == .ok ? cluster : nil, "\(response.status.code)")
            } catch {
                return (nil, "error: \(error)")
            }
        }.value
    }
}

/// A counter shared by the stream's tasks.
final class InFlightCount: @unchecked Sendable {
    private let lock = NSLock()
    private var value = 0
    @discardableResult
    func add(_ n: Int) -> Int { lock.withLock { value += n; return value } }
}

import AsyncHTTPClient
import Foundation
import Logging
import NIOCore

/// An object the API server lists and watches; its metadata names it and carries its resourceVersion.
protocol KubernetesObject: Decodable, Sendable, Equatable {
    var metadata: ObjectMeta { get }
}

extension KubernetesObject {
    /// The key an object is stored under: `NAMESPACE/NAME`, unique across the namespaces a collection spans.
    var storeKey: String { "\(metadata.namespace ?? "")/\(metadata.name ?? "")" }
}

/// What one list-and-watch loop did, for the owner's metrics, logs and tests.
enum ListWatchEvent: Sendable, Equatable {
    case listed(resourceVersion: String, objects: Int)
    case watching(resourceVersion: String)
    case relisting
    case retrying(error: KubernetesDiscoveryError, delay: Duration)
}

/// What a list-and-watch loop knows about its collection between requests.
struct ListWatchState<Object: KubernetesObject> {
    var objects: [String: Object] = [:]
    /// Nil until listed, and again after 410 Gone: the next round lists instead of watching.
    var resourceVersion: String?
    /// Failures since the watch last made progress; a successful list alone is not progress, so a server that
    /// answers every fresh watch with 410 is relisted with growing delays.
    var failures = 0
}

/// Lists one collection of the Kubernetes API, then watches it from the list's resourceVersion, for as long as the
/// task runs: it resumes a broken watch from the last resourceVersion it saw, lists again when the API server
/// answers 410 Gone, and retries every other failure with ``Backoff``. The one loop behind every watcher here
/// (EndpointSlices of a Service, Ingresses of a namespace), so they share their behaviour under failure.
struct ListWatch<Object: KubernetesObject>: Sendable {
    let connection: KubernetesConnection
    let settings: EndpointSliceWatcher.Settings
    /// The collection, such as `/apis/networking.k8s.io/v1/namespaces/web/ingresses`.
    let path: String
    /// The query that narrows it (`?labelSelector=…`), or empty.
    let selector: String
    /// What the objects are, for log lines: `endpoint slices`, `ingresses`.
    let what: String
    let logger: Logger
    let observe: @Sendable (ListWatchEvent) -> Void

    /// Runs until cancelled, handing every new state of the collection to `publish` (after each list, and after
    /// each added, modified or deleted object).
    func run(client: HTTPClient, publish: @Sendable ([String: Object]) -> Void) async {
        var generator = settings.makeRandomNumberGenerator()
        var state = ListWatchState<Object>()
        while !Task.isCancelled {
            var delay = Duration.zero
            do {
                if state.resourceVersion == nil {
                    try await list(client: client, into: &state, publish: publish)
                }
                let started = ContinuousClock.now
                let events = try await watch(client: client, into: &state, generator: &generator, publish: publish)
                // A watch that the server closes at once, again and again, must not become a busy loop.
                if events == 0, ContinuousClock.now - started < .seconds(1) {
                    state.failures += 1
                    delay = settings.backoff.delay(afterFailures: state.failures, using: &generator)
                } else {
                    state.failures = 0
                }
            } catch {
                // Cancellation surfaces as a transport error from the HTTP client; it is not a failure.
                if Task.isCancelled { return }
                state.failures += 1
                if case .resourceVersionExpired = error {
                    state.resourceVersion = nil
                    logger.info("resourceVersion expired; listing again", metadata: ["error": "\(error)"])
                    observe(.relisting)
                    // The first 410 relists at once; only repeated ones in a row wait.
                    delay = settings.backoff.delay(afterFailures: state.failures - 1, using: &generator)
                } else {
                    delay = settings.backoff.delay(afterFailures: state.failures, using: &generator)
                    logger.warning(
                        "discovery of \(what) failed; retrying",
                        metadata: ["error": "\(error)", "retry_in": "\(delay)", "failures": "\(state.failures)"])
                    observe(.retrying(error: error, delay: delay))
                }
            }
            if delay > .zero {
                do { try await Task.sleep(for: delay) } catch { return }
            }
        }
    }

    private func list(
        client: HTTPClient, into state: inout ListWatchState<Object>, publish: @Sendable ([String: Object]) -> Void
    ) async throws(KubernetesDiscoveryError) {
        let list = try await fetchList(client: client)
        guard let version = list.metadata.resourceVersion, !version.isEmpty else {
            throw .malformedResponse("the list has no metadata.resourceVersion to watch from")
        }
        var objects: [String: Object] = [:]
        for object in list.items ?? [] {
            guard !(object.metadata.name ?? "").isEmpty else { throw .malformedResponse("a listed object has no name") }
            objects[object.storeKey] = object
        }
        state.objects = objects
        state.resourceVersion = version
        logger.debug("listed \(what)", metadata: ["resource_version": "\(version)", "objects": "\(objects.count)"])
        observe(.listed(resourceVersion: version, objects: objects.count))
        publish(objects)
    }

    /// Requests, reads and decodes one list, all within the request timeout.
    ///
    /// The HTTP client's deadline ends once the response head has arrived, so without this limit a
    /// server that trickles a list body would hold the collection's discovery for the read timeout.
    private func fetchList(client: HTTPClient) async throws(KubernetesDiscoveryError) -> ObjectList<Object> {
        let limit = settings.requestTimeout
        do {
            return try await withThrowingTaskGroup(of: ObjectList<Object>.self) { group in
                group.addTask { try await self.requestList(client: client) }
                group.addTask {
                    try await Task.sleep(for: limit)
                    throw KubernetesDiscoveryError.transport("the list request took longer than \(limit)")
                }
                defer { group.cancelAll() }
                guard let list = try await group.next() else { throw CancellationError() }
                return list
            }
        } catch {
            throw transportError(error)
        }
    }

    private func requestList(client: HTTPClient) async throws(KubernetesDiscoveryError) -> ObjectList<Object> {
        let response = try await send(path + selector, client: client)
        guard response.status.code == 200 else { throw await Self.statusError(response, path: path) }
        let body: ByteBuffer
        do {
            body = try await response.body.collect(upTo: settings.maxListBytes)
        } catch is NIOTooManyBytesError {
            throw .responseTooLarge(limit: settings.maxListBytes)
        } catch {
            throw transportError(error)
        }
        return try JSONDecoder().decodeKubernetes(ObjectList<Object>.self, from: Data(body.readableBytesView))
    }

    /// Watches from `state.resourceVersion` until the stream ends; returns how many events it applied.
    private func watch(
        client: HTTPClient, into state: inout ListWatchState<Object>, generator: inout some RandomNumberGenerator,
        publish: @Sendable ([String: Object]) -> Void
    ) async throws(KubernetesDiscoveryError) -> Int {
        guard let version = state.resourceVersion else { return 0 }
        let base = Backoff.seconds(settings.watchTimeout)
        let timeout = max(1, Int(Double.random(in: base...(2 * base), using: &generator)))
        let query = (selector.isEmpty ? "?" : selector + "&") + "watch=true&allowWatchBookmarks=true"
            + "&resourceVersion=\(Self.queryEscaped(version))&timeoutSeconds=\(timeout)"
        let response = try await send(path + query, client: client)
        if response.status.code == 410 { throw .resourceVersionExpired(version) }
        guard response.status.code == 200 else { throw await Self.statusError(response, path: path) }
        logger.debug("watching \(what)", metadata: ["resource_version": "\(version)", "timeout_seconds": "\(timeout)"])
        observe(.watching(resourceVersion: version))

        var decoder = ObjectWatchDecoder<Object>(maxLineBytes: settings.maxLineBytes)
        var applied = 0
        func apply(_ event: ObjectWatchEvent<Object>) throws(KubernetesDiscoveryError) {
            try Self.apply(event, to: &state)
            applied += 1
            // Progress: a later failure starts the backoff from the beginning again.
            state.failures = 0
            switch event {
            case .added, .modified, .deleted: publish(state.objects)
            case .bookmark, .error: break
            }
        }
        do {
            for try await chunk in response.body {
                for event in try decoder.feed(chunk) { try apply(event) }
            }
        } catch let error as KubernetesDiscoveryError {
            throw error
        } catch {
            throw transportError(error)
        }
        if let last = try decoder.finish() { try apply(last) }
        return applied
    }

    /// Applies one event to the known objects, or throws for an `ERROR` event.
    static func apply(_ event: ObjectWatchEvent<Object>, to state: inout ListWatchState<Object>) throws(KubernetesDiscoveryError) {
        switch event {
        case .added(let object), .modified(let object):
            guard !(object.metadata.name ?? "").isEmpty else { throw .malformedResponse("a watched object has no name") }
            state.objects[object.storeKey] = object
            if let version = object.metadata.resourceVersion { state.resourceVersion = version }
        case .deleted(let object):
            state.objects[object.storeKey] = nil
            if let version = object.metadata.resourceVersion { state.resourceVersion = version }
        case .bookmark(let version):
            state.resourceVersion = version
        case .error(let status):
            if status.code == 410 { throw .resourceVersionExpired(state.resourceVersion ?? "") }
            throw .watchError(code: status.code ?? 0, message: status.message ?? status.reason ?? "no message")
        }
    }

    // MARK: - HTTP

    private func send(_ pathAndQuery: String, client: HTTPClient) async throws(KubernetesDiscoveryError) -> HTTPClientResponse {
        var request = HTTPClientRequest(url: connection.baseURL + pathAndQuery)
        request.headers.add(name: "Accept", value: "application/json")
        request.headers.add(name: "User-Agent", value: "zone-agent")
        if let token = try connection.readToken() {
            request.headers.add(name: "Authorization", value: "Bearer \(token)")
        }
        do {
            return try await client.execute(request, timeout: Self.timeAmount(settings.requestTimeout))
        } catch {
            throw transportError(error)
        }
    }

    private static func statusError(_ response: HTTPClientResponse, path: String) async -> KubernetesDiscoveryError {
        // The body of an error is a Status; read a bounded amount of it for the message, no more.
        var message = ""
        if let body = try? await response.body.collect(upTo: 64 << 10),
           let status = try? JSONDecoder().decode(Status.self, from: Data(body.readableBytesView)) {
            message = status.message ?? status.reason ?? ""
        }
        return .httpStatus(code: Int(response.status.code), path: path, message: message)
    }

    private func transportError(_ error: any Error) -> KubernetesDiscoveryError {
        if let error = error as? KubernetesDiscoveryError { return error }
        if let error = error as? HTTPClientError {
            switch error {
            case .readTimeout:
                return .transport("\(connection.baseURL) sent nothing for \(settings.idleTimeout); the connection is presumed dead")
            case .connectTimeout, .deadlineExceeded:
                return .transport("no answer from \(connection.baseURL) within \(settings.requestTimeout)")
            case .remoteConnectionClosed:
                return .transport("\(connection.baseURL) closed the connection")
            default:
                break
            }
        }
        return .transport("\(error) (\(connection.baseURL))")
    }

    static func queryEscaped(_ text: String) -> String {
        var allowed = CharacterSet.alphanumerics
        allowed.insert(charactersIn: "-._~")
        return text.addingPercentEncoding(withAllowedCharacters: allowed) ?? text
    }

    static func timeAmount(_ duration: Duration) -> TimeAmount {
        .nanoseconds(Int64(Backoff.seconds(duration) * 1e9))
    }
}

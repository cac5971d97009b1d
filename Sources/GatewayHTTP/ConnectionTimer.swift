import NIOCore

/// The timer of one client connection of the proxy; it holds the handler until it fires or is cancelled.
struct ConnectionTimer: NIOScheduledCallbackHandler {
    let proxy: ProxyHandler

    func handleScheduledCallback(eventLoop: some EventLoop) {
        proxy.timerFired()
    }
}

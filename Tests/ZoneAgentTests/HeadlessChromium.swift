import Foundation
import XCTest

/// Headless Chromium as DrillTests drives it (Debian's `chromium`, which `make test` installs): a screenshot of a
/// page, and the DOM as the browser built it.
enum HeadlessChromium {
    static var path: String? {
        ["/usr/bin/chromium", "/usr/bin/chromium-browser"].first(where: FileManager.default.isExecutableFile(atPath:))
    }

    static func require() throws -> String {
        guard let path else { throw XCTSkip("headless Chromium is not installed (make test installs Debian's chromium)") }
        return path
    }

    /// Runs Chromium on `url` with `extra` flags; returns what it wrote to stdout. Bounded: killed after 60 s.
    static func run(_ url: String, _ extra: [String]) throws -> String {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: try require())
        let profile = NSTemporaryDirectory() + "chromium-\(UUID().uuidString.prefix(8))"
        defer { try? FileManager.default.removeItem(atPath: profile) }
        p.arguments = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--user-data-dir=\(profile)"] + extra + [url]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        DispatchQueue.global().asyncAfter(deadline: .now() + 60) { if p.isRunning { p.terminate() } }
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        p.waitUntilExit()
        return text
    }

    /// A PNG of `url` at `width`×`height`, written to `png` and checked to be one.
    static func screenshot(_ url: String, png: String, width: Int = 1280, height: Int = 1000) throws {
        try? FileManager.default.removeItem(atPath: png)
        _ = try run(url, ["--window-size=\(width),\(height)", "--screenshot=\(png)"])
        let image = FileManager.default.contents(atPath: png) ?? Data()
        XCTAssertEqual(Array(image.prefix(4)), [0x89, 0x50, 0x4E, 0x47], "a PNG screenshot of \(url)")
        XCTAssertGreaterThan(image.count, 20_000, "a page with content, not a blank one")
    }

    /// The DOM of `url` once Chromium has loaded it. No virtual time budget: the status page reloads itself
    /// every two seconds, and a dump taken while that reload runs comes back empty.
    static func dom(_ url: String) throws -> String {
        try run(url, ["--dump-dom"])
    }
}

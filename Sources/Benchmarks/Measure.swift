import Dispatch

/// Runs `body` repeatedly for about `seconds` and returns operations per second on one core: the rate of the best
/// of ten equal windows. Another process or a neighbour on the host only ever slows a window down, so the best one
/// is the figure that repeats on a shared machine (the mean of one long window varied by 1.5x between runs here).
func operationsPerSecond(seconds: Double = 1.0, batch: Int = 1000, _ body: () -> Void) -> Double {
    // Warm up caches and lazily initialised state first.
    for _ in 0..<min(batch, 100) { body() }
    let window = UInt64(seconds * 1e9 / 10)
    var best = 0.0
    for _ in 0..<10 {
        let start = DispatchTime.now().uptimeNanoseconds
        var operations = 0
        var elapsed: UInt64 = 0
        while elapsed < window {
            for _ in 0..<batch { body() }
            operations += batch
            elapsed = DispatchTime.now().uptimeNanoseconds - start
        }
        best = max(best, Double(operations) / (Double(elapsed) / 1e9))
    }
    return best
}

/// Formats a figure with thousands separators.
func grouped(_ value: Double) -> String {
    let n = Int(value.rounded())
    let digits = String(n)
    var out = ""
    for (i, c) in digits.reversed().enumerated() {
        if i > 0 && i % 3 == 0 { out.append(",") }
        out.append(c)
    }
    return String(out.reversed())
}

/// Prints one benchmark figure in a fixed, grep-able form.
func report(_ name: String, _ value: String, aim: String = "") {
    let pad = String(repeating: " ", count: max(1, 52 - name.count))
    print("  \(name)\(pad)\(value)\(aim.isEmpty ? "" : "   (aim: \(aim))")")
}

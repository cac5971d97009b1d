/// Integer arithmetic that turns fractional shares into whole weights that add up exactly.
public enum Apportion {
    /// Splits `total` over `shares` in proportion (largest-remainder method); ties go to the lower index.
    ///
    /// The result sums to exactly `total` whenever some share is positive, and a zero share always gets 0.
    /// Callers order shares by cluster name, which makes the tie-break deterministic by name.
    public static func largestRemainder(_ shares: [Int], total: Int) -> [Int] {
        let clamped = shares.map { max(0, $0) }
        let sum = clamped.reduce(0, +)
        guard sum > 0, total > 0 else { return Array(repeating: 0, count: shares.count) }
        var result = clamped.map { $0 * total / sum }
        let remainders = clamped.map { $0 * total % sum }
        var leftover = total - result.reduce(0, +)
        let order = remainders.indices.sorted { a, b in
            remainders[a] != remainders[b] ? remainders[a] > remainders[b] : a < b
        }
        for index in order where leftover > 0 {
            result[index] += 1
            leftover -= 1
        }
        return result
    }

    /// Splits `total` evenly over `count` parts; the first `total % count` parts get one more.
    public static func even(_ total: Int, over count: Int) -> [Int] {
        guard count > 0 else { return [] }
        let base = total / count
        let extra = total % count
        return (0..<count).map { $0 < extra ? base + 1 : base }
    }
}

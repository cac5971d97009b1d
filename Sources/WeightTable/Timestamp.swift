/// UTC timestamps as ISO-8601 text (`2026-11-25T03:00:00Z`), without Foundation's formatters, so the output is
/// the same on every platform.
public enum Timestamp {
    /// Formats milliseconds since the Unix epoch as `YYYY-MM-DDTHH:MM:SSZ` (whole seconds, UTC).
    public static func iso8601(millis: UInt64) -> String {
        let seconds = Int64(millis / 1000)
        let days = seconds / 86_400
        let secondOfDay = seconds % 86_400
        let (year, month, day) = civil(daysSinceEpoch: days)
        // Milliseconds only when there are any: a drill measures failover from `generatedAt`, to the millisecond.
        let fraction = millis % 1000 == 0 ? "" : ".\(pad(Int64(millis % 1000), 3))"
        return "\(pad(year, 4))-\(pad(month, 2))-\(pad(day, 2))T\(pad(secondOfDay / 3600, 2)):\(pad(secondOfDay / 60 % 60, 2)):\(pad(secondOfDay % 60, 2))\(fraction)Z"
    }

    /// Parses `YYYY-MM-DDTHH:MM:SS[.fff]Z` back to milliseconds since the Unix epoch; nil if it is not that form.
    public static func millis(iso8601 text: String) -> UInt64? {
        let bytes = Array(text.utf8)
        guard bytes.count >= 20, bytes.last == UInt8(ascii: "Z") else { return nil }
        func number(_ range: Range<Int>) -> Int64? {
            var value: Int64 = 0
            for i in range {
                guard i < bytes.count, bytes[i] >= 0x30, bytes[i] <= 0x39 else { return nil }
                value = value * 10 + Int64(bytes[i] - 0x30)
            }
            return value
        }
        guard bytes[4] == UInt8(ascii: "-"), bytes[7] == UInt8(ascii: "-"), bytes[10] == UInt8(ascii: "T"),
              bytes[13] == UInt8(ascii: ":"), bytes[16] == UInt8(ascii: ":"),
              let year = number(0..<4), let month = number(5..<7), let day = number(8..<10),
              let hour = number(11..<13), let minute = number(14..<16), let second = number(17..<19),
              (1...12).contains(month), (1...31).contains(day), hour < 24, minute < 60, second < 61, year >= 1970
        else { return nil }
        var millis: Int64 = 0
        if bytes.count > 20 {
            guard bytes[19] == UInt8(ascii: "."), let fraction = number(20..<(bytes.count - 1)), bytes.count - 21 <= 9 else { return nil }
            var scaled = fraction
            var digits = bytes.count - 21
            while digits < 3 { scaled *= 10; digits += 1 }
            while digits > 3 { scaled /= 10; digits -= 1 }
            millis = scaled
        } else if bytes.count != 20 {
            return nil
        }
        let days = daysSinceEpoch(year: year, month: month, day: day)
        return UInt64((days * 86_400 + hour * 3600 + minute * 60 + second) * 1000 + millis)
    }

    // The proleptic Gregorian calendar in eras of 400 years, which repeat exactly (146,097 days each).
    static func civil(daysSinceEpoch: Int64) -> (year: Int64, month: Int64, day: Int64) {
        let z = daysSinceEpoch + 719_468
        let era = (z >= 0 ? z : z - 146_096) / 146_097
        let dayOfEra = z - era * 146_097
        let yearOfEra = (dayOfEra - dayOfEra / 1460 + dayOfEra / 36_524 - dayOfEra / 146_096) / 365
        let dayOfYear = dayOfEra - (365 * yearOfEra + yearOfEra / 4 - yearOfEra / 100)
        let shiftedMonth = (5 * dayOfYear + 2) / 153  // March = 0, so the leap day ends the year
        let day = dayOfYear - (153 * shiftedMonth + 2) / 5 + 1
        let month = shiftedMonth < 10 ? shiftedMonth + 3 : shiftedMonth - 9
        return (yearOfEra + era * 400 + (month <= 2 ? 1 : 0), month, day)
    }

    static func daysSinceEpoch(year: Int64, month: Int64, day: Int64) -> Int64 {
        let y = month <= 2 ? year - 1 : year
        let era = (y >= 0 ? y : y - 399) / 400
        let yearOfEra = y - era * 400
        let shiftedMonth = month > 2 ? month - 3 : month + 9
        let dayOfYear = (153 * shiftedMonth + 2) / 5 + day - 1
        let dayOfEra = yearOfEra * 365 + yearOfEra / 4 - yearOfEra / 100 + dayOfYear
        return era * 146_097 + dayOfEra - 719_468
    }

    private static func pad(_ value: Int64, _ width: Int) -> String {
        let text = String(value)
        return text.count >= width ? text : String(repeating: "0", count: width - text.count) + text
    }
}

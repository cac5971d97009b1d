@testable import GatewayHTTP
import XCTest

final class RequestPathTests: XCTestCase {
    func testNormalisation() {
        let cases: [(String, RequestPath.Outcome)] = [
            // Already normal: untouched, whatever they look like.
            ("/", .unchanged),
            ("/svc1/a", .unchanged),
            ("/svc1/a/", .unchanged),
            ("/a.b/c..d/.well-known/..x", .unchanged),
            ("/a%20b/%41", .unchanged),
            ("*", .unchanged),
            // RFC 3986 §5.2.4 remove_dot_segments, with `..` above the root staying there.
            ("/svc1/../admin", .normalized("/admin")),
            ("/svc1/./a", .normalized("/svc1/a")),
            ("/a/b/../c", .normalized("/a/c")),
            ("/a/.", .normalized("/a/")),
            ("/a/..", .normalized("/")),
            ("/..", .normalized("/")),
            ("/../../admin", .normalized("/admin")),
            ("/.", .normalized("/")),
            // Encoded dots are dots.
            ("/svc1/%2e%2e/admin", .normalized("/admin")),
            ("/svc1/%2E%2e/admin", .normalized("/admin")),
            ("/svc1/.%2e/admin", .normalized("/admin")),
            ("/a%2Eb", .normalized("/a.b")),
            // Slashes merged, a trailing one kept.
            ("//svc1//a", .normalized("/svc1/a")),
            // Merged first, as nginx does: `..` then climbs over a real segment, not an empty one.
            ("/svc1//../admin", .normalized("/admin")),
            ("/a//", .normalized("/a/")),
            ("//", .normalized("/")),
            // Ambiguous or malformed: refused.
            ("/svc1/..%2Fadmin", .invalid("an encoded slash or backslash in the path is ambiguous\n")),
            ("/svc1/%2fadmin", .invalid("an encoded slash or backslash in the path is ambiguous\n")),
            ("/svc1/..%5Cadmin", .invalid("an encoded slash or backslash in the path is ambiguous\n")),
            ("/svc1\\..\\admin", .invalid("a backslash in the path is ambiguous\n")),
            ("/svc1/..;x/admin", .invalid("a dot segment with parameters in the path is ambiguous\n")),
            ("/svc1/.;/admin", .invalid("a dot segment with parameters in the path is ambiguous\n")),
            ("/a%2", .invalid("a malformed percent-escape in the path\n")),
            ("/a%zz", .invalid("a malformed percent-escape in the path\n")),
            ("svc1", .invalid("the request path must start with /\n")),
            ("", .invalid("the request target is empty\n")),
        ]
        for (path, want) in cases {
            XCTAssertEqual(RequestPath.normalize(path[...]), want, path)
        }
    }

    func testNormalisedPathsAreFixedPoints() {
        let paths = ["/svc1/../admin", "//a//b/./../c/", "/%2e%2E/x/%2E/y/..", "/a/b/c/../../../../d"]
        for path in paths {
            guard case .normalized(let once) = RequestPath.normalize(path[...]) else {
                XCTFail("\(path) was not normalised")
                continue
            }
            XCTAssertEqual(RequestPath.normalize(once[...]), .unchanged, path)
        }
    }
}

import MeshCrypto
import XCTest

/// The replay window as a table: one window, a sequence of packets, the verdict of each.
final class ReplayWindowTests: XCTestCase {
    let now: UInt64 = 1_764_000_000_000

    func nonce(_ n: Int) -> [UInt8] { (0..<24).map { UInt8(truncatingIfNeeded: n >> (($0 % 4) * 8)) ^ UInt8($0) } }

    func testVerdictsTable() {
        // (nonce, sent at, received at, verdict), all through one window of ±10 s and 100 nonces.
        let rows: [(Int, UInt64, UInt64, ReplayWindow.Verdict, String)] = [
            (1, now, now, .fresh, "a new packet"),
            (1, now, now + 5, .replayed, "the same nonce again"),
            (2, now - 10_000, now, .fresh, "exactly the window old"),
            (3, now - 10_001, now, .tooOld(ageMillis: 10_001), "a moment older than the window"),
            (4, now - 3_600_000, now, .tooOld(ageMillis: 3_600_000), "an hour old (a captured packet)"),
            (5, now + 10_000, now, .fresh, "exactly the window ahead"),
            (6, now + 10_001, now, .tooNew(aheadMillis: 10_001), "a moment too far ahead"),
            (7, now + 600_000, now, .tooNew(aheadMillis: 600_000), "ten minutes ahead"),
            (1, now, now + 9_999, .replayed, "the first nonce, still remembered inside the window"),
            (1, now, now + 10_001, .tooOld(ageMillis: 10_001), "the first nonce once its time has left the window"),
        ]
        var window = ReplayWindow(windowMillis: 10_000, capacity: 100)
        for (n, sent, received, expected, what) in rows {
            XCTAssertEqual(window.admit(nonce: nonce(n), sentAtMillis: sent, nowMillis: received), expected, what)
        }
    }

    func testTheCacheStaysBoundedAndStillRefusesEveryReplay() {
        var window = ReplayWindow(windowMillis: 10_000, capacity: 8)
        // Twenty packets a millisecond apart: the first twelve are forgotten, and the floor rises with them.
        for i in 0..<20 {
            XCTAssertEqual(window.admit(nonce: nonce(i), sentAtMillis: now + UInt64(i), nowMillis: now + 20), .fresh)
            XCTAssertLessThanOrEqual(window.count, 8)
        }
        XCTAssertEqual(window.count, 8)
        XCTAssertEqual(window.floorMillis, now + 11)
        // Every one of them replayed is refused: the forgotten ones by the floor, the others by their nonce.
        for i in 0..<20 {
            let verdict = window.admit(nonce: nonce(i), sentAtMillis: now + UInt64(i), nowMillis: now + 20)
            if i <= 11 {
                XCTAssertEqual(verdict, .tooOld(ageMillis: UInt64(20 - i)), "packet \(i)")
            } else {
                XCTAssertEqual(verdict, .replayed, "packet \(i)")
            }
        }
        // A new packet sealed after the floor is still admitted.
        XCTAssertEqual(window.admit(nonce: nonce(100), sentAtMillis: now + 20, nowMillis: now + 20), .fresh)
    }

    func testExpiredNoncesAreForgottenAndTheClockGoingBackDoesNotRevivePackets() {
        var window = ReplayWindow(windowMillis: 1_000, capacity: 100)
        XCTAssertEqual(window.admit(nonce: nonce(1), sentAtMillis: now, nowMillis: now), .fresh)
        XCTAssertEqual(window.admit(nonce: nonce(2), sentAtMillis: now + 2_000, nowMillis: now + 2_000), .fresh)
        XCTAssertEqual(window.count, 1, "the first nonce left the window and was forgotten")
        // Our clock steps back (NTP): the forgotten packet is inside the window again, but below the floor.
        XCTAssertEqual(window.admit(nonce: nonce(1), sentAtMillis: now, nowMillis: now + 500), .tooOld(ageMillis: 500))
    }

    func testSealedPacketsThroughTheWindow() throws {
        let ring = Keyring(primary: .generate(), meshName: "prod")
        var window = ReplayWindow(windowMillis: 10_000, capacity: 100)
        let plaintext: [UInt8] = [1, 2, 3]
        let sealed = ring.seal(plaintext, sentAtMillis: now)
        XCTAssertEqual(try ring.open(sealed, nowMillis: now + 3, window: &window), plaintext)
        XCTAssertThrowsError(try ring.open(sealed, nowMillis: now + 4, window: &window)) {
            XCTAssertEqual($0 as? SealRefusal, .replayed)
            XCTAssertEqual(($0 as? SealRefusal)?.reason, "replayed")
        }
        XCTAssertThrowsError(try ring.open(ring.seal(plaintext, sentAtMillis: now - 60_000), nowMillis: now, window: &window)) {
            XCTAssertEqual($0 as? SealRefusal, .stale(ageMillis: 60_000))
        }
        XCTAssertThrowsError(try ring.open(ring.seal(plaintext, sentAtMillis: now + 60_000), nowMillis: now, window: &window)) {
            XCTAssertEqual($0 as? SealRefusal, .future(aheadMillis: 60_000))
        }
        let stranger = Keyring(primary: .generate(), meshName: "prod")
        XCTAssertThrowsError(try ring.open(stranger.seal(plaintext, sentAtMillis: now), nowMillis: now, window: &window)) {
            XCTAssertEqual(($0 as? SealRefusal)?.reason, "open_failed")
        }
        // A tampered timestamp does not open: the time is inside the authenticated ciphertext.
        var tampered = ring.seal(plaintext, sentAtMillis: now)
        tampered[1 + Keyring.nonceByteCount] ^= 1
        XCTAssertThrowsError(try ring.open(tampered)) { XCTAssertEqual($0 as? CryptoError, .noKeyOpens) }
        XCTAssertEqual(window.count, 1, "only the packet that opened and was fresh is remembered")
    }
}

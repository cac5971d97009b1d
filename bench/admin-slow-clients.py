#!/usr/bin/env python3
"""Slow clients against a running zone-agent admin API: one idle connection, one that sends half a request head,
one that sends a head promising a body it never sends. Prints when the server closed each (or that it had not
after LIMIT seconds).

usage: admin-slow-clients.py HOST PORT [LIMIT]   (default limit 75 s: past the 60 s idle deadline)
"""
import select
import socket
import sys
import time


def main():
    host, port = sys.argv[1], int(sys.argv[2])
    limit = float(sys.argv[3]) if len(sys.argv) > 3 else 75
    kinds = {
        "idle (nothing sent)": b"",
        "partial head": b"GET / HTTP/1.1\r\nHost: admin\r\n",
        "open body (Content-Length: 1000000, 3 bytes sent)": b"POST / HTTP/1.1\r\nHost: admin\r\nContent-Length: 1000000\r\n\r\nabc",
    }
    start = time.monotonic()
    open_ = {}
    for name, data in kinds.items():
        s = socket.create_connection((host, port), timeout=5)
        if data:
            s.sendall(data)
        open_[s] = name
    closed = {}
    while open_ and time.monotonic() - start < limit:
        ready, _, _ = select.select(list(open_), [], [], 0.5)
        for s in ready:
            try:
                data = s.recv(65536)
            except OSError:
                data = b""
            if not data:
                closed[open_.pop(s)] = time.monotonic() - start
                s.close()
    for name in kinds:
        if name in closed:
            print(f"{name}: closed by the server after {closed[name]:.1f} s")
        else:
            print(f"{name}: still open after {limit:.0f} s")
    for s in open_:
        s.close()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Heads sent a byte a write, both ways through the proxy: a hostile upstream and a hostile client.

usage: slow-heads.py upstream PORT SIZE        serve on 127.0.0.1:PORT: /healthz at once, anything else with a head of
                                               SIZE bytes a byte a write (then a body of 2 bytes)
       slow-heads.py client HOST PORT SIZE     send `GET /healthz` with a head of SIZE bytes a byte a write; print the
                                               status line that comes back
Each byte waits 50 us, so that it arrives in a read of its own. Every socket has a timeout; the upstream serves
until it is killed.
"""
import socket
import sys
import threading
import time

GAP = 0.00005


def fields(size):
    return b"".join(b"x-f%05d: %s\r\n" % (i, b"v" * 40) for i in range(size // 50))


def dribble(sock, data):
    for i in range(len(data)):
        sock.send(data[i:i + 1])
        time.sleep(GAP)


def serve(conn, size):
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn.settimeout(30)
    pending = b""
    try:
        while True:
            while b"\r\n\r\n" not in pending:
                data = conn.recv(65536)
                if not data:
                    return
                pending += data
            request, pending = pending.split(b"\r\n\r\n", 1)
            if b"/healthz" in request.split(b"\r\n")[0]:
                conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
                continue
            dribble(conn, b"HTTP/1.1 200 OK\r\n" + fields(size) + b"content-length: 2\r\n\r\n")
            conn.sendall(b"ok")
    except OSError:
        pass
    finally:
        conn.close()


def upstream(port, size):
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", port))
    server.listen(64)
    while True:
        conn, _ = server.accept()
        threading.Thread(target=serve, args=(conn, size), daemon=True).start()


def client(host, port, size):
    conn = socket.create_connection((host, port), timeout=30)
    conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    dribble(conn, b"GET /healthz HTTP/1.1\r\nhost: slow.test\r\n" + fields(size) + b"\r\n")
    print(conn.recv(200).split(b"\r\n")[0].decode())


if __name__ == "__main__":
    if sys.argv[1] == "upstream":
        upstream(int(sys.argv[2]), int(sys.argv[3]))
    else:
        client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))

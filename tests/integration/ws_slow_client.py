#!/usr/bin/python3
"""ws_slow_client.py — a WebSocket client that falls behind on purpose.

    /usr/bin/python3 tests/integration/ws_slow_client.py HOST PORT PATH

It asks the kernel for a small receive buffer (SO_RCVBUF 4096, set before
connect so the kernel never grows it), opens PATH (e.g.
/ws?channel=game&history=0) on HOST:PORT, prints "ready" once the 101 is in,
and then reads nothing until a line arrives on stdin: meanwhile the server's
frames pile up, first in the kernel buffers, then in the helper's queue for
this client.  After that line it reads every frame until none has come for
two seconds and prints the messages received, one JSON line:
    [{"id":..,"event":..,"user":..,"text":..}, ...]
Written on a raw socket (no library reading in the background), so the
slowness is real.  Exits 1 on any protocol error.
"""
import json
import socket
import sys
import base64
import os


def read_exact(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError("connection closed")
        buf += chunk
    return buf


def read_frame(sock):
    """One server frame: (opcode, payload).  Server frames are unmasked."""
    b0, b1 = read_exact(sock, 2)
    if b1 & 0x80:
        raise ValueError("server frame is masked")
    n = b1 & 0x7F
    if n == 126:
        n = int.from_bytes(read_exact(sock, 2), "big")
    elif n == 127:
        n = int.from_bytes(read_exact(sock, 8), "big")
    return b0 & 0x0F, read_exact(sock, n)


def main(host, port, path):
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect((host, int(port)))
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\n"
                  "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                  f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += read_exact(sock, 1)
    if not head.startswith(b"HTTP/1.1 101"):
        raise ValueError(f"handshake refused: {head[:60]!r}")
    print("ready", flush=True)
    sys.stdin.readline()
    sock.settimeout(2.0)
    received = []
    try:
        while True:
            opcode, payload = read_frame(sock)
            if opcode == 0x8:
                raise ValueError(f"closed by the server: {payload[2:].decode(errors='replace')}")
            if opcode != 0x1:
                continue                          # a ping: nothing to count
            frame = json.loads(payload)
            if frame.get("type") == "message":
                m = frame["message"]
                received.append({k: m.get(k) for k in ("id", "event", "user", "text")})
    except socket.timeout:
        pass
    print(json.dumps(received), flush=True)


if __name__ == "__main__":
    if len(sys.argv) != 4:
        sys.exit(__doc__)
    try:
        main(*sys.argv[1:])
    except Exception as e:   # noqa: BLE001 — any failure is the test's failure
        print(f"ws_slow_client: {e}", file=sys.stderr)
        sys.exit(1)

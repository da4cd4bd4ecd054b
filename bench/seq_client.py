#!/usr/bin/env python3
"""seq_client: the bounded client of scripts/bench's callgrind scenario (and its setup).

Sends N requests one at a time on one keep-alive HTTP/1.1 connection (the next request only
after the whole previous response arrived), so that a server under callgrind does the work of
exactly N sequential requests. The request bytes are fixed (Host: bench, no other header
unless given), so two servers get the same input. Every response must have the expected
status, or the client stops with status 1; the whole run is bounded by --timeout.

    seq_client.py HOST PORT PATH [-n N] [-X METHOD] [-d BODY] [-H 'Name: value']...
                  [--expect STATUS] [--print-body] [--timeout S]

Prints "ok N" (and with --print-body the last response's body on the next line). Stdlib only.
"""

import argparse
import socket
import sys
import time


def read_response(sock, buf, deadline):
    """Read one response from sock (buf: bytes already received); return (status, body, rest)."""
    while b"\r\n\r\n" not in buf:
        buf += recv(sock, deadline)
    head, _, buf = buf.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    status = int(lines[0].split()[1])
    length = 0
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"content-length":
            length = int(value.strip())
        elif name == b"transfer-encoding":
            raise SystemExit("seq_client: chunked responses are not supported")
    while len(buf) < length:
        buf += recv(sock, deadline)
    return status, buf[:length], buf[length:]


def recv(sock, deadline):
    left = deadline - time.monotonic()
    if left <= 0:
        raise SystemExit("seq_client: timed out")
    sock.settimeout(left)
    data = sock.recv(65536)
    if not data:
        raise SystemExit("seq_client: the server closed the connection")
    return data


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("host")
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("-n", type=int, default=1, help="requests (default 1)")
    ap.add_argument("-X", dest="method", default="GET")
    ap.add_argument("-d", dest="body", default=None)
    ap.add_argument("-H", dest="headers", action="append", default=[])
    ap.add_argument("--expect", type=int, default=None, help="status (default: any 2xx)")
    ap.add_argument("--print-body", action="store_true")
    ap.add_argument("--timeout", type=float, default=300.0, help="the whole run, seconds")
    a = ap.parse_args()

    req = f"{a.method} {a.path} HTTP/1.1\r\nHost: bench\r\n"
    for h in a.headers:
        req += h + "\r\n"
    body = (a.body or "").encode()
    if a.body is not None:
        req += f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
    req = req.encode() + b"\r\n" + body

    deadline = time.monotonic() + a.timeout
    sock = socket.create_connection((a.host, a.port), timeout=a.timeout)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf, last = b"", b""
    for i in range(a.n):
        sock.sendall(req)
        status, last, buf = read_response(sock, buf, deadline)
        if (a.expect is not None and status != a.expect) or (a.expect is None and not 200 <= status < 300):
            sys.stderr.write(f"seq_client: request {i + 1}: status {status}: {last[:300].decode(errors='replace')}\n")
            return 1
    sock.close()
    print(f"ok {a.n}")
    if a.print_body:
        print(last.decode(errors="replace"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

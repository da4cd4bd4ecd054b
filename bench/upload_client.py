#!/usr/bin/env python3
"""Uploads for the `files` benchmark scenario (bench/scenarios/files.sh).

    upload_client.py PORT PATH FIELD FILE COUNT

Sends COUNT multipart/form-data POSTs of FILE (streamed in 1 MiB reads) as the
file part FIELD to 127.0.0.1:PORT PATH, one after the other on one keep-alive
connection, and prints one line per upload: "upload <seconds> <status>",
then "summary n=<COUNT> bytes=<file size> seconds=<total> mbps=<MB/s>"
(MB = 10^6 bytes, over the time of the requests alone). Standard library only.
"""
import http.client
import os
import sys
import time

BOUNDARY = "----benchfilesboundary8xK2"


def main(argv):
    if len(argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    port, path, field, name, count = int(argv[0]), argv[1], argv[2], argv[3], int(argv[4])
    size = os.path.getsize(name)
    head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"{field}\"; "
            f"filename=\"bench.bin\"\r\nContent-Type: application/octet-stream\r\n\r\n").encode()
    tail = f"\r\n--{BOUNDARY}--\r\n".encode()
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    total = 0.0
    for _ in range(count):
        t0 = time.perf_counter()
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", f"multipart/form-data; boundary={BOUNDARY}")
        conn.putheader("Content-Length", str(len(head) + size + len(tail)))
        conn.endheaders()
        conn.send(head)
        with open(name, "rb") as f:
            while True:
                chunk = f.read(1 << 20)
                if not chunk:
                    break
                conn.send(chunk)
        conn.send(tail)
        resp = conn.getresponse()
        resp.read()
        dt = time.perf_counter() - t0
        total += dt
        print(f"upload {dt:.6f} {resp.status}")
        if resp.status != 200:
            return 1
    mbps = size * count / 1e6 / total if total else 0
    print(f"summary n={count} bytes={size} seconds={total:.6f} mbps={mbps:.1f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

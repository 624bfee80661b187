#!/usr/bin/env python3
"""mirrors.py — HTTP sources of one model folder for tests/test_pull.sh, good and bad.

usage: mirrors.py ROOT LOG MODE:PORT [MODE:PORT ...]   (prints "ready" once all listen)

Modes (how /shards/<hex>.bin is answered; manifest.json and other files are always served right,
so every source gets as far as the shards):
  good         200 / 206 with Range, 416 past the end
  corrupt      like good, but one byte of every shard body flipped
  truncate     correct headers, the connection closed after half the body
  html200      200 text/html page
  notfound200  200 text/plain "Not Found"
  stall        headers and 100 bytes, then nothing
  badrange     206 with a Content-Range that names other bytes
  slow         like good, about 1 MB/s (to kill a download mid-shard)
Each request is logged as "MODE PORT PATH RANGE STATUS BYTES" to LOG."""
import http.server
import os
import re
import sys
import threading
import time

ROOT, LOG = sys.argv[1], sys.argv[2]
lock = threading.Lock()


def log(*f):
    with lock, open(LOG, "a") as fh:
        fh.write(" ".join(str(x) for x in f) + "\n")


def handler(mode, port):
    class H(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def send(self, status, body, ctype="application/octet-stream", extra=()):
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)
            log(mode, port, self.path, self.headers.get("Range", "-"), status, len(body))

        def headers_only(self, status, n, extra):
            self.send_response(status)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(n))
            for k, v in extra:
                self.send_header(k, v)
            self.end_headers()

        def do_GET(self):
            path = self.path.split("?")[0]
            if ".." in path:
                return self.send(404, b"no")
            fs = os.path.join(ROOT, path.lstrip("/"))
            if not os.path.isfile(fs):
                return self.send(404, b"Not Found", "text/plain")
            data = open(fs, "rb").read()
            shard = "/shards/" in path
            if shard and mode == "html200":
                return self.send(200, b"<html><body>Welcome to our mirror!</body></html>", "text/html; charset=utf-8")
            if shard and mode == "notfound200":
                return self.send(200, b"Not Found", "text/plain")
            start, size = 0, len(data)
            m = re.match(r"bytes=(\d+)-(\d*)$", self.headers.get("Range", ""))
            if m:
                start = int(m.group(1))
                end = int(m.group(2)) if m.group(2) else size - 1
                if start >= size:
                    return self.send(416, b"", extra=[("Content-Range", "bytes */%d" % size)])
                end = min(end, size - 1)
                body = data[start:end + 1]
            else:
                body = data
            if shard and mode == "corrupt" and len(body) > 0:
                b = bytearray(body)
                b[len(b) // 2] ^= 0x40
                body = bytes(b)
            extra = [("Accept-Ranges", "bytes")]
            status = 206 if m else 200
            if m:
                cr_start = start + 1 if (shard and mode == "badrange") else start
                extra.append(("Content-Range", "bytes %d-%d/%d" % (cr_start, start + len(body) - 1, size)))
            if shard and mode == "slow":
                self.headers_only(status, len(body), extra)
                sent = 0
                try:
                    for i in range(0, len(body), 32768):
                        self.wfile.write(body[i:i + 32768])
                        self.wfile.flush()
                        sent += len(body[i:i + 32768])
                        time.sleep(0.03)
                finally:
                    log(mode, port, self.path, self.headers.get("Range", "-"), status, sent)
                return
            if shard and mode in ("truncate", "stall"):
                self.headers_only(status, len(body), extra)
                part = body[: len(body) // 2] if mode == "truncate" else body[:100]
                self.wfile.write(part)
                self.wfile.flush()
                log(mode, port, self.path, self.headers.get("Range", "-"), status, len(part))
                if mode == "stall":
                    time.sleep(120)
                self.close_connection = True
                return
            self.send(status, body, "application/json" if path.endswith(".json") else "application/octet-stream", extra)

        do_HEAD = do_GET

    return H


class Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True


for spec in sys.argv[3:]:
    mode, port = spec.split(":")
    srv = Server(("127.0.0.1", int(port)), handler(mode, int(port)))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
try:
    while True:
        time.sleep(3600)
except KeyboardInterrupt:
    pass

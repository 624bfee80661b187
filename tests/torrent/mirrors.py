#!/usr/bin/env python3
"""mirrors.py ROOT MODE:PORT... — HTTP mirrors of ROOT, good and bad, for tests/test_torrent*.sh.

Modes: good (Range, 206 + Content-Range, CORS), slow (good at ~1 MiB/s), paced (good at ~4 MiB/s
a connection), corrupt (206 with
one byte in every 16 KiB flipped), html200 (200 text/html for everything), notfound200 (200
with a short "not found" page), truncate (206 headers, then half the body and a close),
stall (accepts, reads the request, never answers), tcpstall (a TCP port that accepts and never
speaks: a stalled BitTorrent peer). Prints "ready" once every port listens; runs until killed.
"""
import os
import socket
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

ROOT = os.path.realpath(sys.argv[1])


def handler_for(mode):
    class H(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *a):
            pass

        def cors(self):
            self.send_header("Access-Control-Allow-Origin", "*")
            self.send_header("Access-Control-Expose-Headers", "Content-Range, Content-Length")

        def do_OPTIONS(self):
            self.send_response(204)
            self.cors()
            self.send_header("Access-Control-Allow-Headers", "Range, Cache-Control")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def do_HEAD(self):
            self.do_GET(head=True)

        def do_GET(self, head=False):
            if mode == "stall":
                time.sleep(3600)
                return
            if mode in ("html200", "notfound200"):
                body = (b"<!doctype html><html><body>" + b"ad " * 4000 + b"</body></html>") if mode == "html200" \
                    else b"Not Found"
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(body)))
                self.cors()
                self.end_headers()
                if not head:
                    self.wfile.write(body)
                return
            path = os.path.realpath(os.path.join(ROOT, self.path.split("?")[0].lstrip("/")))
            if not path.startswith(ROOT + "/") or not os.path.isfile(path):
                self.send_response(404)
                self.send_header("Content-Length", "0")
                self.cors()
                self.end_headers()
                return
            size = os.path.getsize(path)
            start, end = 0, size - 1
            rng = self.headers.get("Range")
            if rng and rng.startswith("bytes="):
                a, _, b = rng[6:].split(",")[0].partition("-")
                if a:
                    start, end = int(a), (int(b) if b else size - 1)
                else:
                    start, end = size - int(b), size - 1
                end = min(end, size - 1)
                if start > end:
                    self.send_response(416)
                    self.send_header("Content-Range", "bytes */%d" % size)
                    self.send_header("Content-Length", "0")
                    self.cors()
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", "bytes %d-%d/%d" % (start, end, size))
            else:
                self.send_response(200)
            n = end - start + 1
            self.send_header("Content-Length", str(n))
            ctype = {".html": "text/html", ".mjs": "text/javascript", ".js": "text/javascript"}.get(
                os.path.splitext(path)[1], "application/octet-stream")
            self.send_header("Content-Type", ctype)
            self.send_header("Accept-Ranges", "bytes")
            self.cors()
            self.end_headers()
            if head:
                return
            with open(path, "rb") as f:
                f.seek(start)
                data = f.read(n)
            if mode == "corrupt":
                b = bytearray(data)
                for i in range((16384 - start % 16384) % 16384, len(b), 16384):
                    b[i] ^= 0xFF
                data = bytes(b)
            try:
                if mode == "truncate":
                    self.wfile.write(data[: len(data) // 2])
                    self.wfile.flush()
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                elif mode in ("slow", "paced"):
                    for i in range(0, len(data), 16384):
                        self.wfile.write(data[i:i + 16384])
                        time.sleep(0.016 if mode == "slow" else 0.004)
                else:
                    self.wfile.write(data)
            except (BrokenPipeError, ConnectionResetError, OSError):
                self.close_connection = True

    return H


def tcp_stall(port):
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port))
    s.listen(64)
    held = []
    def loop():
        while True:
            c, _ = s.accept()
            held.append(c)  # never read, never answer
    threading.Thread(target=loop, daemon=True).start()


class Quiet(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # clients that hang up on a bad mirror are expected


for spec in sys.argv[2:]:
    mode, port = spec.split(":")
    if mode == "tcpstall":
        tcp_stall(int(port))
        continue
    srv = Quiet(("0.0.0.0", int(port)), handler_for(mode))
    threading.Thread(target=srv.serve_forever, daemon=True).start()
print("ready", flush=True)
while True:
    time.sleep(3600)

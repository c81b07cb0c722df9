"""A plain-HTTP origin that sends ``/slow/N`` as N bytes in 64 KB chunks, 0.15 s apart.

    python -m tests.support.slow_origin PORT

Keeps a response in flight for a known time (1 MB ≈ 2.4 s), e.g. across a proxy's
SIGTERM drain. Any other path answers ``hello``.
"""

from __future__ import annotations

import sys
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self) -> None:
        if self.path.startswith("/slow/"):
            size = int(self.path.rsplit("/", 1)[1])
            self.send_response(200)
            self.send_header("Content-Length", str(size))
            self.end_headers()
            sent = 0
            while sent < size:
                n = min(CHUNK, size - sent)
                self.wfile.write(bytes([sent // CHUNK % 251]) * n)
                sent += n
                time.sleep(0.15)
            return
        self.send_response(200)
        self.send_header("Content-Length", "6")
        self.end_headers()
        self.wfile.write(b"hello\n")

    def log_message(self, format: str, *args: object) -> None:
        pass


if __name__ == "__main__":
    ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Handler).serve_forever()

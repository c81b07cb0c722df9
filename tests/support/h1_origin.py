"""An HTTPS HTTP/1.1 origin that reports what it received (the h2 inspection tests' origin).

    python h1_origin.py --port P --cert C --key K

``/echo`` (any method): JSON with the request's version, method, Host, header names and the
body's length and SHA-256 (Content-Length or chunked bodies). ``/big?n=N``: N bytes with
Content-Length; ``/chunked?n=N``: N bytes chunked. ALPN http/1.1 only.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import ssl
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        return

    def _body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(size)
                self.rfile.readline()
        return self.rfile.read(int(self.headers.get("Content-Length") or 0))

    def _answer(self) -> None:
        url = urlsplit(self.path)
        n = int(parse_qs(url.query).get("n", ["0"])[0])
        body = self._body()
        if url.path == "/big":
            self.send_response(200)
            self.send_header("Content-Length", str(n))
            self.end_headers()
            self.wfile.write(b"b" * n)
        elif url.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            left = n
            while left:
                part = min(left, 16384)
                self.wfile.write(b"%x\r\n" % part + b"c" * part + b"\r\n")
                left -= part
            self.wfile.write(b"0\r\n\r\n")
        else:
            data = json.dumps({"version": self.request_version, "method": self.command, "path": self.path,
                               "host": self.headers.get("Host"), "headers": [k.lower() for k in self.headers],
                               "body_len": len(body), "body_sha256": hashlib.sha256(body).hexdigest()}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    do_GET = do_POST = do_PUT = do_HEAD = _answer


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["http/1.1"])
    server = ThreadingHTTPServer(("127.0.0.1", args.port), Handler)
    server.socket = ctx.wrap_socket(server.socket, server_side=True)
    server.serve_forever()


if __name__ == "__main__":
    main()

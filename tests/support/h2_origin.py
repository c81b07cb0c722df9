"""An HTTP/2-only TLS origin built on the ``h2`` library, for the h2-upstream tests.

    python tests/support/h2_origin.py --port P --cert CHAIN --key KEY

ALPN offers ``h2`` only. One thread per connection. Paths:

* ``/echo`` (any method): answers when the request ended, with a JSON body naming what arrived
  (the connection's number, the stream id, method, authority, path, fields, body length and
  SHA-256, the request's trailers) and the response trailer ``x-origin-trailer: done``.
* ``/reset``: RST_STREAM INTERNAL_ERROR before any response.
* ``/refuse``: RST_STREAM REFUSED_STREAM before any response.
* ``/truncate``: the response's HEADERS and 1000 bytes, then RST_STREAM INTERNAL_ERROR.
* ``/goaway``: GOAWAY (NO_ERROR, last stream id 0: nothing was processed), then the socket closes.
* ``/hold``: never answered (the client's RST_STREAM is what the test waits for).

``/echo`` also lists the RST_STREAMs the connection received so far (``resets``: stream id, code).
"""

from __future__ import annotations

import argparse
import hashlib
import itertools
import json
import socket
import ssl
import threading
from typing import Any

import h2.config
import h2.connection
import h2.errors
import h2.events

COUNTER = itertools.count(1)


def serve(tls: ssl.SSLSocket) -> None:
    number = next(COUNTER)
    conn = h2.connection.H2Connection(h2.config.H2Configuration(client_side=False, header_encoding=None))
    conn.initiate_connection()
    tls.sendall(conn.data_to_send())
    streams: dict[int, dict[str, Any]] = {}
    resets: list[tuple[int, int]] = []
    with tls:
        for _ in range(100_000):  # bounded
            try:
                data = tls.recv(65536)
            except (OSError, ssl.SSLError):
                return
            if not data:
                return
            for event in conn.receive_data(data):
                if isinstance(event, h2.events.RequestReceived):
                    fields = {k.decode(): v.decode() for k, v in event.headers or []}
                    streams[event.stream_id] = {"fields": fields, "body": b"", "trailers": {}}
                    path = fields.get(":path", "")
                    if path == "/reset":
                        conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                    elif path == "/refuse":
                        conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.REFUSED_STREAM)
                    elif path == "/truncate":
                        conn.send_headers(event.stream_id, [(b":status", b"200"), (b"content-length", b"5000")])
                        conn.send_data(event.stream_id, b"x" * 1000)
                        conn.reset_stream(event.stream_id, h2.errors.ErrorCodes.INTERNAL_ERROR)
                    elif path == "/goaway":
                        conn.close_connection(h2.errors.ErrorCodes.NO_ERROR, last_stream_id=0)
                        tls.sendall(conn.data_to_send())
                        return
                elif isinstance(event, h2.events.DataReceived):
                    if event.stream_id in streams:
                        streams[event.stream_id]["body"] += event.data or b""
                    conn.acknowledge_received_data(event.flow_controlled_length or 0, event.stream_id or 0)
                elif isinstance(event, h2.events.TrailersReceived):
                    streams[event.stream_id]["trailers"] = {k.decode(): v.decode() for k, v in event.headers or []}
                elif isinstance(event, h2.events.StreamReset):
                    resets.append((event.stream_id or 0, int(event.error_code or 0)))
                    streams.pop(event.stream_id or 0, None)
                elif isinstance(event, h2.events.StreamEnded) and event.stream_id in streams:
                    _answer(conn, number, event.stream_id, streams.pop(event.stream_id), resets)
            tls.sendall(conn.data_to_send())


def _answer(conn: h2.connection.H2Connection, number: int, sid: int, seen: dict[str, Any],
            resets: list[tuple[int, int]]) -> None:
    fields = seen["fields"]
    if fields.get(":path", "").split("?")[0] != "/echo":
        return
    body = json.dumps({
        "connection": number, "stream": sid, "method": fields.get(":method"), "authority": fields.get(":authority"),
        "path": fields.get(":path"), "fields": {k: v for k, v in fields.items() if not k.startswith(":")},
        "body_len": len(seen["body"]), "body_sha256": hashlib.sha256(seen["body"]).hexdigest(),
        "trailers": seen["trailers"], "resets": resets,
    }).encode()
    conn.send_headers(sid, [(b":status", b"200"), (b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())])
    conn.send_data(sid, body)  # small: within the initial windows
    conn.send_headers(sid, [(b"x-origin-trailer", b"done")], end_stream=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--cert", required=True)
    parser.add_argument("--key", required=True)
    args = parser.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(args.cert, args.key)
    ctx.set_alpn_protocols(["h2"])
    with socket.create_server(("127.0.0.1", args.port)) as server:
        while True:
            sock, _ = server.accept()
            try:
                tls = ctx.wrap_socket(sock, server_side=True)
            except (OSError, ssl.SSLError):
                sock.close()
                continue
            threading.Thread(target=serve, args=(tls,), daemon=True).start()


if __name__ == "__main__":
    main()

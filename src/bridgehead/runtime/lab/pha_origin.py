"""A small HTTPS origin in Python's ``ssl`` asking for a client certificate by TLS 1.3
post-handshake authentication (RFC 8446 §4.6.2) on one path — what nginx and Apache cannot do.

    python -m bridgehead.runtime.lab.pha_origin --port P --cert C --key K --client-ca CA --pha-path /secure

Every request gets ``200`` and a JSON body naming the client certificate subject (or null); a
request for the PHA path gets 403 when no certificate arrives within 1.5 s.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading
from typing import Any


def _subject(cert: dict[str, Any] | None) -> str | None:
    if not cert:
        return None
    return ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)


def _read_head(conn: ssl.SSLSocket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        if len(buf) > 65536:
            return b""
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        buf += chunk
    return buf


def _handle(conn: ssl.SSLSocket, pha_path: str) -> None:
    try:
        conn.settimeout(30)
        while True:
            head = _read_head(conn)
            if not head:
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            status = 200
            if path.startswith(pha_path):
                conn.verify_client_post_handshake()
                conn.do_handshake()  # sends the CertificateRequest
                conn.settimeout(1.5)
                try:
                    conn.recv(65536)  # processes the client's Certificate + Finished
                except (TimeoutError, ssl.SSLError):
                    pass
                conn.settimeout(30)
                status = 200 if conn.getpeercert() else 403
            body = json.dumps({"path": path, "client_cert": _subject(conn.getpeercert())}).encode()
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--client-ca", required=True)
    p.add_argument("--pha-path", default="/secure")
    a = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    ctx.load_cert_chain(a.cert, a.key)
    ctx.load_verify_locations(a.client_ca)
    ctx.post_handshake_auth = True
    ctx.verify_mode = ssl.CERT_OPTIONAL
    srv = socket.create_server(("127.0.0.1", a.port))
    while True:
        raw, _ = srv.accept()
        raw.settimeout(10)
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=_handle, args=(conn, a.pha_path), daemon=True).start()


if __name__ == "__main__":
    main()

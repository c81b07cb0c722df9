"""A small HTTPS origin in Python's ``ssl`` asking for a client certificate by TLS 1.3
post-handshake authentication (RFC 8446 §4.6.2) on one path — what nginx and Apache cannot do.

    python -m bridgehead.runtime.lab.pha_origin --port P --cert C --key K --client-ca CA --pha-path /secure
        [--verify none|optional|required] [--min-tls 1.2|1.3] [--max-tls 1.2|1.3]

Every request gets ``200`` and a JSON body naming the path, the client certificate subject (or
null) and the TLS version; a request for the PHA path gets 403 when no certificate arrives within
1.5 s. Without a PHA path the handshake asks for a certificate per ``--verify``. The test suite's
origin (``tests/support/tls_server.py``) is this one with other defaults (:func:`main`'s arguments).
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading
from collections.abc import Sequence
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


def _handle(conn: ssl.SSLSocket, pha_path: str | None) -> None:
    try:
        conn.settimeout(30)
        while True:
            head = _read_head(conn)
            if not head:
                return
            parts = head.split(b"\r\n", 1)[0].decode("latin-1").split(" ")
            path = parts[1] if len(parts) > 1 else "/"
            status = 200
            if pha_path and path.startswith(pha_path):
                conn.verify_client_post_handshake()
                conn.do_handshake()  # sends the CertificateRequest
                conn.settimeout(1.5)
                try:
                    conn.recv(65536)  # processes the client's Certificate + Finished
                except (TimeoutError, ssl.SSLError):
                    pass
                conn.settimeout(30)
                status = 200 if conn.getpeercert() else 403
            body = json.dumps({"path": path, "client_cert": _subject(conn.getpeercert()),
                               "version": conn.version()}).encode()
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}
_VERIFY = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL, "required": ssl.CERT_REQUIRED}


def main(argv: Sequence[str] | None = None, *, pha_path: str | None = "/secure", min_tls: str = "1.3") -> None:
    """Serve until killed; ``pha_path`` and ``min_tls`` are the defaults of ``--pha-path`` and ``--min-tls``."""
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--client-ca")
    p.add_argument("--verify", default="none", choices=sorted(_VERIFY))
    p.add_argument("--min-tls", default=min_tls, choices=sorted(_VERSIONS))
    p.add_argument("--max-tls", default="1.3", choices=sorted(_VERSIONS))
    p.add_argument("--pha-path", default=pha_path)
    a = p.parse_args(argv)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.minimum_version = _VERSIONS[a.min_tls]
    ctx.maximum_version = _VERSIONS[a.max_tls]
    ctx.load_cert_chain(a.cert, a.key)
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
    if a.pha_path:
        ctx.post_handshake_auth = True
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = _VERIFY[a.verify]
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

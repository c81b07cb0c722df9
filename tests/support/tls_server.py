"""A small HTTPS origin in Python's ``ssl`` for behaviours nginx/Apache cannot produce.

    python tls_server.py --port P --cert C --key K [--client-ca CA --verify optional|required]
                         [--max-tls 1.2|1.3] [--pha-path /secure]

Answers every request with ``200`` and a JSON body naming the client certificate subject
(or null). With ``--pha-path``, a TLS 1.3 request for that path triggers post-handshake
authentication (RFC 8446 §4.6.2) and gets 403 if no certificate arrives.
"""

from __future__ import annotations

import argparse
import json
import socket
import ssl
import threading


def subject(cert: dict | None) -> str | None:
    if not cert:
        return None
    return ",".join(f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn)


def read_head(conn: ssl.SSLSocket) -> bytes:
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        buf += chunk
    return buf


def handle(conn: ssl.SSLSocket, pha_path: str | None) -> None:
    try:
        while True:
            head = read_head(conn)
            if not head:
                return
            line = head.split(b"\r\n", 1)[0].decode()
            path = line.split(" ")[1]
            status = 200
            if pha_path and path.startswith(pha_path):
                conn.verify_client_post_handshake()
                conn.do_handshake()  # sends the CertificateRequest
                conn.settimeout(1.5)
                try:
                    conn.recv(65536)  # processes the client's Certificate + Finished
                except TimeoutError:
                    pass
                conn.settimeout(None)
                status = 200 if conn.getpeercert() else 403
            body = json.dumps({"path": path, "client_cert": subject(conn.getpeercert()),
                               "version": conn.version()}).encode()
            conn.sendall(f"HTTP/1.1 {status} X\r\nContent-Type: application/json\r\n"
                         f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
    except (OSError, ssl.SSLError):
        pass
    finally:
        conn.close()


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--cert", required=True)
    p.add_argument("--key", required=True)
    p.add_argument("--client-ca")
    p.add_argument("--verify", default="none", choices=["none", "optional", "required"])
    p.add_argument("--max-tls", default="1.3", choices=["1.2", "1.3"])
    p.add_argument("--pha-path")
    a = p.parse_args()
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(a.cert, a.key)
    if a.max_tls == "1.2":
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    if a.client_ca:
        ctx.load_verify_locations(a.client_ca)
    if a.pha_path:
        ctx.post_handshake_auth = True
        ctx.verify_mode = ssl.CERT_OPTIONAL
    else:
        ctx.verify_mode = {"none": ssl.CERT_NONE, "optional": ssl.CERT_OPTIONAL,
                           "required": ssl.CERT_REQUIRED}[a.verify]
    srv = socket.create_server(("127.0.0.1", a.port))
    while True:
        raw, _ = srv.accept()
        try:
            conn = ctx.wrap_socket(raw, server_side=True)
        except (OSError, ssl.SSLError):
            raw.close()
            continue
        threading.Thread(target=handle, args=(conn, a.pha_path), daemon=True).start()


if __name__ == "__main__":
    main()

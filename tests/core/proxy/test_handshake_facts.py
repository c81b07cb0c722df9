"""ServerFacts (core/proxy/handshake.py) fed with the messages OpenSSL really sends.

A client and a server ``ssl`` engine talk over memory BIOs (no sockets): the client context's
message callback hands the server's messages to a :class:`ServerFacts`, exactly as the proxies'
upstream connections do. TLS 1.2 and 1.3, with and without a CertificateRequest in the handshake,
TLS 1.3 post-handshake authentication (RFC 8446 §4.6.2) after it, and hand-made messages for
what OpenSSL will not send on request (a HelloRequest, a malformed Certificate).
"""

from __future__ import annotations

import ssl
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from bridgehead.core.proxy.handshake import CERTIFICATE, HANDSHAKE, HELLO_REQUEST, TLS13, ServerFacts
from bridgehead.runtime.tls import install_message_callback
from tests.support.pki import TestCA


def pair(tmp_path: Path, version: ssl.TLSVersion, *, ask: bool, later: bool = False
         ) -> tuple[ssl.SSLObject, ssl.SSLObject, ServerFacts, list[bytes], ssl.MemoryBIO, ssl.MemoryBIO]:
    """A finished handshake: client, server, the client's facts, the chain's DER, the client's
    incoming and the server's outgoing BIO."""
    root = TestCA.create(tmp_path / "root", "facts root")
    inter = TestCA.create(tmp_path / "inter", "facts intermediate", parent=root)
    leaf = inter.issue("origin.test", dns=["origin.test"])
    server_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_ctx.minimum_version = server_ctx.maximum_version = version
    (tmp_path / "chain.pem").write_bytes(leaf.cert.read_bytes() + inter.cert.read_bytes())
    server_ctx.load_cert_chain(tmp_path / "chain.pem", leaf.key)
    if ask or later:
        server_ctx.verify_mode = ssl.CERT_OPTIONAL
        server_ctx.load_verify_locations(cafile=str(root.cert))
        server_ctx.post_handshake_auth = later  # then the request comes after the handshake, not in it
    client_ctx = ssl.create_default_context(cafile=str(root.cert))
    client_ctx.post_handshake_auth = True
    facts = ServerFacts()

    def seen(conn: object, direction: str, version: int, content_type: int, msg_type: int, data: bytes) -> None:
        if direction == "read":
            facts.message(int(version), int(content_type), int(msg_type), data)

    install_message_callback(client_ctx, seen)
    ci, co, si, so = ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO(), ssl.MemoryBIO()
    client = client_ctx.wrap_bio(ci, co, server_hostname="origin.test")
    server = server_ctx.wrap_bio(si, so, server_side=True)
    for _ in range(6):
        for obj, out, into in ((client, co, si), (server, so, ci)):
            try:
                obj.do_handshake()
            except ssl.SSLWantReadError:
                pass
            into.write(out.read())
    client.do_handshake()
    ders = [x509.load_pem_x509_certificate(p.read_bytes()).public_bytes(Encoding.DER) for p in (leaf.cert, inter.cert)]
    return client, server, facts, ders, ci, so


@pytest.mark.parametrize("version", [ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3])
@pytest.mark.parametrize("ask", [True, False])
def test_a_certificate_request_in_the_handshake_and_the_whole_chain(tmp_path: Path, version: ssl.TLSVersion,
                                                                    ask: bool) -> None:
    client, _, facts, ders, _, _ = pair(tmp_path, version, ask=ask)
    assert client.version() == ("TLSv1.3" if version == ssl.TLSVersion.TLSv1_3 else "TLSv1.2")
    assert facts.cert_request_in_handshake is ask
    assert facts.server_chain == ders  # leaf and intermediate, as sent (ssl shows only the leaf)
    assert not facts.cert_request_after and not facts.late_request


def test_post_handshake_authentication_is_a_late_request(tmp_path: Path) -> None:
    client, server, facts, _, client_in, server_out = pair(tmp_path, ssl.TLSVersion.TLSv1_3, ask=False, later=True)
    assert not facts.cert_request_in_handshake
    facts.handshake_done = True  # what the runtime sets when its handshake returned
    server.verify_client_post_handshake()  # RFC 8446 §4.6.2: a CertificateRequest after the handshake
    server.write(b"x")
    client_in.write(server_out.read())  # the client reads the request with the next application data
    assert client.read(10) == b"x"
    assert facts.cert_request_after and facts.late_request and not facts.cert_request_in_handshake


def test_messages_openssl_will_not_send_on_request() -> None:
    facts = ServerFacts()
    facts.message(TLS13, HANDSHAKE, HELLO_REQUEST, b"\x00\x00\x00\x00")
    assert not facts.renegotiation  # during the handshake it is not a renegotiation
    facts.message(TLS13, HANDSHAKE, CERTIFICATE, b"\x0b\x00\x00\x02\x00\xff")  # malformed: ignored, no raise
    assert facts.server_chain == []
    facts.handshake_done = True
    facts.message(0x0303, HANDSHAKE, HELLO_REQUEST, b"\x00\x00\x00\x00")
    assert facts.renegotiation and facts.late_request
    facts.message(0x0303, 23, 13, b"")  # application data, whatever its first byte: not a handshake message
    assert not facts.cert_request_after

"""What a server's TLS messages showed on one upstream connection: one object of the core, sans-IO.

The runtime's message callback hands each handshake message the server sent to
:meth:`ServerFacts.message` (numbers and bytes, no ``ssl`` objects); the inspection layer and
both proxies read the facts from the connection's object instead of attributes on an SSL object:

* a CertificateRequest during the handshake (RFC 8446 §4.3.2, RFC 5246 §7.4.4) — the S1 decision
  (replay the ClientHello and splice) — or after it (post-handshake authentication, RFC 8446
  §4.6.2; a TLS 1.2 renegotiation's request): the request may not be answered inside inspection;
* a HelloRequest after the handshake (TLS 1.2 renegotiation, RFC 5246 §7.4.1.1);
* the certificate chain the server sent (RFC 8446 §4.4.2, RFC 5246 §7.4.2): Python's ``ssl``
  shows only the leaf, and the browser-grade checks of :mod:`bridgehead.core.server_cert` read
  the whole chain;

and what the runtime concluded about the connection: the handshake is done, it failed because
the server wants a certificate, a note for the access record (an OCSP soft failure).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from bridgehead.core.server_cert import certificates_from_handshake

HANDSHAKE = 22  # content type (RFC 8446 §5.1)
HELLO_REQUEST = 0  # handshake types (RFC 8446 §4, RFC 5246 §7.4)
CERTIFICATE = 11
CERTIFICATE_REQUEST = 13
TLS13 = 0x0304


@dataclass
class ServerFacts:
    handshake_done: bool = False
    server_chain: list[bytes] = field(default_factory=list)
    cert_request_in_handshake: bool = False
    cert_request_after: bool = False
    renegotiation: bool = False
    refused_without_cert: bool = False  # the handshake failed after the server asked for a certificate
    note: tuple[str, str] | None = None  # (code, detail) for the access record

    def message(self, version: int, content_type: int, msg_type: int, data: bytes) -> None:
        """One handshake message the server sent (``data`` with its 4-byte header)."""
        if content_type != HANDSHAKE:
            return
        if msg_type == CERTIFICATE and not self.handshake_done:
            try:
                self.server_chain = certificates_from_handshake(bytes(data[4:]), tls13=version == TLS13)
            except ValueError:
                pass  # a malformed chain: the handshake itself fails on it
        elif msg_type == CERTIFICATE_REQUEST:
            if self.handshake_done:
                self.cert_request_after = True
            else:
                self.cert_request_in_handshake = True
        elif msg_type == HELLO_REQUEST and self.handshake_done:
            self.renegotiation = True

    @property
    def late_request(self) -> bool:
        """The server asked for a certificate after the handshake, or to renegotiate."""
        return self.cert_request_after or self.renegotiation

"""Run the backend with uvicorn: TLS from ``runtime.tls``, per-connection auth state.

uvicorn's h11 protocol (one instance per accepted TCP connection) is subclassed: it creates a
:class:`~bridgehead.runtime.asgi_auth.ConnState` when the connection is made, passes it to every
request on that connection as ``scope["extensions"]["bridgehead.connection"]`` and closes it
when the connection is lost. NTLM/Negotiate state is therefore bound to the connection object,
never to the client's (ip, port), which a later connection may reuse.

The client certificate (``scope["bridgehead.peer_cert_subject"]``, which ASGI does not carry)
is read per request from the transport's ``ssl_object``, i.e. after the handshake has finished.
"""

from __future__ import annotations

import ssl
from typing import Any

import uvicorn
from cryptography import x509
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridgehead.runtime import tls
from bridgehead.runtime.asgi_auth import ConnState, attach_connection
from bridgehead.runtime.backend.app import build_app
from bridgehead.runtime.backend.config import BackendConfig

CLIENT_CERT_MODES = {"ignore": "none", "accept": "optional", "require": "required"}
PEER_SUBJECT_KEY = "bridgehead.peer_cert_subject"


def peer_subject(ssl_object: Any) -> str | None:
    """RFC 4514 subject of the certificate the client presented, or None."""
    if ssl_object is None:
        return None
    der = ssl_object.getpeercert(binary_form=True)
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).subject.rfc4514_string() or "(empty subject)"
    except ValueError:
        return "(unparsable certificate)"


class ConnectionProtocol(H11Protocol):
    """h11 with a per-connection :class:`ConnState` and the peer certificate in each scope."""

    bh_conn: ConnState

    def connection_made(self, transport: Any) -> None:
        self.bh_conn = ConnState()
        inner = self.app
        conn = self.bh_conn

        async def app(scope: Any, receive: Any, send: Any) -> None:
            attach_connection(scope, conn)
            subject = peer_subject(transport.get_extra_info("ssl_object"))
            if subject is not None:
                scope[PEER_SUBJECT_KEY] = subject
            await inner(scope, receive, send)

        self.app = app
        super().connection_made(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        self.bh_conn.close()
        super().connection_lost(exc)


def ssl_context(config: BackendConfig) -> ssl.SSLContext | None:
    if config.cert is None or config.key is None:
        return None
    mode = CLIENT_CERT_MODES[config.client_cert]
    cafiles = [config.client_ca] if config.client_ca else []
    return tls.server_context(config.cert, config.key, client_cafiles=cafiles, client_cert=mode,
                              alpn=["http/1.1"])


def build_server(config: BackendConfig, log_level: str = "warning") -> uvicorn.Server:
    app = build_app(config)
    context = ssl_context(config)
    kwargs: dict[str, Any] = {}
    if context is not None:
        kwargs["ssl_context_factory"] = lambda _config, _default: context
    uv_config = uvicorn.Config(app, host=config.host, port=config.port, http=ConnectionProtocol,
                               log_level=log_level, access_log=False, lifespan="off", **kwargs)
    return uvicorn.Server(uv_config)

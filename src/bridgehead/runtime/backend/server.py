"""Run the backend with uvicorn: TLS from ``runtime.tls``, per-connection tracking.

uvicorn's h11 protocol is subclassed so that the auth middleware learns when a connection
closes (its NTLM state is dropped then) and the app can see the client certificate
(``scope["bridgehead.peer_cert_subject"]``), which ASGI does not carry.
"""

from __future__ import annotations

import asyncio
import ssl
from typing import Any

import uvicorn
from uvicorn.protocols.http.h11_impl import H11Protocol

from bridgehead.runtime import tls
from bridgehead.runtime.asgi_auth import ConnectionRegistry
from bridgehead.runtime.backend.app import build_app
from bridgehead.runtime.backend.config import BackendConfig

CLIENT_CERT_MODES = {"ignore": "none", "accept": "optional", "require": "required"}


class _PeerCerts:
    def __init__(self) -> None:
        self.by_client: dict[tuple[str, int], str] = {}


def _subject(ssl_object: Any) -> str | None:
    if ssl_object is None:
        return None
    cert = ssl_object.getpeercert()
    if not cert:
        return None
    parts = [f"{k}={v}" for rdn in cert.get("subject", ()) for k, v in rdn]
    return ", ".join(parts) or "(empty subject)"


def make_protocol(connections: ConnectionRegistry, peers: _PeerCerts) -> type[asyncio.Protocol]:
    class TrackingProtocol(H11Protocol):
        def connection_made(self, transport: Any) -> None:  # type: ignore[override]
            super().connection_made(transport)
            if self.client is not None:
                subject = _subject(transport.get_extra_info("ssl_object"))
                if subject:
                    peers.by_client[self.client] = subject

        def connection_lost(self, exc: Exception | None) -> None:
            if self.client is not None:
                connections.closed(self.client)
                peers.by_client.pop(self.client, None)
            super().connection_lost(exc)

    return TrackingProtocol


def ssl_context(config: BackendConfig) -> ssl.SSLContext | None:
    if config.cert is None or config.key is None:
        return None
    mode = CLIENT_CERT_MODES[config.client_cert]
    cafiles = [config.client_ca] if config.client_ca else []
    return tls.server_context(config.cert, config.key, client_cafiles=cafiles, client_cert=mode,
                              alpn=["http/1.1"])


def build_server(config: BackendConfig, log_level: str = "warning") -> uvicorn.Server:
    connections = ConnectionRegistry()
    peers = _PeerCerts()
    app = build_app(config, connections)

    async def with_peer(scope: Any, receive: Any, send: Any) -> None:
        client = scope.get("client")
        if client is not None and tuple(client) in peers.by_client:
            scope["bridgehead.peer_cert_subject"] = peers.by_client[tuple(client)]
        await app(scope, receive, send)

    context = ssl_context(config)
    kwargs: dict[str, Any] = {}
    if context is not None:
        kwargs["ssl_context_factory"] = lambda _config, _default: context
    protocol = make_protocol(connections, peers)
    uv_config = uvicorn.Config(with_peer, host=config.host, port=config.port, http=protocol,
                               log_level=log_level, access_log=False, lifespan="off", **kwargs)
    return uvicorn.Server(uv_config)
